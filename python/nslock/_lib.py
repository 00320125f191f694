"""libnslock through ctypes: finding the library and declaring its calls.

Every rule (the protocol, restart recovery, the mirror of held locks) lives
in the C library; this module only describes its ABI (client/nslock.h).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int,
                    c_long, c_longlong, c_size_t, c_uint, c_uint64, c_void_p)


class Error_(Structure):
    _fields_ = [("code", c_int), ("name", c_char * 32), ("message", c_char * 480)]


class Options(Structure):
    _fields_ = [("socket_path", c_char_p), ("host_port", c_char_p), ("token", c_char_p),
                ("client_name", c_char_p), ("keeper", c_int), ("no_recovery", c_int),
                ("server_uid", c_long)]


class OptionsMore(Structure):
    _fields_ = [("servers", c_char_p), ("token_file", c_char_p), ("standby_ok", c_int)]


class Cluster(Structure):
    _fields_ = [("role", c_char * 16), ("epoch", c_uint64), ("leader", c_char * 160),
                ("zookeeper", c_char * 32)]


class Outcome(Structure):
    _fields_ = [("test", c_int), ("token", c_uint64)]


class Resolution(Structure):
    _fields_ = [("database", c_char_p), ("directory", c_char_p), ("rule", c_char_p),
                ("mapping", c_char_p)]


class Entry(Structure):
    _fields_ = [("database", c_char_p), ("directory", c_char_p), ("owner", c_uint64),
                ("pid", c_long), ("client", c_char_p), ("mode", c_char_p),
                ("name", c_char_p), ("namespace_name", c_char_p), ("since", c_char_p),
                ("token", c_uint64), ("waiting", c_int), ("blockers", c_char_p)]


class ShowFilter(Structure):
    _fields_ = [("database", c_char_p), ("namespace_name", c_char_p), ("owner", c_uint64),
                ("pid", c_long), ("name_prefix", c_char_p), ("no_waiters", c_int)]


class Stat(Structure):
    _fields_ = [("key", c_char_p), ("value", c_uint64)]


class Held(Structure):
    _fields_ = [("namespace_name", c_char_p), ("name", c_char_p), ("count", c_uint * 4),
                ("deferred", c_uint * 4), ("token", c_uint64)]


class RemoveFilter(Structure):
    _fields_ = [("owner", c_uint64), ("pid", c_long), ("database", c_char_p),
                ("name", c_char_p)]


LOST_FN = CFUNCTYPE(None, c_void_p, POINTER(Error_), c_void_p)

_SIGNATURES = {
    "nslock_errname": (c_char_p, [c_int]),
    "nslock_default_socket": (c_int, [c_char_p, c_size_t]),
    "nslock_open": (c_int, [POINTER(c_void_p), POINTER(Options), POINTER(Error_)]),
    "nslock_open_ex": (c_int, [POINTER(c_void_p), POINTER(Options), POINTER(OptionsMore),
                               POINTER(Error_)]),
    "nslock_cluster_get": (c_int, [c_void_p, POINTER(Cluster), POINTER(Error_)]),
    "nslock_close": (None, [c_void_p]),
    "nslock_set_grace": (None, [c_void_p, c_double]),
    "nslock_session_id": (c_uint64, [c_void_p]),
    "nslock_current_namespace": (c_char_p, [c_void_p]),
    "nslock_ping": (c_int, [c_void_p, POINTER(Error_)]),
    "nslock_lock": (c_int, [c_void_p, c_char_p, c_uint, c_double, POINTER(Outcome),
                            POINTER(Error_)]),
    "nslock_unlock": (c_int, [c_void_p, c_char_p, c_uint, POINTER(Error_)]),
    "nslock_unlock_async": (c_int, [c_void_p, c_char_p, c_uint, POINTER(Error_)]),
    "nslock_sync": (c_int, [c_void_p, POINTER(Error_)]),
    "nslock_unlock_all": (c_int, [c_void_p, POINTER(Error_)]),
    "nslock_command": (c_int, [c_void_p, c_char_p, POINTER(Outcome), POINTER(Error_)]),
    "nslock_namespace": (c_int, [c_void_p, c_char_p, POINTER(Error_)]),
    "nslock_tstart": (c_int, [c_void_p, POINTER(c_int), POINTER(Error_)]),
    "nslock_tcommit": (c_int, [c_void_p, POINTER(c_int), POINTER(Error_)]),
    "nslock_trollback": (c_int, [c_void_p, c_int, POINTER(c_int), POINTER(Error_)]),
    "nslock_free": (None, [c_void_p]),
    "nslock_resolve": (c_int, [c_void_p, c_char_p, POINTER(POINTER(Resolution)),
                               POINTER(c_size_t), POINTER(Error_)]),
    "nslock_show": (c_int, [c_void_p, POINTER(ShowFilter), POINTER(POINTER(Entry)),
                            POINTER(c_size_t), POINTER(Error_)]),
    "nslock_stats_list": (c_int, [c_void_p, POINTER(POINTER(Stat)), POINTER(c_size_t),
                                  POINTER(Error_)]),
    "nslock_epoch": (c_uint64, [c_void_p]),
    "nslock_is_lost": (c_int, [c_void_p]),
    "nslock_lost_clear": (c_int, [c_void_p]),
    "nslock_on_lost": (None, [c_void_p, LOST_FN, c_void_p]),
    "nslock_held_list": (c_int, [c_void_p, POINTER(POINTER(Held)), POINTER(c_size_t),
                                 POINTER(Error_)]),
    "nslock_recovering": (c_longlong, [c_void_p]),
    "nslock_tlevel": (c_int, [c_void_p]),
    "nslock_remove": (c_int, [c_void_p, POINTER(RemoveFilter), POINTER(c_uint64),
                              POINTER(Error_)]),
}
# Present in newer libraries only; looked up if there.
_OPTIONAL = {
    "nslock_cancel": (c_int, [c_void_p]),
}

SHARED, ESCALATING, IMMEDIATE, DEFERRED = 1, 2, 4, 8
KEEPER_THREAD = 0
WAIT_FOREVER = -1.0


def _candidates():
    env = os.environ.get("NSLOCK_LIBRARY")
    if env:
        yield env
        return
    # Run from the repository: the build tree next to python/.
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(here))
    for build in ("build", "build-asan"):
        path = os.path.join(top, build, "client", "libnslock.so.0")
        if os.path.exists(path):
            yield path
    found = ctypes.util.find_library("nslock")
    yield found or "libnslock.so.0"


def load() -> ctypes.CDLL:
    """The C library, with every call declared. Raises OSError naming what
    was tried when there is none."""
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    else:
        raise OSError("libnslock not found: tried %s; set NSLOCK_LIBRARY to its path"
                      % "; ".join(tried))
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    for name, (restype, argtypes) in _OPTIONAL.items():
        fn = getattr(lib, name, None)
        if fn is not None:
            fn.restype = restype
            fn.argtypes = argtypes
    return lib
