"""A real `nslock serve` per test: its socket and state in a temporary
directory, server.http on a free loopback port, stopped afterwards.

NSLOCK (the binary) comes from the environment (tests/CMakeLists.txt)."""
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

NSLOCK = os.environ.get("NSLOCK", "nslock")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """One connection speaking the line protocol (docs/PROTOCOL.md)."""

    def __init__(self, path, name=None):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b""
        if name:
            assert self.ask(f"HELLO name={name}").startswith("OK")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def line(self, timeout=10):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def ask(self, line):
        self.send(line)
        return self.line()

    def data(self, line):
        """A request answered `DATA n` and n lines: the lines."""
        head = self.ask(line)
        assert head.startswith("DATA "), head
        return [self.line() for _ in range(int(head.split()[1]))]

    def close(self):
        self.sock.close()


class Server:
    def __init__(self, tmp, extra_lock_table="", extra_server="", databases=None,
                 deadlock_check_ms=100, http_host="127.0.0.1", serve_args=()):
        self.tmp = tmp
        self.socket = str(tmp / "nslock.sock")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        dbs = databases or ["USERDB"]
        config = (
            f"lock_table:\n  deadlock_check_ms: {deadlock_check_ms}\n" + extra_lock_table +
            f"server:\n  socket: {self.socket}\n  state_dir: {tmp}/state\n"
            f"  http: {http_host}:{self.port}\n" + extra_server +
            "databases:\n" + "".join(f"  {d}: {{ directory: /data/{d.lower()} }}\n" for d in dbs) +
            "namespaces:\n" + "".join(f"  {d[:-2] or d}: {{ globals: {d} }}\n" for d in dbs))
        (tmp / "config.yaml").write_text(config)
        self.log = open(tmp / "server.log", "w+")
        self.proc = subprocess.Popen([NSLOCK, "serve", "-c", str(tmp / "config.yaml"), *serve_args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            try:
                self.get("/")           # the page needs no token
                break
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the server did not start:\n" + self.log_text())
                time.sleep(0.05)
        self.sessions = []

    def session(self, name=None):
        s = Session(self.socket, name)
        self.sessions.append(s)
        return s

    def get(self, path, headers=None):
        req = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()

    def log_text(self):
        self.log.flush()
        return (self.tmp / "server.log").read_text()

    def stop(self):
        for s in self.sessions:
            s.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def make_server(tmp_path):
    made = []

    def make(**kw):
        s = Server(tmp_path, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


def wait_until(what, predicate, timeout=10):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def show_rows(session, args=""):
    """SHOW json as Python rows."""
    import json
    return json.loads("\n".join(session.data(f"SHOW {args} json".replace("  ", " "))))["locks"]
