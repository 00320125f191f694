#!/bin/sh
# nslock remove: refuses without --yes when it cannot ask, asks listing how
# many entries and which, --dry-run removes nothing, --namespace, removes
# with --yes, reports how many entries went; the owner is told and the
# server logs who removed whose entries.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
command -v script >/dev/null || fail "script(1) is needed (bsdutils, scripts/install-deps)"
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

# --dry-run lists what would go and removes nothing (no terminal needed).
"$NSLOCK" remove --owner "$owner" --dry-run </dev/null >"$TMP/out" 2>&1 ||
    fail "remove --dry-run: status $? ($(cat "$TMP/out"))"
grep -q '^would remove 3 entries:$' "$TMP/out" || fail "dry run: $(cat "$TMP/out")"
grep -q 'ALPHADB *\^MyGlobal(15) *BETA' "$TMP/out" || fail "dry run lists: $(cat "$TMP/out")"
grep -q 'USERDB *x ' "$TMP/out" || fail "dry run lists: $(cat "$TMP/out")"
[ "$("$NSLOCK" show -r -n | wc -l)" -eq 3 ] || fail "--dry-run removed entries"
"$NSLOCK" remove --name '^nothing' --dry-run >"$TMP/out" 2>&1
[ $? -eq 1 ] || fail "dry run of nothing: status"
grep -q 'would remove 0 entries: nothing matches name \^nothing' "$TMP/out" ||
    fail "dry run of nothing: $(cat "$TMP/out")"

# On a terminal it asks, saying how many entries and which; "n" keeps them.
printf 'n\n' | script -qec "\"$NSLOCK\" remove --owner $owner" /dev/null >"$TMP/out" 2>&1
status=$?
[ "$status" -eq 1 ] || fail "not confirmed: status $status ($(cat "$TMP/out"))"
grep -q "3 held entries match owner $owner:" "$TMP/out" || fail "prompt: $(cat "$TMP/out")"
grep -q 'BETADB *\^MyGlobal(15) *BETA' "$TMP/out" || fail "prompt lists: $(cat "$TMP/out")"
grep -q 'Remove these 3 entries? \[y/N\]' "$TMP/out" || fail "prompt: $(cat "$TMP/out")"
grep -q 'not confirmed; nothing removed' "$TMP/out" || fail "refusal: $(cat "$TMP/out")"
[ "$("$NSLOCK" show -r -n | wc -l)" -eq 3 ] || fail "entries removed without a yes"

# By database: only that database's entry goes.
got=$("$NSLOCK" remove --owner "$owner" --database BETADB --yes) || fail "remove --database failed"
[ "$got" = "removed 1 entry" ] || fail "remove --database: '$got'"
got=$("$NSLOCK" show -r -n -o DATABASE,NAME)
[ "$got" = "ALPHADB ^MyGlobal(15)
USERDB x" ] || fail "after remove --database: '$got'"

# The owner's next request is told of the removal, not run; then it goes on.
echo 'LOCK +y' >&3
wait_lines "$TMP/a.out" 'removed by session [0-9]* (uid [0-9]*, pid [0-9]*, client nslock-remove): 1 entry of this session, e.g. \^MyGlobal(15) in BETADB' 1
echo 'LOCK +y' >&3
wait_lines "$TMP/a.out" '^\$TEST=1' 3
grep -q "REMOVE by session [0-9]* (uid $(id -u), pid [0-9]*, client nslock-remove) \[owner=$owner database=BETADB\]: removed 1 entry of session $owner (1)" "$TMP/server.log" ||
    fail "no who/whose line in the server log"

# --namespace: only the entries of locks taken there. A second session in
# USER holds twelve; the prompt lists ten and counts the rest.
session_open b 4
echo 'SESSION' >&4
echo 'LOCK +(^m(1),^m(2),^m(3),^m(4),^m(5),^m(6),^m(7),^m(8),^m(9),^m(10),^m(11),^m(12))' >&4
wait_lines "$TMP/b.out" '^\$TEST=1' 1
printf 'no\n' | script -qec "\"$NSLOCK\" remove -N USER" /dev/null >"$TMP/out" 2>&1
grep -q '12 held entries match namespace USER:' "$TMP/out" || fail "prompt: $(cat "$TMP/out")"
grep -q '^  and 2 more' "$TMP/out" || fail "prompt does not count the rest: $(cat "$TMP/out")"
got=$("$NSLOCK" remove --namespace USER --yes) || fail "remove --namespace failed"
[ "$got" = "removed 12 entries" ] || fail "remove --namespace: '$got'"
got=$("$NSLOCK" show -r -n -o NAME,NAMESPACE)
[ "$got" = "^MyGlobal(15) BETA
x BETA
y BETA" ] || fail "after remove --namespace: '$got'"

# By owner: the rest; "y" on the terminal.
printf 'y\n' | script -qec "\"$NSLOCK\" remove --owner $owner" /dev/null >"$TMP/out" 2>&1 ||
    fail "confirmed remove: status $? ($(cat "$TMP/out"))"
grep -q 'removed 3 entries' "$TMP/out" || fail "remove --owner: $(cat "$TMP/out")"
[ -z "$("$NSLOCK" show -r -n)" ] || fail "entries left after remove --owner"

# Nothing matches: exit 1 and says so.
"$NSLOCK" remove --owner "$owner" --yes >"$TMP/out" 2>&1
status=$?
[ "$status" -eq 1 ] || fail "remove of nothing: status $status"
grep -q 'removed 0 entries' "$TMP/out" || fail "remove of nothing: $(cat "$TMP/out")"

expect_status 2 "$NSLOCK" remove --yes 2>/dev/null
expect_status 2 "$NSLOCK" remove --owner 0 --yes 2>/dev/null
expect_status 2 "$NSLOCK" remove --pid x --yes 2>/dev/null
expect_status 2 "$NSLOCK" remove --name '^a(' --yes 2>/dev/null
expect_status 2 "$NSLOCK" remove --owner 1 --yes --socket "$TMP/absent.sock" 2>/dev/null
expect_status 0 "$NSLOCK" remove --help >/dev/null
"$NSLOCK" remove --help | grep -q -- '--dry-run' || fail "--help does not list --dry-run"
"$NSLOCK" remove --help | grep -q 'Exit status' || fail "--help does not give exit codes"
exit 0
