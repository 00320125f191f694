"""Real faults: a server killed and restarted (the Python holder keeps its
locks, or is told it lost them), a dead server, and a waiting lock
interrupted by Ctrl-C."""
import os
import signal
import threading
import time

import pytest

import nslock


def test_restart_keeps_the_locks(own_server):
    c = nslock.connect(own_server.socket, client_name="holder")
    token = c.lock("^Held", 1)
    own_server.kill()
    own_server.start()
    # The library reconnects and reclaims; the program notices nothing.
    c.ping()
    assert [(h.name, h.token) for h in c.held()] == [("^Held(1)", token)]
    with nslock.connect(own_server.socket) as rival:
        with pytest.raises(nslock.LockTimeout):
            rival.lock("^Held", 1, timeout=0)
        assert rival.show(prefix="^Held")[0].token == token
    c.unlock("^Held", 1)
    c.close()


def test_lost_after_the_grace(own_server):
    c = nslock.connect(own_server.socket, client_name="late")
    called = []
    c.on_lost(called.append)
    c.lock("^G")
    own_server.kill()
    time.sleep(2.5)   # longer than the 1 s grace: the library gives up
    own_server.start()
    with pytest.raises(nslock.Lost):
        c.lock("^H")
    assert c.lost and len(called) == 1 and isinstance(called[0], nslock.Lost)
    with pytest.raises(nslock.Lost):
        c.ping()
    assert c.lost_clear() is True
    assert c.held() == []
    c.lock("^G", timeout=1)   # works again, as a session that held nothing
    c.close()


def test_dead_server_is_an_error_not_a_hang(own_server):
    c = nslock.connect(own_server.socket, recovery=False, grace=2)
    c.lock("^X")
    own_server.kill()
    start = time.monotonic()
    with pytest.raises(nslock.Disconnected):
        c.lock("^Y", timeout=0)
    assert time.monotonic() - start < 5
    with pytest.raises(nslock.Disconnected):
        c.ping()
    c.close()


def test_ctrl_c_cancels_a_waiting_lock(conn, server):
    with nslock.connect(server.socket) as o:
        o.lock("^Busy")
        conn.lock("^Mine")
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        # Should the cancel not work, the holder lets go after 5 s, the lock
        # is granted and the test fails on what is held.
        release = threading.Timer(5, o.unlock, ("^Busy",))
        release.start()
        with pytest.raises(KeyboardInterrupt):
            conn.lock("^Busy")
        release.cancel()
        assert [h.name for h in conn.held()] == ["^Mine"]
        rows = o.show(prefix="^Busy")
        assert [(r.owner, r.mode) for r in rows] == [(o.session_id, "Exclusive")]
        conn.ping()
        o.unlock("^Busy")
        assert conn.lock("^Busy", timeout=1) > 0
    conn.unlock_all()
