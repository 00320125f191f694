"""The connection: one session of the lock table, over libnslock."""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from ctypes import byref, c_int, c_size_t, c_uint64, c_void_p
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from . import _lib
from .errors import Error, LockTimeout, from_code
from .names import Subscript, name_text

_LIB: Optional[ctypes.CDLL] = None
_LIB_LOCK = threading.Lock()


def _library() -> ctypes.CDLL:
    global _LIB
    with _LIB_LOCK:
        if _LIB is None:
            _LIB = _lib.load()
        return _LIB


def _text(b: Optional[bytes]) -> str:
    return b.decode("utf-8", "surrogateescape") if b else ""


def _raise(err: _lib.Error_) -> None:
    raise from_code(err.code, _text(err.name), _text(err.message))


@dataclass(frozen=True)
class Resolution:
    """One database a name lands in, and the rule that decided it."""
    database: str
    directory: str
    rule: str        # local, globals, map, subtree, namespace, implied
    mapping: str     # the mapping rule that decided, or ""


@dataclass(frozen=True)
class Entry:
    """One row of the lock table."""
    database: str
    directory: str
    owner: int
    pid: int
    client: str
    mode: str        # "Exclusive/2->Delock", "WaitShared", ...
    name: str        # canonical, without a namespace
    namespace: str
    since: str       # UTC, ISO 8601
    token: int       # 0 for a waiting row
    waiting: bool
    blockers: str    # a waiting row's blocking owners "3,5", or why it waits


@dataclass(frozen=True)
class Held:
    """A lock the session holds, as the library mirrors it."""
    namespace: str
    name: str
    exclusive: int
    exclusive_e: int
    shared: int
    shared_e: int
    token: int


@dataclass(frozen=True)
class Cluster:
    """CLUSTER: ``role`` is "alone", "leader", "standby" or "electing";
    ``epoch`` the leader's (0 on a standby); ``leader`` its "host:port" or
    ""; ``zookeeper`` the ZooKeeper session's state ("-" alone)."""
    role: str
    epoch: int
    leader: str
    zookeeper: str


@dataclass(frozen=True)
class Stats:
    """The server's counters (``counters`` has every one it sent)."""
    entries: int = 0
    max_entries: int = 0
    sessions: int = 0
    waiters: int = 0
    grants: int = 0
    deadlocks: int = 0
    timeouts: int = 0
    epoch: int = 0
    counters: Dict[str, int] = field(default_factory=dict)


def _types(shared: bool, escalating: bool, immediate: bool, deferred: bool) -> int:
    return ((_lib.SHARED if shared else 0) | (_lib.ESCALATING if escalating else 0)
            | (_lib.IMMEDIATE if immediate else 0) | (_lib.DEFERRED if deferred else 0))


def _timeout(timeout: Optional[float]) -> float:
    if timeout is None:
        return _lib.WAIT_FOREVER
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout: seconds as a number, or None to wait until granted")
    if timeout != timeout or timeout < 0:
        raise ValueError("timeout: %r; give seconds >= 0, or None to wait" % timeout)
    return float(timeout)


