"""Errors the actors raise to tell Dramatiq what to do with a message."""


class PermanentError(Exception):
    """Retrying cannot help (the event itself is wrong): dead-letter it at once."""
