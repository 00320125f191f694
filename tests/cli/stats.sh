#!/bin/sh
# nslock stats, plain and -J, for a known state: one session holding one
# entry, nobody waiting.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
start_server

session_open a 3
echo 'LOCK +x(1)' >&3
wait_lines "$TMP/a.out" '^\$TEST=1' 1

"$NSLOCK" stats >"$TMP/stats.txt" || fail "stats failed"
for key in entries max_entries sessions waiters escalations deadlocks table_full_episodes; do
    grep -q "^$key  *[0-9][0-9]*$" "$TMP/stats.txt" || fail "no '$key' line: $(cat "$TMP/stats.txt")"
done
grep -q '^entries  *1$' "$TMP/stats.txt" || fail "entries is not 1: $(cat "$TMP/stats.txt")"
grep -q '^waiters  *0$' "$TMP/stats.txt" || fail "waiters is not 0: $(cat "$TMP/stats.txt")"

"$NSLOCK" stats -J >"$TMP/stats.json" || fail "stats -J failed"
[ "$(sed -n 1p "$TMP/stats.json")" = "{" ] || fail "-J: not an object: $(cat "$TMP/stats.json")"
[ "$(sed -n 2p "$TMP/stats.json")" = '   "stats": {' ] || fail "-J: no stats key: $(cat "$TMP/stats.json")"
grep -q '^      "entries": 1,$' "$TMP/stats.json" || fail "-J entries: $(cat "$TMP/stats.json")"
grep -q '^      "waiters": 0,*$' "$TMP/stats.json" || fail "-J waiters: $(cat "$TMP/stats.json")"
grep -q '^      "max_entries": [0-9][0-9]*,*$' "$TMP/stats.json" || fail "-J max_entries"
# as many JSON members as plain lines
[ "$(grep -c '^      "' "$TMP/stats.json")" -eq "$(wc -l <"$TMP/stats.txt")" ] \
    || fail "-J and plain differ in counters"

# A second holder, a waiter: the counters follow.
session_open b 4
echo 'LOCK +x(1):60' >&4
waiting() {
    "$NSLOCK" stats | grep -q '^waiters  *1$'
}
poll "waiters to be 1" waiting

expect_status 2 "$NSLOCK" stats --bogus 2>/dev/null
expect_status 2 "$NSLOCK" stats extra 2>/dev/null
expect_status 2 "$NSLOCK" stats --socket "$TMP/absent.sock" 2>/dev/null
expect_status 0 "$NSLOCK" stats --help >/dev/null

# One discovery rule: --socket, else $NSLOCK_SOCKET, else server.socket of
# --config, else the default.
(unset NSLOCK_SOCKET; "$NSLOCK" stats --config "$CONFIG") >"$TMP/cfg.txt" ||
    fail "stats --config did not reach the server of server.socket"
grep -q '^entries  *1$' "$TMP/cfg.txt" || fail "stats --config: $(cat "$TMP/cfg.txt")"
(unset NSLOCK_SOCKET; "$NSLOCK" stats -c "$CONFIG" -J) >/dev/null || fail "stats -c"
expect_status 2 "$NSLOCK" stats -c "$CONFIG" --socket "$TMP/absent.sock" 2>/dev/null
(NSLOCK_SOCKET=$TMP/absent.sock; export NSLOCK_SOCKET; expect_status 2 "$NSLOCK" stats -c "$CONFIG" 2>/dev/null) || exit 1
expect_status 2 "$NSLOCK" stats -c "$TMP/no-such.yaml" 2>"$TMP/err"
grep -q 'no-such.yaml' "$TMP/err" || fail "unreadable --config: $(cat "$TMP/err")"
"$NSLOCK" stats --help | grep -q 'server.socket of --config' || fail "--help: the discovery rule"

# No server: what to do, in words.
"$NSLOCK" stats --socket "$TMP/absent.sock" 2>"$TMP/err"
grep -q "^nslock: stats: no server answers at $TMP/absent.sock" "$TMP/err" || fail "no server: $(cat "$TMP/err")"
! grep -q 'IO: ' "$TMP/err" || fail "a wire code in: $(cat "$TMP/err")"

# nslock --help lists --version, which answers.
"$NSLOCK" --help | grep -q -- '--version' || fail "--version not in nslock --help"
"$NSLOCK" --version | grep -q '^nslock [0-9]' || fail "--version"
exit 0
