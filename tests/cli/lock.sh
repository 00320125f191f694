#!/bin/sh
# nslock lock: runs the command with the locks held, passes its exit status
# through, gives up with status 1 (or -E) after -w, releases afterwards.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
start_server

# The command's exit status comes back; the command sees its fencing token.
expect_status 0 "$NSLOCK" lock '^a(1)' -- true
expect_status 7 "$NSLOCK" lock '^a(1)' -- sh -c 'exit 7'
got=$("$NSLOCK" lock '^a(1)' -- sh -c 'echo "token=$NSLOCK_TOKEN"')
case $got in
token=[0-9]*) ;;
*) fail "NSLOCK_TOKEN not passed to the command: '$got'" ;;
esac
# A command killed by a signal: 128 + the signal, as a shell reports it.
expect_status 143 "$NSLOCK" lock '^a(1)' -- sh -c 'kill -TERM $$'
expect_status 127 "$NSLOCK" lock '^a(1)' -- "$TMP/no-such-command" 2>/dev/null

# While the command runs, the locks are in the table, taken in -n's namespace.
got=$("$NSLOCK" lock -n BETA '^MyGlobal(15)' 'y' -- "$NSLOCK" show -r -n -o DATABASE,NAME,CLIENT,NAMESPACE)
want="ALPHADB ^MyGlobal(15) nslock-lock BETA
BETADB ^MyGlobal(15) nslock-lock BETA
USERDB y nslock-lock BETA"
[ "$got" = "$want" ] || fail "locks while the command runs: got '$got'"
# ... and gone once it has ended.
got=$("$NSLOCK" show -r -n)
[ -z "$got" ] || fail "locks left after the command: '$got'"

# Another session holds ^held: -w gives up with status 1 and does not run
# the command; -E changes that status; -s shares with a shared holder.
session_open h 3
echo 'LOCK +^held#"S"' >&3
wait_lines "$TMP/h.out" '^\$TEST=1' 1
expect_status 1 "$NSLOCK" lock -w 0.2 '^held' -- touch "$TMP/ran" 2>"$TMP/lock.err"
[ ! -e "$TMP/ran" ] || fail "the command ran without its lock"
grep -q 'not granted within 0.2 seconds: ^held' "$TMP/lock.err" || fail "message: $(cat "$TMP/lock.err")"
expect_status 9 "$NSLOCK" lock -w 0 -E 9 '^held' '^free' -- true 2>/dev/null
expect_status 0 "$NSLOCK" lock -s -w 0 '^held' -- true
# All or nothing: ^free was not kept from the refused request above.
got=$("$NSLOCK" show -r -n -o NAME)
[ "$got" = "^held" ] || fail "after the refused request: '$got'"

# Without -w it waits: released by the holder, the command runs.
"$NSLOCK" lock '^held' -- touch "$TMP/ran-later" &
waiter=$!
waiting() {
    "$NSLOCK" show -r -n -o MODE | grep -q '^WaitExclusive$'
}
poll "the lock command to wait" waiting
[ ! -e "$TMP/ran-later" ] || fail "ran before the lock was granted"
echo 'LOCK -^held#"S"' >&3
wait "$waiter" || fail "the waiting lock command failed"
[ -e "$TMP/ran-later" ] || fail "the command did not run after the grant"

# The lock lasts as long as the command, whatever happens to nslock lock:
# killed with SIGKILL, its command (which shrugs off the SIGTERM it is then
# sent) still holds the lock until it ends, as flock(1)'s would.
"$NSLOCK" lock '^K' -- sh -c "trap 'echo term >>$TMP/k.out' TERM; echo started >$TMP/k.out; sleep 1; sleep 1; echo done >>$TMP/k.out" &
kpid=$!
wait_lines "$TMP/k.out" started 1
kill -9 "$kpid"
wait "$kpid" 2>/dev/null
wait_lines "$TMP/k.out" term 1
expect_status 1 "$NSLOCK" lock -w 0 '^K' -- true 2>/dev/null
wait_lines "$TMP/k.out" done 1
poll "the lock to go with the command" "$NSLOCK" lock -w 0 '^K' -- true 2>/dev/null

# Usage errors: exit 2.
expect_status 2 "$NSLOCK" lock '^a' true 2>/dev/null
expect_status 2 "$NSLOCK" lock -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock '^a' -- 2>/dev/null
expect_status 2 "$NSLOCK" lock -w soon '^a' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock -w -1 '^a' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock '^a(' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock -n NOSUCH '^a' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock --socket "$TMP/absent.sock" '^a' -- true 2>/dev/null
expect_status 0 "$NSLOCK" lock --help >/dev/null
exit 0
