"""nslock shell on a terminal: drives the real binary in a pseudo-terminal
and checks Ctrl-C (drops the line, or cancels a waiting LOCK, the session
keeping its locks), Ctrl-D (ends the shell, status 0) and Tab completion.
Run by shell_tty.sh with the binary as argument and a server on
$NSLOCK_SOCKET."""
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

NSLOCK = sys.argv[1]
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r")


def fail(what):
    print("FAIL: " + what, file=sys.stderr)
    sys.exit(1)


class Terminal:
    """One `nslock shell` on a pty; `out` is everything it wrote."""

    def __init__(self, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(NSLOCK, [NSLOCK, "shell", *args])
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))
        self.out = b""
        self.seen = 0

    def send(self, data):
        os.write(self.fd, data)

    def expect(self, pattern, what, timeout=10):
        """Waits for pattern in the output (escape sequences and carriage
        returns left out) after what earlier calls matched."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern.encode())
        while True:
            m = regex.search(self.text(), self.seen)
            if m:
                self.seen = m.end()
                return m.group(0).decode(errors="replace")
            left = deadline - time.monotonic()
            if left <= 0:
                fail("%s: no %r in the output:\n%s" % (what, pattern, self.shown()))
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    fail("%s: the shell ended; output:\n%s" % (what, self.shown()))
                self.out += chunk

    def text(self):
        return ANSI.sub(b"", self.out)

    def shown(self):
        return self.text().decode(errors="replace")

    def wait_exit(self, what, timeout=10, must=True):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.pid = 0
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.05)[0]:
                    self.out += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        if must:
            fail(what + ": the shell did not end")
        return None

    def alive(self):
        return os.waitpid(self.pid, os.WNOHANG)[0] == 0

    def kill(self):
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = 0


def table(*columns):
    """The lock table's OWNER and the given columns, one row per line."""
    got = subprocess.run([NSLOCK, "show", "-r", "-n", "-o", ",".join(("OWNER",) + columns)],
                         capture_output=True, text=True, check=True)
    return [line.split() for line in got.stdout.splitlines()]


def poll(what, check):
    for _ in range(200):
        if check():
            return
        time.sleep(0.05)
    fail("timed out waiting for " + what)


def session_id(term):
    term.send(b"SESSION\r")
    return term.expect(r"session [0-9]+", "SESSION").split()[1]


other = subprocess.Popen([NSLOCK, "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
term = Terminal()
try:
    term.expect(r"USER> ", "the first prompt")
    me = session_id(term)
    term.expect(r"USER> ", "prompt after SESSION")
    term.send(b"LOCK +^held\r")
    term.expect(r"\$TEST=1 token=[0-9]+", "LOCK +^held")
    term.expect(r"USER> ", "prompt after LOCK")

    # Ctrl-C while typing: the line is dropped, the session and its lock stay
    term.send(b"LOCK +^typed")
    term.expect(r"\^typed", "the echo of the typing")
    term.send(b"\x03")
    term.expect(r"USER> ", "a new prompt after Ctrl-C")
    if not term.alive():
        fail("Ctrl-C while typing ended the shell")
    if [me, "^held"] not in table("NAME"):
        fail("after Ctrl-C while typing, ^held is not held: %s" % table("NAME"))
    term.send(b"PING\r")
    term.expect(r"PONG", "PING after Ctrl-C")
    term.expect(r"USER> ", "prompt after PING")
    if any(row[1] == "^typed" for row in table("NAME")):
        fail("the dropped line was run")

    # Ctrl-C while a LOCK waits: it is cancelled, the shell stays
    other.stdin.write("LOCK +^busy\n")
    other.stdin.flush()
    if not other.stdout.readline().startswith("$TEST=1"):
        fail("the other session did not get ^busy")
    term.send(b"LOCK +^busy\r")
    poll("the LOCK to wait", lambda: [me, "^busy", "WaitExclusive"] in table("NAME", "MODE"))
    term.send(b"\x03")
    term.expect(r"LOCK cancelled", "the cancel message")
    term.expect(r"USER> ", "a prompt after the cancel")
    rows = table("NAME", "MODE")
    if [me, "^held", "Exclusive"] not in rows or any(r[0] == me and r[1] == "^busy" for r in rows):
        fail("after the cancel the table is %s" % rows)
    term.send(b"w $test\r")
    term.expect(r"\n1\r?\n", "$TEST after a cancelled untimed LOCK")
    term.expect(r"USER> ", "prompt after WRITE")

    # Tab: a request keyword, a namespace name
    term.send(b"pi\t\r")
    term.expect(r"PONG", "pi<Tab> as ping")
    term.expect(r"USER> ", "prompt after ping")
    term.send(b"NS be\t\r")
    term.expect(r"BETA> ", "NS be<Tab> as NS BETA")
    term.send(b"ZSH\t\"L\"\r")
    term.expect(r'LOCK \^\|"USER"\|held LEVEL=1', 'ZSH<Tab> "L"')
    term.expect(r"BETA> ", "prompt after ZSHOW")

    # Ctrl-D: the shell ends with status 0, and its session with it
    term.send(b"\x04")
    # A Ctrl-D typed while the line editor is still setting the terminal
    # up can be flushed with the pending input (seen once on a loaded
    # machine): as a person would, press it again.
    status = term.wait_exit("Ctrl-D", timeout=3, must=False)
    if status is None:
        term.send(b"\x04")
        status = term.wait_exit("Ctrl-D")
    if status != 0:
        fail("Ctrl-D: exit status %d; output:\n%s" % (status, term.shown()))
    poll("the session's locks to go", lambda: not any(r[0] == me for r in table("NAME")))
finally:
    term.kill()
    other.stdin.close()
    other.wait()
