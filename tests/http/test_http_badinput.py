"""Bad HTTP input: unknown paths, other methods, oversized headers, a slow
client, a thousand idle connections, missing tokens. Meanwhile a lock
client works on: its answers are checked, not its timing."""
import resource
import socket
import threading
import time
import urllib.error

import pytest



def raw(port, data, read=True):
    """Sends data to the HTTP port; the status line of the answer ('' if none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if not read:
            return ""
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
        return answer.split(b"\r\n")[0].decode()


def lock_pairs(server, n, name="^k"):
    """n LOCK/unlock pairs from one session; every answer must be right."""
    s = server.session("worker")
    for i in range(n):
        granted = s.ask(f"LOCK +{name}({i})")
        assert granted.startswith("OK 1 "), granted
        assert s.ask(f"LOCK -{name}({i})") == "OK"
    s.close()
    server.sessions.remove(s)


def test_paths_and_methods(make_server):
    srv = make_server()
    p = srv.port
    assert raw(p, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found"
    assert raw(p, b"GET /metrics/x HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found"
    for method in (b"POST", b"PUT", b"DELETE", b"OPTIONS"):
        line = raw(p, method + b" /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert line == "HTTP/1.1 405 Method Not Allowed", (method, line)
    body = b"x" * 5000                   # a body that arrives after the answer is chosen
    assert raw(p, b"POST /api/locks HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + body) \
        == "HTTP/1.1 405 Method Not Allowed"
    assert raw(p, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK"
    assert raw(p, b"HEAD /api/locks HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK"
    assert raw(p, b"GET /api/locks?database=NOPE HTTP/1.1\r\nHost: x\r\n\r\n") == \
        "HTTP/1.1 400 Bad Request"
    assert raw(p, b"GET /api/locks?owner=x HTTP/1.1\r\nHost: x\r\n\r\n") == \
        "HTTP/1.1 400 Bad Request"
    assert raw(p, b"NONSENSE\r\n\r\n") in ("", "HTTP/1.1 400 Bad Request")   # closed or 400
    # an oversized header: refused, the server goes on
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"
    try:
        line = raw(p, big)
    except (BrokenPipeError, ConnectionResetError):
        line = "closed"
    assert line in ("HTTP/1.1 431 Request Header Fields Too Large", "closed",
                    "HTTP/1.1 413 Payload Too Large"), line
    assert srv.get("/metrics")[0] == 200
    lock_pairs(srv, 10)


def test_slow_and_many_clients_do_not_stop_lock_clients(make_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    srv = make_server()
    stop = threading.Event()
    sent = []

    def slow_client():
        # a request one byte a second, never finished while the test runs
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n":
                if stop.is_set():
                    return
                try:
                    s.send(bytes([b]))
                except OSError:
                    return
                sent.append(b)
                time.sleep(1)
    slow = threading.Thread(target=slow_client)
    slow.start()
    idle = []
    try:
        for _ in range(1000):
            try:
                idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
            except OSError:
                break                    # the backlog is full: refused, which is fine
        assert len(idle) >= 200
        # lock clients work while the slow one trickles (at least 3 of its bytes)
        rounds = 0
        while len(sent) < 3 or rounds < 2:
            lock_pairs(srv, 100, f"^k{rounds}")
            rounds += 1
        # HTTP itself still answers once the idle ones are gone
    finally:
        for s in idle:
            s.close()
        stop.set()
        slow.join()
    deadline = time.time() + 15
    while True:
        try:
            assert srv.get("/api/stats")[0] == 200
            break
        except (urllib.error.URLError, ConnectionError):
            assert time.time() < deadline
            time.sleep(0.2)
    lock_pairs(srv, 10, "^after")
    assert srv.proc.poll() is None


def test_bearer_token_off_the_loopback(make_server, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    token.chmod(0o600)
    srv = make_server(http_host="0.0.0.0", extra_server=f"  token_file: {token}\n")

    def status(path, auth=None):
        hdr = f"Authorization: {auth}\r\n".encode() if auth else b""
        return raw(srv.port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + hdr + b"\r\n")
    assert status("/metrics") == "HTTP/1.1 401 Unauthorized"
    assert status("/api/locks", "Bearer wrong") == "HTTP/1.1 401 Unauthorized"
    assert status("/api/stats", "Basic czNjcmV0") == "HTTP/1.1 401 Unauthorized"
    assert status("/metrics", "Bearer s3cret-token") == "HTTP/1.1 200 OK"
    assert status("/api/locks", "Bearer s3cret-token") == "HTTP/1.1 200 OK"
    assert status("/") == "HTTP/1.1 200 OK"           # the page holds no data
    assert "nslock_auth_failures_total 3" in raw_body(srv.port, "/metrics", "Bearer s3cret-token")
    assert "refused: no or wrong bearer token" in srv.log_text()


def raw_body(port, path, auth):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nAuthorization: {auth}\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode()
