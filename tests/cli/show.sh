#!/bin/sh
# nslock show against a live server in a known state: two sessions, one
# holding ^MyGlobal(15) from BETA (entries in ALPHADB and BETADB, docs/CONFIG.md)
# and x(1) shared, the other waiting for ^MyGlobal(15) from ALPHA. Checks
# the -J output field by field, the table, -r/-n/-o, the filters.
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

# -J: every field of every row; SINCE is checked for its form, then masked.
"$NSLOCK" show -J >"$TMP/show.json" || fail "show -J failed"
since_re='"since": "[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9][0-9][0-9]Z"'
[ "$(grep -c "$since_re" "$TMP/show.json")" -eq 4 ] \
    || fail "SINCE not ISO 8601 UTC with milliseconds in every row: $(cat "$TMP/show.json")"
sed 's/"since": "[^"]*"/"since": "T"/' "$TMP/show.json" >"$TMP/show.masked"
cat >"$TMP/show.expected" <<EXPECTED
{
   "locks": [
      {
         "database": "ALPHADB",
         "directory": "/data/alpha",
         "owner": $owner_a,
         "pid": $a_pid,
         "client": "nslock-shell",
         "mode": "Exclusive",
         "name": "^MyGlobal(15)",
         "namespace": "BETA",
         "since": "T",
         "token": $token_1,
         "blockers": null
      },{
         "database": "ALPHADB",
         "directory": "/data/alpha",
         "owner": $owner_b,
         "pid": $b_pid,
         "client": "nslock-shell",
         "mode": "WaitExclusive",
         "name": "^MyGlobal(15)",
         "namespace": "ALPHA",
         "since": "T",
         "token": null,
         "blockers": "$owner_a"
      },{
         "database": "BETADB",
         "directory": "/data/beta",
         "owner": $owner_a,
         "pid": $a_pid,
         "client": "nslock-shell",
         "mode": "Exclusive",
         "name": "^MyGlobal(15)",
         "namespace": "BETA",
         "since": "T",
         "token": $token_1,
         "blockers": null
      },{
         "database": "USERDB",
         "directory": "/data/user",
         "owner": $owner_a,
         "pid": $a_pid,
         "client": "nslock-shell",
         "mode": "Shared",
         "name": "x(1)",
         "namespace": "BETA",
         "since": "T",
         "token": $token_2,
         "blockers": null
      }
   ]
}
EXPECTED
diff -u "$TMP/show.expected" "$TMP/show.masked" >&2 || fail "show -J differs from the expected table"

# The default table: the docs/PROTOCOL.md header, one line per row.
"$NSLOCK" show >"$TMP/show.txt" || fail "show failed"
[ "$(sed -n 1p "$TMP/show.txt" | tr -s ' ' | sed 's/^ //; s/ $//')" = \
  "DATABASE DIRECTORY OWNER PID CLIENT MODE NAME NAMESPACE SINCE TOKEN BLOCKERS" ] \
    || fail "table header: $(sed -n 1p "$TMP/show.txt")"
[ "$(wc -l <"$TMP/show.txt")" -eq 5 ] || fail "table: expected a header and 4 rows: $(cat "$TMP/show.txt")"

# The table form of --database ALPHADB, field by field: raw output keeps
# one space between cells, so an empty cell (TOKEN of a waiting row,
# BLOCKERS of a held one) shows as two spaces or a trailing one.
got=$("$NSLOCK" show -r --database ALPHADB | sed 's/ [0-9-]*T[0-9:.]*Z / T /')
want="DATABASE DIRECTORY OWNER PID CLIENT MODE NAME NAMESPACE SINCE TOKEN BLOCKERS
ALPHADB /data/alpha $owner_a $a_pid nslock-shell Exclusive ^MyGlobal(15) BETA T $token_1 
ALPHADB /data/alpha $owner_b $b_pid nslock-shell WaitExclusive ^MyGlobal(15) ALPHA T  $owner_a"
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
exit 0