class Connection:
    """A session of the lock table. Everything it holds is released when it
    is closed (or its process exits). Use one connection per thread for
    concurrency; a connection shared by threads serialises their calls (a
    lock that waits holds the connection). After ``fork()`` the child must
    open its own connection: the parent's belongs to the parent."""

    def __init__(self, handle: c_void_p, lib: ctypes.CDLL) -> None:
        self._c = handle
        self._lib = lib
        self._pid = os.getpid()
        self._lost_cb = None
        self._can_cancel = hasattr(lib, "nslock_cancel")

    # ---- plumbing --------------------------------------------------------

    def _handle(self) -> c_void_p:
        if not self._c:
            raise Error("the connection is closed", 100, "IO")
        if os.getpid() != self._pid:
            raise Error("this connection belongs to process %d (inherited across fork):"
                        " open a new one" % self._pid, 103, "ARGUMENT")
        return self._c

    def _call(self, fn, *args) -> int:
        err = _lib.Error_()
        c = self._c
        if not c or self._pid != os.getpid():
            c = self._handle()   # raises the reason
        rc = fn(c, *args, err)
        if rc < 0:
            _raise(err)
        return rc

    # ---- the session -----------------------------------------------------

    def close(self) -> None:
        """Ends the session; the server releases everything it holds."""
        c, self._c = self._c, None
        if c and os.getpid() == self._pid:
            self._lib.nslock_close(c)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return not self._c

    @property
    def session_id(self) -> int:
        """The OWNER column of this session's rows."""
        return int(self._lib.nslock_session_id(self._handle()))

    @property
    def epoch(self) -> int:
        """The server's epoch; it changes when the server restarts."""
        return int(self._lib.nslock_epoch(self._handle()))

    def ping(self) -> None:
        """One round trip to the server."""
        self._call(self._lib.nslock_ping)

    def namespace(self, name: Optional[str] = None) -> Optional[str]:
        """Switches to namespace ``name`` (when given); returns the current
        one (None while it is the server's default)."""
        if name is not None:
            self._call(self._lib.nslock_namespace, name.encode())
        return _text(self._lib.nslock_current_namespace(self._handle())) or None

    # ---- locks -------------------------------------------------------------

    def lock(self, name: str, *subscripts: Subscript, shared: bool = False,
             escalating: bool = False, immediate: bool = False, deferred: bool = False,
             timeout: Optional[float] = None) -> int:
        """Takes one more count of the lock (``LOCK +``) and returns its
        fencing token. ``timeout`` in seconds (0: one attempt; None: wait
        until granted); not granted in time raises :class:`LockTimeout`.
        A wait interrupted by KeyboardInterrupt is cancelled: nothing is
        taken and the session keeps what it held."""
        text = name_text(name, *subscripts)
        types = (_types(shared, escalating, immediate, deferred)
                 if shared or escalating or immediate or deferred else 0)
        wait = _lib.WAIT_FOREVER if timeout is None else _timeout(timeout)
        out = _lib.Outcome()
        if wait == 0 or not self._can_cancel:
            self._call(self._lib.nslock_lock, text, types, wait, out)
        else:
            # One attempt first: the common grant costs one round trip and
            # no thread. Then the wait, in a thread the main one can cancel.
            self._call(self._lib.nslock_lock, text, types, 0.0, byref(out))
            if out.test != 1:
                self._wait_cancellable(text, types, wait, out)
        if out.test != 1:
            raise LockTimeout("%s not granted within %g seconds" % (_text(text), wait),
                              0, "")
        return int(out.token)

    def _wait_cancellable(self, text: bytes, types: int, wait: float,
                          out: _lib.Outcome) -> None:
        handle = self._handle()
        err = _lib.Error_()
        result = {}
        returned = threading.Event()   # not is_alive(): an interrupted join can leave it wrong

        def run() -> None:
            try:
                result["rc"] = self._lib.nslock_lock(handle, text, types, wait, byref(out),
                                                     byref(err))
            finally:
                returned.set()

        t = threading.Thread(target=run, name="nslock-wait", daemon=True)
        t.start()
        try:
            while not returned.wait(0.25):
                pass
        except BaseException:
            # A cancel sent before the request starts waiting is lost, so
            # keep sending until the call has returned.
            while not returned.wait(0.05):
                self._lib.nslock_cancel(handle)
            t.join()
            if result.get("rc", -1) == 0 and out.test == 1:
                # Granted before the cancel arrived: give back what this
                # call took, so that the session holds what it held.
                self._lib.nslock_unlock(handle, text, types, None)
            raise
        t.join()
        if result["rc"] < 0 and _text(err.name) != "CANCELLED":
            _raise(err)

    def unlock(self, name: str, *subscripts: Subscript, shared: bool = False,
               escalating: bool = False, immediate: bool = False,
               deferred: bool = False, wait: bool = True) -> None:
        """Removes one count of that type (``LOCK -``). Unlocking what is not
        held is not an error.

        ``wait=False`` sends the unlock and returns without its answer: the
        server releases the lock as soon as it reads it, and the answer is
        read with the next call's, so lock, work, unlock costs one round
        trip. Should the unlock fail, the next call raises its error (the
        message starts ``unlock of NAME:``) and does nothing else;
        :meth:`sync` waits for every answer owed."""
        types = (_types(shared, escalating, immediate, deferred)
                 if shared or escalating or immediate or deferred else 0)
        fn = self._lib.nslock_unlock if wait else self._lib.nslock_unlock_async
        self._call(fn, name_text(name, *subscripts), types)

    def sync(self) -> None:
        """Waits for the answers of the unlocks sent with ``wait=False``;
        raises the error of one that failed."""
        self._call(self._lib.nslock_sync)

    def unlock_all(self) -> None:
        """Releases everything the session holds (argumentless ``LOCK``)."""
        self._call(self._lib.nslock_unlock_all)

    @contextlib.contextmanager
    def locked(self, name: str, *subscripts: Subscript, shared: bool = False,
               escalating: bool = False, timeout: Optional[float] = None) -> Iterator[int]:
        """``with c.locked("^Orders", 15, timeout=5) as token:`` holds the
        lock for the block and releases it however the block ends."""
        token = self.lock(name, *subscripts, shared=shared, escalating=escalating,
                          timeout=timeout)
        try:
            yield token
        finally:
            if self._c:
                self.unlock(name, *subscripts, shared=shared, escalating=escalating)

    def execute(self, command: str) -> Optional[int]:
        """A LOCK command in the text form (``'LOCK +(^a(1),^b):2'``); returns
        ``$TEST`` (1 granted, 0 timed out), or None for a command that only
        released."""
        out = _lib.Outcome()
        self._call(self._lib.nslock_command, command.encode("utf-8", "surrogateescape"),
                   byref(out))
        return None if out.test < 0 else int(out.test)

    # ---- transactions ------------------------------------------------------

    def tstart(self) -> int:
        """TSTART; returns the transaction level."""
        level = c_int()
        self._call(self._lib.nslock_tstart, byref(level))
        return level.value

    def tcommit(self) -> int:
        """TCOMMIT one level; returns the level after it."""
        level = c_int()
        self._call(self._lib.nslock_tcommit, byref(level))
        return level.value

    def trollback(self, one_level: bool = False) -> int:
        """TROLLBACK (every level, or one); returns the level after it."""
        level = c_int()
        self._call(self._lib.nslock_trollback, 1 if one_level else 0, byref(level))
        return level.value

    @property
    def tlevel(self) -> int:
        return int(self._lib.nslock_tlevel(self._handle()))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[int]:
        """``with c.transaction():`` commits when the block succeeds and
        rolls back its level when it raises (the exception goes on)."""
        level = self.tstart()
        try:
            yield level
        except BaseException:
            if self._c:
                self.trollback(one_level=True)
            raise
        self.tcommit()

    # ---- reading the table -------------------------------------------------

    def resolve(self, name: str, *subscripts: Subscript) -> List[Resolution]:
        """The databases the name lands in, in the session's namespace."""
        rows = ctypes.POINTER(_lib.Resolution)()
        n = c_size_t()
        self._call(self._lib.nslock_resolve, name_text(name, *subscripts), byref(rows), byref(n))
        try:
            return [Resolution(_text(r.database), _text(r.directory), _text(r.rule),
                               _text(r.mapping)) for r in rows[:n.value]]
        finally:
            self._lib.nslock_free(rows)

    def show(self, database: Optional[str] = None, namespace: Optional[str] = None,
             owner: Optional[int] = None, pid: Optional[int] = None,
             prefix: Optional[str] = None, waiters: bool = True) -> List[Entry]:
        """The lock table (filtered), one row per entry."""
        f = _lib.ShowFilter(database.encode() if database else None,
                            namespace.encode() if namespace else None, owner or 0, pid or 0,
                            prefix.encode("utf-8", "surrogateescape") if prefix else None,
                            0 if waiters else 1)
        rows = ctypes.POINTER(_lib.Entry)()
        n = c_size_t()
        self._call(self._lib.nslock_show, byref(f), byref(rows), byref(n))
        try:
            return [Entry(_text(r.database), _text(r.directory), int(r.owner), int(r.pid),
                          _text(r.client), _text(r.mode), _text(r.name),
                          _text(r.namespace_name), _text(r.since), int(r.token),
                          bool(r.waiting), _text(r.blockers)) for r in rows[:n.value]]
        finally:
            self._lib.nslock_free(rows)

    def stats(self) -> Stats:
        """The server's counters."""
        items = ctypes.POINTER(_lib.Stat)()
        n = c_size_t()
        self._call(self._lib.nslock_stats_list, byref(items), byref(n))
        try:
            counters = {_text(s.key): int(s.value) for s in items[:n.value]}
        finally:
            self._lib.nslock_free(items)
        known = {k: counters.get(k, 0) for k in
                 ("entries", "max_entries", "sessions", "waiters", "grants", "deadlocks",
                  "timeouts", "epoch")}
        return Stats(counters=counters, **known)

    def cluster(self) -> Cluster:
        """The server's place in an HA cluster (``role`` "alone" without one)."""
        out = _lib.Cluster()
        self._call(self._lib.nslock_cluster_get, byref(out))
        return Cluster(role=_text(out.role), epoch=int(out.epoch), leader=_text(out.leader),
                       zookeeper=_text(out.zookeeper))

    def held(self) -> List[Held]:
        """What the session holds, as the library mirrors it."""
        rows = ctypes.POINTER(_lib.Held)()
        n = c_size_t()
        self._call(self._lib.nslock_held_list, byref(rows), byref(n))
        try:
            return [Held(_text(r.namespace_name), _text(r.name), r.count[0], r.count[1],
                         r.count[2], r.count[3], int(r.token)) for r in rows[:n.value]]
        finally:
            self._lib.nslock_free(rows)

    def remove(self, owner: Optional[int] = None, pid: Optional[int] = None,
               database: Optional[str] = None, name: Optional[str] = None) -> int:
        """REMOVE (admin): held entries matching every criterion given;
        returns how many. Raises NotFound when nothing matched."""
        if owner is None and pid is None and database is None and name is None:
            raise ValueError("remove: give at least one of owner, pid, database, name")
        f = _lib.RemoveFilter(owner or 0, pid or 0, database.encode() if database else None,
                              name.encode("utf-8", "surrogateescape") if name else None)
        removed = c_uint64()
        self._call(self._lib.nslock_remove, byref(f), byref(removed))
        return int(removed.value)

    # ---- restart recovery --------------------------------------------------

    def on_lost(self, fn: Optional[Callable[[Error], None]]) -> None:
        """``fn(error)`` is called once when the session's locks are lost
        (from the library's thread: it must not call into this connection).
        Afterwards every call raises :class:`Lost` until :meth:`lost_clear`."""
        if fn is None:
            self._lost_cb = None
            self._lib.nslock_on_lost(self._handle(), _lib.LOST_FN(), None)
            return

        def trampoline(_c, why, _arg):
            e = why.contents
            try:
                fn(from_code(e.code, _text(e.name), _text(e.message)))
            except Exception:   # an exception cannot cross into C
                pass

        self._lost_cb = _lib.LOST_FN(trampoline)   # kept alive with the connection
        self._lib.nslock_on_lost(self._handle(), self._lost_cb, None)

    @property
    def lost(self) -> bool:
        return bool(self._lib.nslock_is_lost(self._handle()))

    def lost_clear(self) -> bool:
        """Acknowledges a loss; the session then holds nothing and works
        again. True if there was a loss to acknowledge."""
        return bool(self._lib.nslock_lost_clear(self._handle()))


