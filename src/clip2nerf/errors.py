"""Errors that are the user's to fix (bad option, bad file) rather than bugs."""


class UserError(Exception):
    """A problem with the user's input. The CLI prints it as one line and exits 2.

    The message must name the bad input (option, file, object id) and say what to do.
    """
