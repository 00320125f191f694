#!/bin/sh
# The client subcommands over TCP: --server HOST:PORT and --token-file, and
# the same from $NSLOCK_SERVERS and $NSLOCK_TOKEN_FILE; a list of servers
# whose first one is down; and the mistakes, each named.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
down=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'tcp-test-token\n' >"$TMP/token"
chmod 600 "$TMP/token"
sed -i "s|^server:|server:\n  listen: 127.0.0.1:$port\n  token_file: $TMP/token|" "$CONFIG"
start_server
tcp_up() { "$NSLOCK" stats --server "127.0.0.1:$port" --token-file "$TMP/token" >/dev/null 2>&1; }
poll "the TCP listener" tcp_up
unset NSLOCK_SOCKET     # nothing below may find the server through the Unix socket

# a lock held over TCP shows in a listing over TCP
"$NSLOCK" lock --server "127.0.0.1:$port" --token-file "$TMP/token" '^Tcp(1)' -- \
    "$NSLOCK" show --server "127.0.0.1:$port" --token-file "$TMP/token" -n -o NAME,CLIENT \
    >"$TMP/show.txt" || fail "lock -- show over TCP failed"
grep -q '^\^Tcp(1) *nslock-lock$' "$TMP/show.txt" || fail "show over TCP: $(cat "$TMP/show.txt")"

# the environment instead of the options; the first server of the list is down
NSLOCK_SERVERS="127.0.0.1:$down,127.0.0.1:$port" NSLOCK_TOKEN_FILE=$TMP/token \
    "$NSLOCK" stats >"$TMP/stats.txt" || fail "stats through NSLOCK_SERVERS failed"
grep -q '^sessions  *[0-9]' "$TMP/stats.txt" || fail "stats over TCP: $(cat "$TMP/stats.txt")"
"$NSLOCK" stats --server "127.0.0.1:$down" --server "127.0.0.1:$port" \
    --token-file "$TMP/token" >/dev/null || fail "stats with the first of two servers down"
# --socket given explicitly beats $NSLOCK_SERVERS
NSLOCK_SERVERS="127.0.0.1:$port" NSLOCK_TOKEN_FILE=$TMP/token \
    "$NSLOCK" stats --socket "$TMP/nslock.sock" >/dev/null || fail "--socket with NSLOCK_SERVERS"

# mistakes: exit status 2 and a message naming what is wrong
expect_err() {
    want=$1
    shift
    "$@" >/dev/null 2>"$TMP/err"
    st=$?
    [ "$st" -eq 2 ] || fail "exit status $st, expected 2: $*"
    grep -q -- "$want" "$TMP/err" || fail "no '$want' in: $(cat "$TMP/err")"
}
expect_err "not host:port" "$NSLOCK" stats --server nocolon --token-file "$TMP/token"
expect_err "wants one HOST:PORT" "$NSLOCK" stats --server "a:1,b:2" --token-file "$TMP/token"
expect_err "needs the server's token" "$NSLOCK" stats --server "127.0.0.1:$port"
expect_err "cannot read the token file $TMP/absent" \
    "$NSLOCK" show --server "127.0.0.1:$port" --token-file "$TMP/absent"
cp "$TMP/token" "$TMP/open-token"
chmod 644 "$TMP/open-token"
expect_err "chmod o-rwx $TMP/open-token" \
    "$NSLOCK" stats --server "127.0.0.1:$port" --token-file "$TMP/open-token"
expect_err "cannot connect to 127.0.0.1:$down" \
    "$NSLOCK" stats --server "127.0.0.1:$down" --token-file "$TMP/token"
expect_err "missing argument for '--server'" "$NSLOCK" shell --server
printf 'wrong-token\n' >"$TMP/wrong"
chmod 600 "$TMP/wrong"
"$NSLOCK" stats --server "127.0.0.1:$port" --token-file "$TMP/wrong" >/dev/null 2>"$TMP/err"
[ $? -ne 0 ] || fail "a wrong token was accepted"
grep -qi "token" "$TMP/err" || fail "wrong token: $(cat "$TMP/err")"

# the server is still there for everyone
"$NSLOCK" stats --server "127.0.0.1:$port" --token-file "$TMP/token" >/dev/null \
    || fail "the server stopped answering after the mistakes"
"$NSLOCK" stats --help | grep -q -- '--token-file FILE' || fail "stats --help: no --token-file"
echo "tcp.sh: ok"
