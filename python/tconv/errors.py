"""Python exceptions for the library's status codes.

Every failing C call raises a TconvError subclass whose message is the library's own detailed
message (tconv_last_error(), read on the calling thread right after the call).  Each subclass also
derives from the built-in exception a Python user would expect to catch: an invalid argument is
a ValueError, a missing file an OSError, an unsupported format NotImplementedError, and so on.
"""

from . import _lib


class TconvError(Exception):
    """A libtconv call failed.  status: the tconv_status number; status_name: its short text
    ("invalid argument"); message: the library's detailed message."""

    def __init__(self, status, status_name, message, what=None):
        self.status = status
        self.status_name = status_name
        self.message = message
        text = message or status_name
        if what:
            text = "%s: %s" % (what, text)
        super().__init__(text)


class InvalidArgumentError(TconvError, ValueError):
    pass


class InvalidStateError(TconvError, RuntimeError):
    pass


class OutOfMemoryError(TconvError, MemoryError):
    pass


class UnsupportedError(TconvError, NotImplementedError):
    pass


class TconvIOError(TconvError, OSError):
    pass


class BadFileError(TconvError, ValueError):
    pass


class NotFoundError(TconvError, LookupError):
    pass


class AlreadyExistsError(TconvError, ValueError):
    pass


class LimitExceededError(TconvError, ValueError):
    pass


class ShapeMismatchError(TconvError, ValueError):
    pass


_BY_STATUS = {
    _lib.INVALID_ARGUMENT: InvalidArgumentError,
    _lib.INVALID_STATE: InvalidStateError,
    _lib.OUT_OF_MEMORY: OutOfMemoryError,
    _lib.UNSUPPORTED: UnsupportedError,
    _lib.IO_ERROR: TconvIOError,
    _lib.BAD_FILE: BadFileError,
    _lib.NOT_FOUND: NotFoundError,
    _lib.ALREADY_EXISTS: AlreadyExistsError,
    _lib.LIMIT_EXCEEDED: LimitExceededError,
    _lib.SHAPE_MISMATCH: ShapeMismatchError,
}


def check(lib, status, what=None):
    """Raises the matching TconvError when status is not TCONV_OK."""
    if status == _lib.OK:
        return
    message = lib.tconv_last_error().decode("utf-8", "replace")
    name = lib.tconv_status_string(status).decode("utf-8", "replace")
    raise _BY_STATUS.get(status, TconvError)(status, name, message, what)
