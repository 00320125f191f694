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

# While the command runs, the locks are in the table, taken in -N's namespace.
got=$("$NSLOCK" lock -N BETA '^MyGlobal(15)' 'y' -- "$NSLOCK" show -r -n -o DATABASE,NAME,CLIENT,NAMESPACE)
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
expect_status 2 "$NSLOCK" lock -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock '^a' -- 2>/dev/null
expect_status 2 "$NSLOCK" lock -w soon '^a' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock -w -1 '^a' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock '^a(' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock -N NOSUCH '^a' -- true 2>"$TMP/err"
grep -q "unknown namespace 'NOSUCH'" "$TMP/err" || fail "unknown namespace: $(cat "$TMP/err")"
expect_status 2 "$NSLOCK" lock '^a' -c 2>/dev/null
expect_status 2 "$NSLOCK" lock '^a' -c 'true' extra 2>/dev/null
expect_status 2 "$NSLOCK" lock -c true '^a' -- true 2>/dev/null
expect_status 2 "$NSLOCK" lock '^a' 2>/dev/null
expect_status 2 "$NSLOCK" lock --socket "$TMP/absent.sock" '^a' -- true 2>/dev/null
expect_status 0 "$NSLOCK" lock --help >/dev/null

# flock(1)'s forms: NAME COMMAND ARGS..., NAME -c 'LINE' (through /bin/sh),
# and -c before several names.
expect_status 5 "$NSLOCK" lock '^f' sh -c 'exit 5'
expect_status 0 "$NSLOCK" lock '^f' -c "echo one >$TMP/c1; echo two >>$TMP/c1"
[ "$(cat "$TMP/c1")" = "one
two" ] || fail "-c after the name: '$(cat "$TMP/c1")'"
got=$("$NSLOCK" lock -c "\"$NSLOCK\" show -r -n -o NAME" '^f1' '^f2')
[ "$got" = "^f1
^f2" ] || fail "-c before the names: '$got'"
# A command's own -- goes to it when the names end with --.
got=$("$NSLOCK" lock '^f' -- sh -c 'echo "$@"' sh -- x)
[ "$got" = "-- x" ] || fail "the command's own --: '$got'"

# -n/--nonblock: a held lock fails at once with status 1 (or -E), the
# command not run; -x is exclusive (the default), -s shares with a shared
# holder; the last of -s and -x counts.
echo 'LOCK +^held#"S"' >&3
wait_lines "$TMP/h.out" '^\$TEST=1' 2
expect_status 1 "$NSLOCK" lock -n '^held' -- touch "$TMP/ran-nb" 2>"$TMP/nb.err"
[ ! -e "$TMP/ran-nb" ] || fail "-n: the command ran without its lock"
grep -q 'not granted at once: ^held' "$TMP/nb.err" || fail "-n message: $(cat "$TMP/nb.err")"
expect_status 7 "$NSLOCK" lock --nonblock -E 7 '^held' true 2>/dev/null
expect_status 7 "$NSLOCK" lock --nb --conflict-exit-code=7 '^held' true 2>/dev/null
expect_status 1 "$NSLOCK" lock -x -n '^held' true 2>/dev/null
expect_status 1 "$NSLOCK" lock -s -x -n '^held' true 2>/dev/null
expect_status 1 "$NSLOCK" lock -e -n '^held' true 2>/dev/null
expect_status 0 "$NSLOCK" lock -x -s -n '^held' true
expect_status 0 "$NSLOCK" lock --shared --nonblock '^held' true
got=$("$NSLOCK" lock -s -n '^held' -- "$NSLOCK" show -r -n -o MODE,CLIENT)
case $got in *"Shared nslock-lock"*) ;; *) fail "-s took: '$got'" ;; esac

# --verbose says how long getting the locks took and what it runs.
"$NSLOCK" lock --verbose '^v' true 2>"$TMP/verbose.err" || fail "--verbose"
grep -q '^nslock: lock: getting the lock took [0-9.]* seconds' "$TMP/verbose.err" ||
    fail "--verbose: $(cat "$TMP/verbose.err")"
grep -q '^nslock: lock: executing true$' "$TMP/verbose.err" || fail "--verbose: $(cat "$TMP/verbose.err")"

# -n was once the namespace: a name that is a namespace is pointed out.
expect_status 0 "$NSLOCK" lock -n BETA '^x' -- true 2>"$TMP/beta.err"
grep -q 'BETA is a namespace; did you mean -N BETA?' "$TMP/beta.err" ||
    fail "-n BETA: $(cat "$TMP/beta.err")"

# Messages are words, never the protocol's codes.
"$NSLOCK" lock -N NOSUCH '^a' true 2>"$TMP/words.err"
"$NSLOCK" lock '^a(' true 2>>"$TMP/words.err"
"$NSLOCK" lock '^[\"NODB\"]a' true 2>>"$TMP/words.err"
! grep -E '(NAMESPACE|SYNTAX|SUBSCRIPT|COMMAND): ' "$TMP/words.err" ||
    fail "wire codes in messages: $(cat "$TMP/words.err")"

# The server is found through server.socket of --config when neither
# --socket nor $NSLOCK_SOCKET names it.
(unset NSLOCK_SOCKET; "$NSLOCK" lock --config "$CONFIG" '^cfg' -- touch "$TMP/ran-cfg") ||
    fail "lock --config did not reach the server of server.socket"
[ -e "$TMP/ran-cfg" ] || fail "lock --config: the command did not run"
# --socket wins over $NSLOCK_SOCKET, which wins over --config.
expect_status 2 "$NSLOCK" lock --config "$CONFIG" --socket "$TMP/absent.sock" '^a' true 2>/dev/null
(NSLOCK_SOCKET=$TMP/absent.sock; export NSLOCK_SOCKET; expect_status 2 "$NSLOCK" lock --config "$CONFIG" '^a' true 2>/dev/null) ||
    exit 1

# No server: said so, with what to do; a missing directory is named.
expect_status 2 "$NSLOCK" lock --socket "$TMP/nodir/x.sock" '^a' true 2>"$TMP/nodir.err"
grep -q "the socket's directory $TMP/nodir does not exist" "$TMP/nodir.err" ||
    fail "missing directory: $(cat "$TMP/nodir.err")"
grep -q "start 'nslock serve'" "$TMP/nodir.err" || fail "no advice: $(cat "$TMP/nodir.err")"
exit 0
