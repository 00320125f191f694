#!/bin/sh
# nslock validate --against-server: with locks held and awaited on a real
# server, a new map lists exactly the ones whose databases would change.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
start_server

# Session h holds three locks in BETA and a local one; session w waits.
session_open h 3
printf 'NS BETA\nLOCK +^MyGlobal(15)\nLOCK +^MyGlobal(16)\nLOCK +^Other\nLOCK +x\n' >&3
wait_lines "$TMP/h.out" '^\$TEST=1' 4
session_open w 4
printf 'NS BETA\nLOCK +^MyGlobal(16)\n' >&4
waiting() {
    "$NSLOCK" show -r -n -o MODE | grep -q '^WaitExclusive$'
}
poll "the request to wait" waiting

# The same map: nothing moves.
expect_status 0 "$NSLOCK" validate --against-server "$CONFIG" >"$TMP/out" 2>"$TMP/err"
grep -q ': 0 of 5 locks on the server would move$' "$TMP/out" || fail "same map: $(cat "$TMP/out" "$TMP/err")"

# ^MyGlobal(15) moves from ALPHADB to USERDB; ^MyGlobal(16) and ^Other
# stay in BETADB, x in USERDB.
sed 's/MyGlobal(15): ALPHADB/MyGlobal(15): USERDB/' "$CONFIG" >"$TMP/new.yaml"
expect_status 1 "$NSLOCK" validate --against-server "$TMP/new.yaml" >"$TMP/out" 2>"$TMP/err"
h_owner=$("$NSLOCK" show -r -n -o OWNER,NAME | awk '$2 == "^Other" { print $1 }')
cat >"$TMP/want" <<END
$TMP/new.yaml: 0 errors, 0 warnings
OWNER PID CLIENT NAMESPACE NAME MODE NOW NEW
$h_owner $h_pid nslock-shell BETA ^MyGlobal(15) Exclusive ALPHADB,BETADB BETADB,USERDB
$TMP/new.yaml: 1 of 5 locks on the server would move
END
sed -e 's/  */ /g' -e 's/^ //' "$TMP/out" >"$TMP/got"
diff -u "$TMP/want" "$TMP/got" >&2 || fail "moved locks differ"

# A new map that moves the waiting request's name too, and drops BETA.
sed -e 's/MyGlobal(15): ALPHADB/MyGlobal(16): ALPHADB/' "$CONFIG" >"$TMP/new2.yaml"
expect_status 1 "$NSLOCK" validate --against-server "$TMP/new2.yaml" >"$TMP/out" 2>&1
grep -c 'MyGlobal(1[56])' "$TMP/out" | grep -qx 3 || fail "two holders and a waiter: $(cat "$TMP/out")"
grep -Eq 'WaitExclusive +BETADB +ALPHADB,BETADB' "$TMP/out" || fail "the waiter: $(cat "$TMP/out")"
awk '/^namespaces:/ { exit } { print }' "$CONFIG" >"$TMP/nobeta.yaml"
printf 'namespaces:\n  USER: { globals: USERDB }\n  ALPHA: { globals: ALPHADB }\n  BETADB2: { globals: BETADB }\n' \
    >>"$TMP/nobeta.yaml"
expect_status 1 "$NSLOCK" validate --against-server "$TMP/nobeta.yaml" >"$TMP/out" 2>&1
grep -q '(no namespace BETA)' "$TMP/out" || fail "a namespace gone: $(cat "$TMP/out")"

# An invalid file is not compared; no server is a connection error.
printf 'databases: {}\n' >"$TMP/bad.yaml"
expect_status 1 "$NSLOCK" validate --against-server "$TMP/bad.yaml" >"$TMP/out" 2>&1
grep -q 'not checked against the server' "$TMP/out" || fail "invalid file: $(cat "$TMP/out")"
expect_status 2 "$NSLOCK" validate --against-server --socket "$TMP/none.sock" "$CONFIG" >/dev/null 2>&1
expect_status 2 "$NSLOCK" validate --against-server "$CONFIG" "$CONFIG" 2>/dev/null
exit 0
