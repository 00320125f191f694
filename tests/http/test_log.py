"""The operator's log: sessions starting and ending (with what an ending
released), --log-format json (one object a line), and bad options."""
import json
import subprocess

from conftest import NSLOCK, wait_until


def test_json_log_lines(make_server):
    srv = make_server(serve_args=("--log-format", "json"))
    s = srv.session("batch-7")
    assert s.ask("LOCK +(^a(1),^a(2))").startswith("OK 1")
    s.close()
    srv.sessions.remove(s)
    wait_until("the session's end in the log", lambda: "session_end" in srv.log_text())
    lines = [json.loads(line) for line in srv.log_text().splitlines()]  # every line parses
    assert all({"time", "level", "msg"} <= set(line) for line in lines)
    starts = [line for line in lines if line.get("event") == "session_start"]
    ends = [line for line in lines if line.get("event") == "session_end"]
    assert starts and starts[0]["level"] == "info" and starts[0]["transport"] == "unix"
    assert isinstance(starts[0]["pid"], int) and isinstance(starts[0]["uid"], int)
    end = next(e for e in ends if e["client"] == "batch-7")
    assert end["released"] == 2 and end["level"] == "info"
    assert "released 2 entries" in end["msg"]
    assert any("serving http on" in line["msg"] for line in lines)


def test_text_log_says_what_an_ending_released(make_server):
    srv = make_server()
    s = srv.session("nightly")
    assert s.ask("LOCK +^b").startswith("OK 1")
    s.close()
    srv.sessions.remove(s)
    wait_until("the session's end", lambda: "released 1 entry" in srv.log_text())
    line = next(l for l in srv.log_text().splitlines() if "released 1 entry" in l)
    assert " info: session " in line and "client nightly" in line


def test_bad_log_format_is_a_usage_error():
    r = subprocess.run([NSLOCK, "serve", "--log-format", "xml"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown log format 'xml' (text, json)" in r.stderr
