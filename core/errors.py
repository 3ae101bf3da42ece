"""The one exception type the user interface turns into a clear message."""


class RotoshotError(Exception):
    """Bad input or an unusable file, with a message meant for the user (one line, no traceback)."""
