#!/bin/sh
# nslock show against a live server in a known state: two sessions, one
# holding ^MyGlobal(15) from BETA (entries in ALPHADB and BETADB, docs/CONFIG.md)
# and x(1) shared, the other waiting for ^MyGlobal(15) from ALPHA. Checks
# the -J output field by field, the table, -r/-n/-o, the filters, AGE
# and --sort, -u, --output-all, -H, --waiters-only, -N, --watch, the empty
# table, SINCE stable across calls.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
start_server

session_open a 3 --namespace BETA
echo 'SESSION' >&3
echo 'LOCK +^MyGlobal(15)' >&3
echo 'LOCK +x(1)#"S"' >&3
wait_lines "$TMP/a.out" '^\$TEST=1 token=[0-9][0-9]*$' 2
owner_a=$(sed -n 's/^session \([0-9][0-9]*\)$/\1/p' "$TMP/a.out")
token_1=$(sed -n 's/^\$TEST=1 token=//p' "$TMP/a.out" | sed -n 1p)
token_2=$(sed -n 's/^\$TEST=1 token=//p' "$TMP/a.out" | sed -n 2p)
[ -n "$owner_a" ] || fail "no session id from shell a: $(cat "$TMP/a.out")"

session_open b 4 --namespace ALPHA
echo 'SESSION' >&4
echo 'LOCK +^MyGlobal(15):60' >&4
wait_lines "$TMP/b.out" '^session ' 1
owner_b=$(sed -n 's/^session \([0-9][0-9]*\)$/\1/p' "$TMP/b.out")

waiter_shown() {
    "$NSLOCK" show -r -n -o MODE | grep -q '^WaitExclusive$'
}
poll "the waiting request in show" waiter_shown

# -J: the server's JSON document, one row per line; valid JSON; every
# field of every row; SINCE is checked for its form, AGE for a number.
"$NSLOCK" show -J >"$TMP/show.json" || fail "show -J failed"
/usr/bin/python3 -m json.tool "$TMP/show.json" >/dev/null || fail "show -J is not JSON: $(cat "$TMP/show.json")"
since_re='"since": "[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9][0-9][0-9]Z"'
[ "$(grep -c "$since_re" "$TMP/show.json")" -eq 4 ] \
    || fail "SINCE not ISO 8601 UTC with milliseconds in every row: $(cat "$TMP/show.json")"
sed 's/"since": "[^"]*"/"since": "T"/; s/"age": [0-9]*/"age": A/' "$TMP/show.json" >"$TMP/show.masked"
row() {
    printf '      {"database": "%s", "directory": "%s", "owner": %s, "pid": %s, "client": "nslock-shell", "mode": "%s", "name": "%s", "namespace": "%s", "since": "T", "age": A, "token": %s, "blockers": %s, "waits_for": %s}%s\n' "$@"
}
{
    echo '{'
    echo '   "locks": ['
    row ALPHADB /data/alpha "$owner_a" "$a_pid" Exclusive '^MyGlobal(15)' BETA "$token_1" '[]' null ,
    row ALPHADB /data/alpha "$owner_b" "$b_pid" WaitExclusive '^MyGlobal(15)' ALPHA null "[$owner_a]" '"owners"' ,
    row BETADB /data/beta "$owner_a" "$a_pid" Exclusive '^MyGlobal(15)' BETA "$token_1" '[]' null ,
    row USERDB /data/user "$owner_a" "$a_pid" Shared 'x(1)' BETA "$token_2" '[]' null ''
    echo '   ]'
    echo '}'
} >"$TMP/show.expected"
diff -u "$TMP/show.expected" "$TMP/show.masked" >&2 || fail "show -J differs from the expected table"

# -J -o: the server writes the keys asked for, in that order.
got=$("$NSLOCK" show -J -o NAME,OWNER --database USERDB | sed -n 3p)
[ "$got" = "      {\"name\": \"x(1)\", \"owner\": $owner_a}" ] || fail "show -J -o: got '$got'"

# SINCE is the same in two answers for an entry that did not change.
s1=$("$NSLOCK" show -r -n -o SINCE)
sleep 0.3
s2=$("$NSLOCK" show -r -n -o SINCE)
[ "$s1" = "$s2" ] || fail "SINCE moved between two calls: '$s1' then '$s2'"

