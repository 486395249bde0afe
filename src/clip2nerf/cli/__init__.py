"""The command-line interface. It only wires the stage packages together."""
