"""/metrics after a scripted history (grants, timeouts, a deadlock, an
escalation, a REMOVE, a table-full episode), parsed by a real Prometheus
parser (prometheus_client) and compared with STATS and with the table."""
import json
import select

from prometheus_client.parser import text_string_to_metric_families

from conftest import show_rows, wait_until


def scrape(server):
    status, headers, body = server.get("/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4"
    families, samples = {}, {}
    for fam in text_string_to_metric_families(body):
        families[fam.name] = fam
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples, body


def stats(session):
    return {k: int(v) for k, v in (line.split("\t") for line in session.data("STATS"))}


def first_answer(*sessions):
    """The session that answers first, and its answer."""
    readable, _, _ = select.select([s.sock for s in sessions], [], [], 10)
    assert readable, "nobody answered"
    s = next(s for s in sessions if s.sock is readable[0])
    return s, s.line()


def test_metrics_match_stats_and_the_table(make_server):
    srv = make_server(extra_lock_table="  max_entries: 6\n  escalation_threshold: 2\n",
                      databases=["USERDB", "ALPHADB"])
    obs = srv.session("observer")
    a, b, c = srv.session("a"), srv.session("b"), srv.session("c")
    # grants in two databases
    assert a.ask("LOCK +^x(1)").startswith("OK 1")
    assert a.ask("LOCK +^x(2)").startswith("OK 1")
    assert b.ask("NS ALPHA").startswith("OK")
    assert b.ask("LOCK +^y(1)").startswith("OK 1")
    # a timeout
    assert c.ask("LOCK +^x(1):0") == "OK 0"
    assert c.ask("LOCK +^x(1):1") == "OK 0"              # a wait that ran out
    # a deadlock: a waits for b's ^y(1), b for a's ^x(2)
    assert a.ask("NS ALPHA").startswith("OK")
    a.send("LOCK +^y(1):30")
    wait_until("a to wait", lambda: stats(obs)["waiters"] == 1)
    assert b.ask("NS USER").startswith("OK")
    b.send("LOCK +^x(2):30")
    victim, answer = first_answer(a, b)
    assert answer.startswith("ERR DEADLOCK"), answer
    other = b if victim is a else a
    assert victim.ask("LOCK").startswith("OK")       # the victim lets go: the other is granted
    assert other.line().startswith("OK 1")
    assert stats(obs)["deadlocks"] == 1
    for s in (a, b):
        assert s.ask("LOCK").startswith("OK")
    # an escalation: three escalating children of ^e, threshold 2
    for i in range(1, 4):
        assert c.ask(f'LOCK +^e({i})#"E"').startswith("OK 1")
    assert stats(obs)["escalations"] == 1
    # a removal of c's ^e by an admin (the server's own user)
    assert obs.ask("REMOVE name=^e database=USERDB") == "OK 1"
    assert c.ask("NS USER").startswith("ERR LOST")       # c is told before anything else
    # a table-full episode: six entries, a seventh cannot get in
    full = srv.session("full")
    for i in range(6):
        assert full.ask(f"LOCK +^f({i})").startswith("OK 1")
    assert full.ask("LOCK +^f(99):0") == "OK 0"
    assert full.ask("LOCK -^f(0)").startswith("OK")
    assert full.ask("LOCK -^f(1)").startswith("OK")
    # one held lock and one waiter left standing in ALPHADB
    assert b.ask("NS ALPHA").startswith("OK")
    assert b.ask("LOCK +^w").startswith("OK 1")
    assert c.ask("NS ALPHA").startswith("OK")
    c.send("LOCK +^w:60")
    wait_until("c to wait", lambda: stats(obs)["waiters"] == 1)

    st = stats(obs)
    families, samples, body = scrape(srv)
    rows = show_rows(obs)

    def value(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    for key, metric in [("entries", "nslock_entries"), ("max_entries", "nslock_max_entries"),
                        ("sessions", "nslock_sessions"), ("waiters", "nslock_waiters"),
                        ("grants", "nslock_grants_total"), ("timeouts", "nslock_timeouts_total"),
                        ("deadlocks", "nslock_deadlocks_total"),
                        ("escalations", "nslock_escalations_total"),
                        ("table_full_episodes", "nslock_table_full_episodes_total"),
                        ("epoch", "nslock_epoch"), ("recovering", "nslock_recovering")]:
        assert value(metric) == st[key], (metric, value(metric), st[key])
    assert st["deadlocks"] == 1 and st["timeouts"] >= 1 and st["escalations"] == 1
    assert st["table_full_episodes"] == 1
    assert value("nslock_table_full") == 0                 # room again after the releases
    # the table: entries per database are SHOW's held rows, waiters its waiting rows
    held = [r for r in rows if r["token"] is not None]
    assert value("nslock_entries") == len(held) == 5
    for db in ("ALPHADB", "USERDB"):
        assert value("nslock_database_entries", database=db) == \
            len([r for r in held if r["database"] == db])
    assert value("nslock_database_entries", database="ALPHADB") == 1
    assert value("nslock_waiters") == len([r for r in rows if r["token"] is None]) == 1
    assert value("nslock_sessions") == 5
    assert value("nslock_removals_total") == 1
    assert value("nslock_removed_entries_total") == 1
    assert value("nslock_removals_refused_total") == 0
    assert value("nslock_role", role="alone") == 1
    assert value("nslock_role", role="leader") == 0
    assert [k for k in samples if k[0] == "nslock_build_info"] == \
        [("nslock_build_info", (("version", "0.1.0"),))]
    # histograms: cumulative buckets from 10 µs to 60 s; count is the +Inf bucket
    for h in ("nslock_wait_seconds", "nslock_hold_seconds"):
        assert families[h].type == "histogram"
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                         if k[0] == h + "_bucket")
        assert buckets[0][0] == 0.00001 and buckets[-2][0] == 60
        assert buckets[-1][0] == float("inf")
        counts = [v for _, v in buckets]
        assert counts == sorted(counts)
        assert counts[-1] == value(h + "_count") > 0
    # the waits that went through the queue took measurable time (deadlock detection)
    assert value("nslock_wait_seconds_sum") > 0
    # entries released so far: ^x(1), ^x(2), ^y(1), the three ^e children
    # (escalated), ^e (removed), ^f(0), ^f(1) at least
    assert value("nslock_hold_seconds_count") >= 9
    # every family has HELP and TYPE; counters end in _total
    for name, fam in families.items():
        assert fam.documentation, name
    for line in body.splitlines():
        if line.startswith("# TYPE") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line

    # /api/stats is `STATS json`: one serializer, the same document
    _, headers, doc = srv.get("/api/stats")
    assert headers["Content-Type"] == "application/json"
    api = json.loads(doc)
    proto = json.loads("\n".join(obs.data("STATS json")))
    assert set(api["stats"]) == set(st) == set(proto["stats"])
    assert api["cluster"] == proto["cluster"] == \
        {"role": "alone", "epoch": st["epoch"], "leader": None, "zookeeper": "-"}
    assert api["stats"]["grants"] == proto["stats"]["grants"] == st["grants"]


def test_refused_remove_is_counted(make_server, tmp_path):
    srv = make_server()
    s = srv.session()
    assert s.ask("REMOVE owner=999").startswith("ERR NOTFOUND")
    _, samples, _ = scrape(srv)
    assert samples[("nslock_removals_refused_total", ())] == 0
    assert samples[("nslock_removals_total", ())] == 0


def test_a_first_lock_waits_for_its_registration(make_server):
    """A session's first LOCK is granted once the session is durable in the
    registry (its fdatasync): that wait is part of nslock_wait_seconds, and
    a LOCK granted on arrival after it adds a count and nothing to the sum."""
    srv = make_server()
    a = srv.session("a")
    assert a.ask("LOCK +^first").startswith("OK 1")
    _, samples, _ = scrape(srv)
    first = samples[("nslock_wait_seconds_sum", ())]
    assert samples[("nslock_wait_seconds_count", ())] == 1
    assert first > 0
    assert a.ask("LOCK +^second").startswith("OK 1")
    _, samples, _ = scrape(srv)
    assert samples[("nslock_wait_seconds_count", ())] == 2
    assert samples[("nslock_wait_seconds_sum", ())] == first
