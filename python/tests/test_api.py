"""Every call of the API against a real server, the seed scenarios, and
bad input: each raises a clear exception, the session stays usable."""
import os
import threading
import time

import pytest

import nslock


def other(server, **kw):
    return nslock.connect(server.socket, client_name="other", **kw)


def test_lock_unlock_tokens_and_show(conn, server):
    t1 = conn.lock("^AppStateData", "NightlyBatch", timeout=0)
    t2 = conn.lock("^Orders", 15, shared=True)
    assert 0 < t1 < t2
    rows = {(e.name, e.mode, e.database) for e in conn.show()}
    assert ('^AppStateData("NightlyBatch")', "Exclusive", "USERDB") in rows
    assert ("^Orders(15)", "Shared", "USERDB") in rows
    e = conn.show(prefix="^Orders")[0]
    assert (e.owner, e.client, e.namespace, e.token, e.waiting) == (conn.session_id, "pytest",
                                                                    "USER", t2, False)
    conn.unlock("^Orders", 15, shared=True)
    conn.unlock("^AppStateData", "NightlyBatch")
    assert conn.show(owner=conn.session_id) == []
    conn.unlock("^NeverHeld")   # not an error, as LOCK - is not


def test_incremental_counts_and_types(conn):
    conn.lock("^C")
    conn.lock("^C")
    conn.lock("^C", shared=True)
    assert conn.show(prefix="^C")[0].mode == "Exclusive/2,Shared"
    h = conn.held()[0]
    assert (h.name, h.exclusive, h.shared) == ("^C", 2, 1)
    conn.unlock_all()
    assert conn.held() == []


def test_timeouts(conn, server):
    with other(server) as o:
        o.lock("^Busy")
        with pytest.raises(nslock.LockTimeout):
            conn.lock("^Busy", timeout=0)            # one attempt
        start = time.monotonic()
        with pytest.raises(nslock.LockTimeout) as e:
            conn.lock("^Busy", timeout=0.5)
        waited = time.monotonic() - start
        print("timeout=0.5 waited %.3f s" % waited)   # reported, not asserted
        assert "^Busy" in str(e.value) and isinstance(e.value, TimeoutError)
        # A waiting lock is granted when the holder lets go.
        threading.Timer(0.2, lambda: o.unlock("^Busy")).start()
        assert conn.lock("^Busy", timeout=5) > 0
    conn.unlock("^Busy")


def test_locked_releases_on_exception(conn):
    with pytest.raises(KeyError):
        with conn.locked("^Orders", 15, shared=True, timeout=5) as token:
            assert token > 0 and conn.show(prefix="^Orders")
            raise KeyError("boom")
    assert conn.show(prefix="^Orders") == []


def test_unlock_without_waiting(conn, server):
    with other(server) as o:
        o.lock("^A", 1)
        o.unlock("^A", 1, wait=False)      # released when the server reads it
        assert conn.lock("^A", 1, timeout=5) > 0
        o.sync()
        conn.unlock("^A", 1)
        # A refused unlock is told by the next call, which does nothing else.
        o.lock("^K")
        o.lock("^L")
        assert conn.remove(owner=o.session_id, name="^K") == 1
        o.unlock("^L", wait=False)
        with pytest.raises(nslock.Lost) as e:
            o.lock("^M", timeout=0)
        assert "unlock of ^L" in str(e.value)
        assert conn.show(owner=o.session_id, prefix="^M") == []       # given back
        assert len(conn.show(owner=o.session_id, prefix="^L")) == 1   # the unlock was not run
        o.lock("^M", timeout=0)            # told once: the session goes on
        o.sync()


def test_execute_returns_test(conn, server):
    assert conn.execute("LOCK +(^a(1),^b):2") == 1
    with other(server) as o:
        assert o.execute("LOCK +^b:0") == 0
    assert conn.execute("LOCK -^b") is None
    conn.execute("LOCK")
    with pytest.raises(nslock.Syntax) as e:
        conn.execute("LOCK +^a(")
    assert e.value.name == "SYNTAX" and "column" in e.value.message
    conn.ping()   # still usable


def test_namespaces_and_resolve(conn):
    assert conn.namespace() == "USER"
    assert conn.namespace("beta") == "BETA"
    dbs = [r.database for r in conn.resolve("^MyGlobal", 15)]
    assert dbs == ["ALPHADB", "BETADB"]
    rules = {r.database: (r.rule, r.mapping) for r in conn.resolve("^MyGlobal", 15)}
    assert rules["ALPHADB"] == ("map", "MyGlobal(15)")
    token = conn.lock("^MyGlobal", 15)
    assert {e.database for e in conn.show(owner=conn.session_id)} == {"ALPHADB", "BETADB"}
    assert conn.show(database="ALPHADB")[0].token == token
    conn.unlock("^MyGlobal", 15)
    with pytest.raises(nslock.UnknownNamespace):
        conn.namespace("NOSUCH")
    assert conn.namespace() == "BETA"
    conn.namespace("USER")


def test_transactions(conn):
    with conn.transaction() as level:
        assert level == 1 and conn.tlevel == 1
        conn.lock("^T")
        conn.unlock("^T")   # inside a transaction: delocked until the end
        assert conn.show(prefix="^T")[0].mode == "Exclusive->Delock"
    assert conn.tlevel == 0 and conn.show(prefix="^T") == []
    with pytest.raises(RuntimeError):
        with conn.transaction():
            conn.lock("^T")
            conn.unlock("^T")
            raise RuntimeError("roll back")
    assert conn.tlevel == 0
    assert conn.tstart() == 1 and conn.tstart() == 2
    assert conn.tcommit() == 1 and conn.trollback() == 0
    conn.unlock_all()


