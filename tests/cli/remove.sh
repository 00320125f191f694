#!/bin/sh
# nslock remove: refuses without --yes when it cannot ask, removes with it,
# reports how many entries went.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
start_server

session_open a 3 --namespace BETA
echo 'SESSION' >&3
echo 'LOCK +^MyGlobal(15)' >&3
echo 'LOCK +x' >&3
wait_lines "$TMP/a.out" '^\$TEST=1' 2
owner=$(sed -n 's/^session \([0-9][0-9]*\)$/\1/p' "$TMP/a.out")

# Standard input is not a terminal and there is no --yes: refused, exit 2.
"$NSLOCK" remove --owner "$owner" </dev/null >"$TMP/out" 2>"$TMP/err"
status=$?
[ "$status" -eq 2 ] || fail "remove without --yes: status $status"
grep -q 'refusing' "$TMP/err" || fail "no refusal message: $(cat "$TMP/err")"
grep -q -- '--yes' "$TMP/err" || fail "the message does not mention --yes: $(cat "$TMP/err")"
[ "$("$NSLOCK" show -r -n | wc -l)" -eq 3 ] || fail "entries were removed without confirmation"

# By database: only that database's entry goes.
got=$("$NSLOCK" remove --owner "$owner" --database BETADB --yes) || fail "remove --database failed"
[ "$got" = "removed 1 entry" ] || fail "remove --database: '$got'"
got=$("$NSLOCK" show -r -n -o DATABASE,NAME)
[ "$got" = "ALPHADB ^MyGlobal(15)
USERDB x" ] || fail "after remove --database: '$got'"

# By owner: the rest.
got=$("$NSLOCK" remove --owner "$owner" --yes) || fail "remove --owner failed"
[ "$got" = "removed 2 entries" ] || fail "remove --owner: '$got'"
[ -z "$("$NSLOCK" show -r -n)" ] || fail "entries left after remove --owner"

# Nothing matches: exit 1 and says so.
"$NSLOCK" remove --owner "$owner" --yes >"$TMP/out" 2>&1
status=$?
[ "$status" -eq 1 ] || fail "remove of nothing: status $status"
grep -q 'removed 0 entries' "$TMP/out" || fail "remove of nothing: $(cat "$TMP/out")"

# The session still works after its locks were removed.
echo 'LOCK +y' >&3
wait_lines "$TMP/a.out" '^\$TEST=1' 3

expect_status 2 "$NSLOCK" remove --yes 2>/dev/null
expect_status 2 "$NSLOCK" remove --owner 0 --yes 2>/dev/null
expect_status 2 "$NSLOCK" remove --pid x --yes 2>/dev/null
expect_status 2 "$NSLOCK" remove --owner 1 --yes --socket "$TMP/absent.sock" 2>/dev/null
expect_status 0 "$NSLOCK" remove --help >/dev/null
exit 0
