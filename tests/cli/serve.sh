#!/bin/sh
# nslock serve with an ha section and no ZooKeeper to elect it: it stands
# by, serves no lock (ERR STANDBY), says so to CLUSTER, and stops on SIGTERM.
NSLOCK=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsl-serve-test.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
zkport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'tok-serve-test\n' >"$tmp/token"
chmod 600 "$tmp/token"
cat >"$tmp/ha.yaml" <<YAML
server:
  listen: 127.0.0.1:$port
  token_file: $tmp/token
ha:
  zookeeper: 127.0.0.1:$zkport
  path: /nslock/test
  session_timeout_ms: 2000
databases:
  USERDB: { directory: /data/user }
namespaces:
  USER: { globals: USERDB }
YAML
"$NSLOCK" serve --config "$tmp/ha.yaml" --socket "$tmp/s.sock" >"$tmp/out" 2>"$tmp/err" </dev/null &
pid=$!
i=0
while [ ! -S "$tmp/s.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$tmp/s.sock" ] || { echo "FAIL: serve with ha did not start: $(cat "$tmp/err")" >&2; exit 1; }
/usr/bin/python3 - "$tmp/s.sock" >"$tmp/answers" <<'PY' || { echo "FAIL: talking to the standby" >&2; exit 1; }
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
for req in (b"HELLO name=t", b"LOCK +^K", b"CLUSTER", b"PING"):
    f.write(req + b"\n"); f.flush(); print(f.readline().decode().rstrip())
PY
expect() {
    sed -n "$1p" "$tmp/answers" | grep -q "$2" || {
        echo "FAIL: answer $1: '$(sed -n "$1p" "$tmp/answers")', expected /$2/" >&2; exit 1; }
}
expect 1 '^ERR STANDBY - no server leads yet'
expect 2 '^ERR STANDBY'
expect 3 '^OK role standby epoch 0 leader - zookeeper connecting$'
expect 4 '^OK'
# stats answers on a standby too, and says what it is
"$NSLOCK" stats --server "127.0.0.1:$port" --token-file "$tmp/token" >"$tmp/stats" 2>&1 || {
    echo "FAIL: stats on the standby: $(cat "$tmp/stats")" >&2; exit 1; }
grep -q '^role  *standby$' "$tmp/stats" && grep -q '^leader  *(none yet)$' "$tmp/stats" \
    && grep -q '^zookeeper  *connecting$' "$tmp/stats" || {
    echo "FAIL: stats on the standby: $(cat "$tmp/stats")" >&2; exit 1; }
# a lock command is told there is no leader, in words
"$NSLOCK" lock --server "127.0.0.1:$port" --token-file "$tmp/token" -w 0 '^K' -- true \
    >/dev/null 2>"$tmp/lockerr"
st=$?
[ $st -eq 2 ] && grep -q "the server is a standby: no server leads yet" "$tmp/lockerr" || {
    echo "FAIL: lock on a lone standby: status $st, $(cat "$tmp/lockerr")" >&2; exit 1; }
kill -TERM $pid
wait $pid
status=$?
pid=
[ "$status" -eq 0 ] || { echo "FAIL: serve with ha: exit status $status after SIGTERM" >&2; exit 1; }
grep -q "ha: joining the election at /nslock/test" "$tmp/err" || {
    echo "FAIL: no election line in the log: $(cat "$tmp/err")" >&2; exit 1; }
echo "serve.sh: ok"
