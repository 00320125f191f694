"""nslock: the lock table of an nslock server, from Python.

    import nslock
    c = nslock.connect(namespace="BETA")
    token = c.lock("^AppStateData", "NightlyBatch", timeout=0)
    with c.locked("^Orders", 15, shared=True, timeout=5) as token:
        ...
    c.unlock("^AppStateData", "NightlyBatch")

Built on libnslock through ctypes: the protocol, restart recovery and the
canonical rules live in the C library. See docs/PYTHON.md.
"""
from .client import (Cluster, Connection, Entry, Held, Resolution, Stats, connect,  # noqa: F401
                     default_socket)
from .errors import (Cancelled, Command, Conflict, Deadlock, Disconnected, Error,  # noqa: F401
                     InvalidArgument, Limit, LockTimeout, Lost, NotFound, OutOfMemory,
                     Protect, ProtocolError, Shutdown, Standby, Subscript, Syntax, Timeout,
                     UnknownCode, UnknownNamespace)
from .names import name_text, subscript_text  # noqa: F401

__version__ = "0.1.0"
