import subprocess
import sys

from clip2nerf.cli.main import SUBCOMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_unknown_command_is_one_line_error(capsys):
    assert main(["no-such-command"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "clip2nerf.cli.main", "--version"],
                         capture_output=True, text=True, check=True)
    assert "clip2nerf" in out.stdout
