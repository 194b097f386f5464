"""Errors genlab raises: one base class and a few kinds a user can catch."""

__all__ = [
    "DataError",
    "GenlabError",
    "ModelFileError",
    "NotFittedError",
    "ParameterError",
    "UnsupportedOperation",
]


class GenlabError(Exception):
    """Base class of every error genlab raises on purpose; its message is one line."""


class DataError(GenlabError, ValueError):
    """The data given cannot be read or does not fit what the model expects."""


class ParameterError(GenlabError, ValueError, TypeError):
    """A hyperparameter or argument has a wrong value or type."""


class ModelFileError(GenlabError, ValueError):
    """A file is not a valid genlab model file (corrupt, tampered, unsafe or too new)."""


class NotFittedError(GenlabError, AttributeError):
    """A method that needs a fitted model was called before `fit`."""


class UnsupportedOperation(GenlabError, NotImplementedError):
    """The model family cannot do this operation; the message names families that can."""