# The default table: the docs/PROTOCOL.md header, one line per row.
"$NSLOCK" show >"$TMP/show.txt" || fail "show failed"
[ "$(sed -n 1p "$TMP/show.txt" | tr -s ' ' | sed 's/^ //; s/ $//')" = \
  "DATABASE DIRECTORY OWNER PID CLIENT MODE NAME NAMESPACE SINCE AGE TOKEN BLOCKERS" ] \
    || fail "table header: $(sed -n 1p "$TMP/show.txt")"
[ "$(wc -l <"$TMP/show.txt")" -eq 5 ] || fail "table: expected a header and 4 rows: $(cat "$TMP/show.txt")"

# The table form of --database ALPHADB, field by field: raw output keeps
# one space between cells, so an empty cell (TOKEN of a waiting row,
# BLOCKERS of a held one) shows as two spaces or a trailing one.
got=$("$NSLOCK" show -r --database ALPHADB | sed 's/ [0-9-]*T[0-9:.]*Z [0-9]* / T A /')
want="DATABASE DIRECTORY OWNER PID CLIENT MODE NAME NAMESPACE SINCE AGE TOKEN BLOCKERS
ALPHADB /data/alpha $owner_a $a_pid nslock-shell Exclusive ^MyGlobal(15) BETA T A $token_1 
ALPHADB /data/alpha $owner_b $b_pid nslock-shell WaitExclusive ^MyGlobal(15) ALPHA T A  $owner_a"
[ "$got" = "$want" ] || fail "show --database ALPHADB: got
$got
expected
$want"

