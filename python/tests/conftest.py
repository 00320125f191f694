"""A real nslock server per test module (or per test, for the ones that
kill it), on a socket in a temporary directory."""
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "python"))
# Subprocesses (the installed package's) find the library under test too.
os.environ.setdefault("NSLOCK_LIBRARY", os.path.join(TOP, "build", "client", "libnslock.so.0"))

CONFIG = """\
lock_table:
  deadlock_check_ms: 100
server:
  socket: {dir}/nslock.sock
  state_dir: {dir}/state
  recovery_grace_s: {grace}
default_namespace: USER
local_locks: USERDB
databases:
  USERDB:  {{ directory: /data/user }}
  ALPHADB: {{ directory: /data/alpha }}
  BETADB:  {{ directory: /data/beta }}
namespaces:
  USER:  {{ globals: USERDB }}
  ALPHA: {{ globals: ALPHADB }}
  BETA:
    globals: BETADB
    map:
      Config: ALPHADB
      MyGlobal(15): ALPHADB
      Orders(1):(1000): ALPHADB
"""


def binary():
    path = os.environ.get("NSLOCK_BINARY") or os.path.join(TOP, "build", "nslock")
    if not os.access(path, os.X_OK):
        pytest.fail("no nslock binary at %s (set NSLOCK_BINARY)" % path)
    return path


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, directory, grace=1, tcp=False):
        self.dir = str(directory)
        self.config = os.path.join(self.dir, "nslock.yaml")
        self.socket = os.path.join(self.dir, "nslock.sock")
        text = CONFIG.format(dir=self.dir, grace=grace)
        self.address = self.token_file = None
        if tcp:
            self.address = "127.0.0.1:%d" % free_port()
            self.token_file = os.path.join(self.dir, "token")
            fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"s3cret-token-for-the-tests\n")
            os.close(fd)
            text = text.replace("server:\n", "server:\n  listen: %s\n  token_file: %s\n"
                                % (self.address, self.token_file), 1)
        with open(self.config, "w") as f:
            f.write(text)
        self.proc = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen([binary(), "serve", "--config", self.config,
                                      "--socket", self.socket],
                                     stdin=subprocess.DEVNULL, stderr=self.log)
        import nslock
        deadline = time.monotonic() + 10
        while True:   # ready when it answers, not when the socket file exists
            try:
                nslock.connect(self.socket, recovery=False).close()
                return
            except nslock.Error:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start: see %s/server.log" % self.dir)
                time.sleep(0.02)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.kill(signal.SIGTERM)

    def log_text(self):
        with open(os.path.join(self.dir, "server.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("nslock"))
    os.environ["NSLOCK_SOCKET"] = s.socket
    yield s
    s.stop()


@pytest.fixture
def own_server(tmp_path):
    """A server of its own, for tests that kill or restart it."""
    s = Server(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def tcp_server(tmp_path):
    """A server that also listens on loopback TCP, with a token file."""
    s = Server(tmp_path, tcp=True)
    yield s
    s.stop()


@pytest.fixture
def conn(server):
    import nslock
    c = nslock.connect(server.socket, client_name="pytest")
    yield c
    c.close()