def test_deadlock_raises_deadlock(conn, server):
    with other(server) as o:
        conn.lock("^D1")
        o.lock("^D2")
        caught = []

        def second():
            try:
                o.lock("^D1", timeout=10)
            except nslock.Deadlock as e:
                caught.append(e)
                o.unlock("^D2")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.1)
        try:
            conn.lock("^D2", timeout=10)
        except nslock.Deadlock as e:
            caught.append(e)
            conn.unlock("^D1")   # the victim gives way: the other is granted
        t.join()
        assert len(caught) == 1 and caught[0].name == "DEADLOCK"
    conn.unlock_all()


def test_stats_remove_and_properties(conn, server):
    s = conn.stats()
    assert s.max_entries > 0 and s.sessions >= 1 and "grants" in s.counters
    assert conn.epoch >= 1
    with other(server) as o:
        o.lock("^Victim", 1)
        assert conn.remove(owner=o.session_id) == 1    # the server's own user: admin
        with pytest.raises(nslock.NotFound):
            conn.remove(name="^Nothing")
    with pytest.raises(ValueError):
        conn.remove()
    assert nslock.default_socket()


def test_seed_nightly_batch(conn, server):
    """The nightly-batch routine of the seeds: a second run is refused at
    once and told who runs it."""
    conn.lock("^AppStateData", "NightlyBatch", timeout=0)
    with other(server) as second:
        with pytest.raises(nslock.LockTimeout):
            second.lock("^AppStateData", "NightlyBatch", timeout=0)
        holder = second.show(prefix='^AppStateData("NightlyBatch")')[0]
        assert holder.owner == conn.session_id and holder.client == "pytest"
    conn.unlock("^AppStateData", "NightlyBatch")


def test_seed_retry_on_timeout(conn, server):
    with other(server) as o:
        o.lock("^MyResource")
        threading.Timer(0.3, lambda: o.unlock("^MyResource")).start()
        for attempt in range(5):
            try:
                conn.lock("^MyResource", timeout=0.2)
                break
            except nslock.LockTimeout:
                continue
        else:
            pytest.fail("never granted")
        assert attempt >= 1
    conn.unlock("^MyResource")


def test_seed_timed_lock_in_a_transaction(conn, server):
    with other(server) as o:
        o.lock("^a", 1)
        conn.tstart()
        with pytest.raises(nslock.LockTimeout):
            conn.lock("^a", 1, timeout=0.2)
        conn.trollback(one_level=True)
        assert conn.tlevel == 0
        o.unlock("^a", 1)


def test_escalation(conn):
    for day in range(1001):
        conn.lock("^MyGlobal", "sales", "EU", day, escalating=True)
    rows = conn.show(prefix="^MyGlobal")
    assert [(r.name, r.mode) for r in rows] == [('^MyGlobal("sales","EU")', "Exclusive_e/1001")]
    conn.unlock_all()


def test_bad_input(conn, server):
    with pytest.raises(TypeError):
        conn.lock("^X", None)
    with pytest.raises(TypeError):
        conn.lock("^X", timeout="soon")
    with pytest.raises(ValueError):
        conn.lock("^X", timeout=-1)
    with pytest.raises(ValueError, match="at most 31"):
        conn.lock("^X", *range(32))
    with pytest.raises(nslock.Subscript):
        conn.lock("^X", "s" * 600)
    with pytest.raises(ValueError):
        conn.lock("^X(1)")
    conn.ping()   # nothing broke the session
    c = nslock.connect(server.socket)
    c.close()
    c.close()   # twice is fine
    with pytest.raises(nslock.Error, match="closed"):
        c.lock("^X")
    with pytest.raises(nslock.Disconnected):
        nslock.connect(server.dir + "/no-such.sock")


def test_tcp_with_the_token_file(tcp_server):
    with nslock.connect(host=tcp_server.address, token_file=tcp_server.token_file,
                        client_name="over-tcp") as c:
        token = c.lock("^Remote", 1, timeout=1)
        row = c.show(prefix="^Remote")[0]
        assert (row.client, row.token) == ("over-tcp", token)
    with pytest.raises(nslock.Error):
        nslock.connect(host=tcp_server.address, token="wrong", recovery=False)


def test_a_server_list_skips_a_server_that_is_down(tcp_server):
    import socket
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        down = "127.0.0.1:%d" % s.getsockname()[1]
    with nslock.connect(servers=[down, tcp_server.address],
                        token_file=tcp_server.token_file) as c:
        assert c.lock("^Listed", timeout=1) > 0
        assert c.cluster() == nslock.Cluster(role="alone", epoch=c.stats().epoch,
                                             leader="", zookeeper="-")
    with pytest.raises(nslock.Error, match="servers wants a list"):
        nslock.connect(servers=tcp_server.address, token_file=tcp_server.token_file)


def test_a_forked_child_cannot_use_the_parents_connection(conn):
    conn.lock("^Parent")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: its calls refuse, and closing sends nothing
        try:
            conn.ping()
            os.write(write, b"used")
        except nslock.Error as e:
            os.write(write, b"refused" if "fork" in str(e) else b"other")
        conn.close()
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"refused"
    os.close(read)
    os.close(write)
    assert [h.name for h in conn.held()] == ["^Parent"]   # the parent's session lives on
    conn.ping()
    conn.unlock_all()