# -r -n -o and the filters.
got=$("$NSLOCK" show -r -n -o DATABASE,NAME,MODE,OWNER --no-waiters)
want="ALPHADB ^MyGlobal(15) Exclusive $owner_a
BETADB ^MyGlobal(15) Exclusive $owner_a
USERDB x(1) Shared $owner_a"
[ "$got" = "$want" ] || fail "--no-waiters: got '$got'"
got=$("$NSLOCK" show -r -n -o DATABASE,MODE --database ALPHADB)
[ "$got" = "ALPHADB Exclusive
ALPHADB WaitExclusive" ] || fail "--database: got '$got'"
got=$("$NSLOCK" show -r -n -o OWNER,MODE --owner "$owner_b")
[ "$got" = "$owner_b WaitExclusive" ] || fail "--owner: got '$got'"
got=$("$NSLOCK" show -r -n -o NAME --namespace BETA --name 'x')
[ "$got" = "x(1)" ] || fail "--namespace --name: got '$got'"
got=$("$NSLOCK" show -r -n -o DATABASE --pid "$a_pid" --database USERDB)
[ "$got" = "USERDB" ] || fail "--pid: got '$got'"
got=$("$NSLOCK" show -r -n --owner 999999)
[ -z "$got" ] || fail "an owner that does not exist shows rows: '$got'"

# AGE: seconds with -r, human in the table; --sort AGE puts the oldest
# first, whatever the table's order; --sort combines with -r and -J.
sleep 1.1
ages=$("$NSLOCK" show -r -n -o AGE)
for a in $ages; do [ "$a" -ge 1 ] || fail "AGE with -r not seconds >= 1: '$ages'"; done
"$NSLOCK" show -o AGE -n | grep -q '^ *[0-9][0-9]*s$' || fail "AGE not like 4s: $("$NSLOCK" show -o AGE -n)"
got=$("$NSLOCK" show -r -n -o OWNER,MODE,NAME --sort AGE)
want="$owner_a Exclusive ^MyGlobal(15)
$owner_a Exclusive ^MyGlobal(15)
$owner_a Shared x(1)
$owner_b WaitExclusive ^MyGlobal(15)"
[ "$got" = "$want" ] || fail "--sort AGE: got
$got"
got=$("$NSLOCK" show -r -n -o OWNER --sort owner --database ALPHADB)
[ "$got" = "$owner_a
$owner_b" ] || fail "--sort owner: got '$got'"
"$NSLOCK" show -J --sort AGE -o OWNER | sed -n '$!{$!p}' | tail -n 2 | head -n 1 | grep -q "\"owner\": $owner_b}" \
    || fail "--sort AGE -J: the waiter is not last: $("$NSLOCK" show -J --sort AGE -o OWNER)"
expect_status 2 "$NSLOCK" show --sort NOSUCH 2>/dev/null

# --waiters-only, -N (as --namespace), --output-all, -u, -H.
got=$("$NSLOCK" show -r -n -o OWNER,MODE --waiters-only)
[ "$got" = "$owner_b WaitExclusive" ] || fail "--waiters-only: got '$got'"
got=$("$NSLOCK" show -r -n -o OWNER,MODE -N ALPHA)
[ "$got" = "$owner_b WaitExclusive" ] || fail "-N ALPHA: got '$got'"
got=$("$NSLOCK" show --output-all -r | sed -n 1p)
[ "$got" = "DATABASE DIRECTORY OWNER PID CLIENT MODE NAME NAMESPACE SINCE AGE TOKEN BLOCKERS" ] \
    || fail "--output-all header: '$got'"
# -u: a narrow terminal (a pty of 60 columns) cuts CLIENT short, unless -u
narrow() { script -qec "stty cols 60; $*" /dev/null; }
narrow "$NSLOCK" show --database USERDB | grep -q 'nslock-shell' && fail "60 columns do not truncate CLIENT"
narrow "$NSLOCK" show -u --database USERDB | grep -q 'nslock-shell' || fail "-u truncates CLIENT"
"$NSLOCK" show -H >"$TMP/cols.txt" || fail "show -H failed"
[ "$(sed -n 1p "$TMP/cols.txt" | tr -s ' ')" = "NAME DESCRIPTION" ] || fail "-H header: $(sed -n 1p "$TMP/cols.txt")"
[ "$(wc -l <"$TMP/cols.txt")" -eq 13 ] || fail "-H: expected 12 columns: $(cat "$TMP/cols.txt")"
grep -q '^AGE  *how long held or waited' "$TMP/cols.txt" || fail "-H lacks AGE: $(cat "$TMP/cols.txt")"
"$NSLOCK" show -H -J | /usr/bin/python3 -m json.tool >/dev/null || fail "show -H -J is not JSON"

# --watch with stdout not a terminal: one table after another, a blank
# line between; SIGINT ends it with status 0.
"$NSLOCK" show --watch 0.2 -r -n -o NAME --database USERDB >"$TMP/watch.out" 2>&1 &
watch_pid=$!
watched_twice() { [ "$(grep -c '^x(1)$' "$TMP/watch.out")" -ge 2 ]; }
poll "two redraws of --watch" watched_twice
kill -INT "$watch_pid"
wait "$watch_pid"
[ $? -eq 0 ] || fail "--watch did not exit 0 on SIGINT"
grep -q "^Every 0.2s: nslock show on $NSLOCK_SOCKET " "$TMP/watch.out" || fail "--watch header: $(cat "$TMP/watch.out")"
awk 'NR>1 && /^Every/ { if (prev != "") bad=1 } { prev=$0 } END { exit bad }' "$TMP/watch.out" \
    || fail "--watch tables not separated by a blank line: $(cat "$TMP/watch.out")"

# --socket names the socket explicitly.
got=$(NSLOCK_SOCKET=/nonexistent "$NSLOCK" show --socket "$NSLOCK_SOCKET" -r -n -o NAME --database USERDB)
[ "$got" = "x(1)" ] || fail "--socket: got '$got'"

# Releasing grants the waiter; its row turns into a held one.
echo 'LOCK' >&3
wait_lines "$TMP/b.out" '^\$TEST=1 token=' 1
got=$("$NSLOCK" show -r -n -o DATABASE,OWNER,MODE,NAMESPACE)
[ "$got" = "ALPHADB $owner_b Exclusive ALPHA" ] || fail "after release: got '$got'"

# Usage errors and an absent server: exit 2.
expect_status 2 "$NSLOCK" show -o NOSUCH 2>/dev/null
expect_status 2 "$NSLOCK" show --owner abc 2>/dev/null
expect_status 2 "$NSLOCK" show --bogus 2>/dev/null
expect_status 2 "$NSLOCK" show --socket "$TMP/absent.sock" 2>/dev/null
expect_status 0 "$NSLOCK" show --help >/dev/null

# An empty table: its header in table form, an empty array in JSON.
got=$("$NSLOCK" show --owner 999999)
[ "$(echo "$got" | tr -s ' ')" = "DATABASE DIRECTORY OWNER PID CLIENT MODE NAME NAMESPACE SINCE AGE TOKEN BLOCKERS" ] \
    || fail "empty table: got '$got'"
"$NSLOCK" show -J --owner 999999 >"$TMP/empty.json"
[ "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])))' "$TMP/empty.json")" = "{'locks': []}" ] \
    || fail "empty -J: $(cat "$TMP/empty.json")"
exit 0
