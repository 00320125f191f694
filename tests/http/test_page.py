"""The lock-table page (/) in headless Chromium against a known table: a
deadlock in progress (deadlock detection off, so the cycle stays) and a
waiter behind it. The rendered rows and the waits-for graph are read back
from the DOM and compared with SHOW; a screenshot goes to the build
directory (NSLOCK_SCREENSHOT_DIR)."""
import html.parser
import os
import shutil
import subprocess
import tempfile

from conftest import show_rows, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Dom(html.parser.HTMLParser):
    """The rows (tr.lock) and the graph (g.node, line.edge) of a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.rows, self.nodes, self.edges, self.sections = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "tr" and "lock" in classes:
            self.rows.append(a)
        elif tag == "g" and "node" in classes:
            self.nodes.append(a)
        elif tag == "line" and "edge" in classes:
            self.edges.append(a)
        elif tag == "section" and "database" in classes:
            self.sections.append(a["data-database"])


def chromium(args, profile):
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--virtual-time-budget=3000"] + args
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_page_shows_the_table_and_the_waits_for_graph(make_server, tmp_path):
    # a test that cannot run fails, it does not vanish
    assert CHROMIUM, "chromium not installed (scripts/install-deps --test)"
    srv = make_server(deadlock_check_ms=0, databases=["USERDB", "ALPHADB"])
    a, b, c, d = (srv.session(n) for n in ("alice", "bob", "carol", "dave"))
    assert a.ask("LOCK +^p").startswith("OK 1")
    assert b.ask("LOCK +^q").startswith("OK 1")
    assert d.ask("NS ALPHA").startswith("OK")
    assert d.ask("LOCK +^r(1)").startswith("OK 1")
    a.send("LOCK +^q:600")             # alice waits for bob ...
    b.send("LOCK +^p:600")             # ... and bob for alice: a cycle nobody breaks
    c.send("LOCK +^p:600")             # carol waits behind it (for alice)
    obs = srv.session("observer")
    wait_until("three waiters", lambda: len([r for r in show_rows(obs) if r["token"] is None]) == 3)
    rows = show_rows(obs)

    profile = tempfile.mkdtemp(dir=tmp_path)
    run = chromium(["--dump-dom", srv.url + "/"], profile)
    assert run.returncode == 0, run.stderr
    dom = Dom()
    dom.feed(run.stdout)

    # every SHOW row, once, with its owner, name, mode and blockers
    want = sorted((str(r["owner"]), r["name"], r["mode"], ",".join(map(str, r["blockers"])))
                  for r in rows)
    got = sorted((r["data-owner"], r["data-name"], r["data-mode"], r["data-blockers"])
                 for r in dom.rows)
    assert got == want
    assert dom.sections == ["ALPHADB", "USERDB"]        # grouped by database, in name order
    waiting = {(r["data-owner"], r["data-name"]) for r in dom.rows if "waiting" in r["class"]}
    assert waiting == {(str(r["owner"]), r["name"]) for r in rows if r["token"] is None}
    # holders someone waits for are marked as blockers
    blocker_rows = {r["data-owner"] for r in dom.rows if "blocker" in r["class"].split()}
    assert blocker_rows == {"1", "2"}
    # the graph: a node per waiting or blocking owner, an edge per blocker
    edges = {(e["data-from"], e["data-to"]) for e in dom.edges}
    assert edges == {(str(r["owner"]), str(bl)) for r in rows if r["token"] is None
                     for bl in r["blockers"]}
    assert {("1", "2"), ("2", "1"), ("3", "1")} <= edges
    nodes = {n["data-owner"]: n["class"].split() for n in dom.nodes}
    assert set(nodes) == {"1", "2", "3"}
    # the cycle is marked, the chain's tail is not
    assert "in-cycle" in nodes["1"] and "in-cycle" in nodes["2"]
    assert "in-cycle" not in nodes["3"]
    cyc_edges = {(e["data-from"], e["data-to"]) for e in dom.edges if "in-cycle" in e["class"]}
    assert cyc_edges == {("1", "2"), ("2", "1")}

    # a filter in the query goes to /api/locks: owner=4 is dave's one row
    status, _, body = srv.get("/api/locks?owner=4")
    assert status == 200 and '"owner": 4' in body and '"owner": 1' not in body

    shots = os.environ.get("NSLOCK_SCREENSHOT_DIR", str(tmp_path))
    for name, size in (("locks-page.png", "1280,800"), ("locks-page-phone.png", "390,844")):
        shot = os.path.join(shots, name)
        run = chromium([f"--screenshot={shot}", f"--window-size={size}", srv.url + "/"],
                       tempfile.mkdtemp(dir=tmp_path))
        assert run.returncode == 0, run.stderr
        with open(shot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