def default_socket() -> str:
    """The socket path a connection uses when given none."""
    buf = ctypes.create_string_buffer(4096)
    if _library().nslock_default_socket(buf, len(buf)) < 0:
        raise Error("the default socket path is too long", 103, "ARGUMENT")
    return _text(buf.value)


def connect(socket: Optional[str] = None, *, host: Optional[str] = None,
            servers: Optional[Sequence[str]] = None,
            token: Optional[str] = None, token_file: Optional[str] = None,
            namespace: Optional[str] = None, client_name: Optional[str] = None,
            grace: Optional[float] = None, recovery: bool = True) -> Connection:
    """Opens a session: on the Unix socket ``socket`` (default:
    ``$NSLOCK_SOCKET``, else the per-user default), or over TCP to
    ``host`` ("host:port") or to the leader among ``servers`` (the
    "host:port" of each server of an HA cluster; after a failover the
    session reclaims its locks at the next leader), with the server's token
    (``token``, or read from ``token_file``, which anybody may not read).
    Given none of these, ``$NSLOCK_SERVERS`` and ``$NSLOCK_TOKEN_FILE``
    choose TCP before the default socket. ``namespace`` switches namespace at once;
    ``client_name`` shows in the CLIENT column; ``grace`` is how long past
    a request's own timeout to wait for its answer (default 10 s);
    ``recovery=False`` turns a lost connection into an error instead of
    reconnecting and reclaiming."""
    lib = _library()
    if client_name is None:
        client_name = "python"
    if servers is not None and (isinstance(servers, str) or not servers):
        raise Error("servers wants a list of 'host:port' strings", 103, "ARGUMENT")
    opts = _lib.Options(socket.encode() if socket else None, host.encode() if host else None,
                        token.encode() if token else None, client_name.encode(),
                        _lib.KEEPER_THREAD, 0 if recovery else 1, 0)
    more = _lib.OptionsMore(",".join(servers).encode() if servers else None,
                            token_file.encode() if token_file else None, 0)
    handle = c_void_p()
    err = _lib.Error_()
    if lib.nslock_open_ex(byref(handle), byref(opts), byref(more), byref(err)) < 0:
        _raise(err)
    c = Connection(handle, lib)
    if grace is not None:
        lib.nslock_set_grace(handle, float(grace))
    if namespace is not None:
        try:
            c.namespace(namespace)
        except BaseException:
            c.close()
            raise
    return c
