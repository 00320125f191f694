"""One exception class per error code, all under :class:`nslock.Error`."""
from __future__ import annotations

from typing import Dict, Type


class Error(Exception):
    """Any nslock error. ``code`` is the library's numeric code, ``name``
    its stable name (``"DEADLOCK"``), ``message`` the server's or the
    library's words."""

    def __init__(self, message: str, code: int = 0, name: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    def __str__(self) -> str:
        return "%s: %s" % (self.name, self.message) if self.name else self.message


class Syntax(Error):
    """The request or the lock name is malformed."""


class UnknownNamespace(Error):
    """An unknown namespace, extended reference or directory."""


class Subscript(Error):
    """A lock name beyond the limits (31 subscripts, 511 encoded bytes)."""


class Command(Error):
    """A well-formed request that is not allowed."""


class Deadlock(Error):
    """The request was chosen to break a deadlock; nothing was taken."""


class Protect(Error, PermissionError):
    """Not permitted (another owner's locks, or the server's uid)."""


class Limit(Error):
    """A limit of the server was exceeded."""


class Shutdown(Error):
    """The server is stopping."""


class NotFound(Error):
    """Nothing matched."""


class Lost(Error):
    """The session's locks were lost (restart recovery failed, or an
    administrator removed them). Calls keep raising it until
    :meth:`Connection.lost_clear`."""


class Conflict(Error):
    """Another session reclaimed a conflicting lock."""


class Standby(Error):
    """This server is a standby; the leader is elsewhere."""


class UnknownCode(Error):
    """An error code this library does not know."""


class Disconnected(Error, ConnectionError):
    """The connection failed or was lost."""


class Timeout(Error, TimeoutError):
    """The server did not answer within the timeout plus the grace period."""


class ProtocolError(Error):
    """The server's answer does not follow the protocol."""


class InvalidArgument(Error, ValueError):
    """An invalid argument to a library call."""


class OutOfMemory(Error, MemoryError):
    """The library ran out of memory."""


class Cancelled(Error):
    """A waiting request was cancelled (by KeyboardInterrupt, say)."""


class LockTimeout(Error, TimeoutError):
    """The lock was not granted within its timeout (``$TEST`` is 0).
    Nothing was taken: a lock of several names is all or nothing."""


BY_NAME: Dict[str, Type[Error]] = {
    "SYNTAX": Syntax, "NAMESPACE": UnknownNamespace, "SUBSCRIPT": Subscript,
    "COMMAND": Command, "DEADLOCK": Deadlock, "PROTECT": Protect, "LIMIT": Limit,
    "SHUTDOWN": Shutdown, "NOTFOUND": NotFound, "LOST": Lost, "CONFLICT": Conflict,
    "STANDBY": Standby, "UNKNOWN": UnknownCode, "IO": Disconnected, "TIMEOUT": Timeout,
    "PROTOCOL": ProtocolError, "ARGUMENT": InvalidArgument, "NOMEM": OutOfMemory,
    "CANCELLED": Cancelled,
}


def from_code(code: int, name: str, message: str) -> Error:
    return BY_NAME.get(name, Error)(message, code, name)
