"""Larder's exceptions: one class per engine error code, all subclasses of LarderError.

Every error the engine reports is raised as the class named after its code (the engine's
``ErrorCodeName``: ``FeatureViewNotFound``, ``PushSourceNotFound``, ...), carrying the engine's
message. ``e.code`` is the code's name, ``e.code_number`` its stable number, ``e.message`` the
text. The classes also derive from the matching built-in exception where there is one (a
``ValueError`` for bad arguments, a ``LookupError`` for unknown names), so generic handlers work.
Feast's exception names are aliases of the matching classes (``FeatureViewNotFoundException`` is
``FeatureViewNotFound``, ...).
"""

from . import _larder

__all__ = [
    "LarderError",
    "InvalidArgument",
    "ConfigError",
    "FeatureViewNotFound",
    "FeatureNotFound",
    "FeatureServiceNotFound",
    "PushSourceNotFound",
    "MissingJoinKey",
    "StoreNotFound",
    "CorruptStore",
    "IncompatibleStore",
    "StoreFull",
    "IoError",
    "Busy",
    "Unsupported",
    "Internal",
    "DataSourceNotFound",
    "DataSourceError",
]


class LarderError(Exception):
    """Base class of every error Larder raises.

    Attributes: ``code`` (the engine's error code name), ``code_number``, ``message``.
    """

    code = "Unknown"
    code_number = -1

    def __init__(self, message="", code=None):
        super().__init__(message)
        self.message = message
        if code is not None and code != type(self).code:
            self.code = code

    def __reduce__(self):
        return (type(self), (self.message, self.code))


class InvalidArgument(LarderError, ValueError):
    """A malformed request, a value of the wrong type, a bad value (HTTP 400)."""
    code, code_number = "InvalidArgument", 1


class ConfigError(LarderError, ValueError):
    """feature_store.yaml is invalid; the message names the file, line and column."""
    code, code_number = "ConfigError", 2


class FeatureViewNotFound(LarderError, LookupError):
    code, code_number = "FeatureViewNotFound", 3


class FeatureNotFound(LarderError, LookupError):
    code, code_number = "FeatureNotFound", 4


class FeatureServiceNotFound(LarderError, LookupError):
    code, code_number = "FeatureServiceNotFound", 5


class PushSourceNotFound(LarderError, LookupError):
    code, code_number = "PushSourceNotFound", 6


class MissingJoinKey(LarderError, ValueError):
    """The entity rows lack a join key a requested feature view needs."""
    code, code_number = "MissingJoinKey", 7


class StoreNotFound(LarderError):
    """No segment at the path: run ``larder apply`` (or ``FeatureStore.apply()``)."""
    code, code_number = "StoreNotFound", 8


class CorruptStore(LarderError):
    code, code_number = "CorruptStore", 9


class IncompatibleStore(LarderError):
    """A foreign file, or a segment of another layout version."""
    code, code_number = "IncompatibleStore", 10


class StoreFull(LarderError):
    """The segment's memory_limit is reached; nothing was written."""
    code, code_number = "StoreFull", 11


class IoError(LarderError):
    code, code_number = "IoError", 12


class Busy(LarderError):
    """A lock or a reader slot could not be had in time."""
    code, code_number = "Busy", 13


class Unsupported(LarderError, NotImplementedError):
    """Not implemented in this version."""
    code, code_number = "Unsupported", 14


class Internal(LarderError):
    """A bug in Larder: please report it."""
    code, code_number = "Internal", 15


class DataSourceNotFound(LarderError, LookupError):
    code, code_number = "DataSourceNotFound", 16


class DataSourceError(LarderError):
    code, code_number = "DataSourceError", 17


# Feast's names for the same errors (feast.errors), so that a model server's
# ``except FeatureViewNotFoundException`` keeps working after switching its import.
FeatureViewNotFoundException = FeatureViewNotFound
FeatureServiceNotFoundException = FeatureServiceNotFound
PushSourceNotFoundException = PushSourceNotFound
DataSourceNotFoundException = DataSourceNotFound
__all__ += ["FeatureViewNotFoundException", "FeatureServiceNotFoundException",
            "PushSourceNotFoundException", "DataSourceNotFoundException"]


def _register():
    by_number = {}
    for number, name in _larder.error_codes():
        cls = globals().get(name)
        if not (isinstance(cls, type) and issubclass(cls, LarderError)):
            # A code newer than this file: still raised as its own LarderError subclass.
            cls = type(name, (LarderError,), {"code": name, "code_number": number,
                                              "__module__": __name__})
            globals()[name] = cls
            __all__.append(name)
        by_number[number] = cls
    _larder._register_errors(LarderError, by_number)


_register()
