#!/bin/sh
# Restart recovery from the command line (docs/DESIGN.md): the server is killed
# with SIGKILL and started again; a shell and an `nslock lock` keep what
# they held, and nobody else gets it meanwhile. When the server does not
# come back within its grace, `nslock lock` stops its command and exits 3.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
sed -i 's/^server:$/server:\n  recovery_grace_s: 1/' "$CONFIG"

crash() {
    kill -9 "$server_pid"
    wait "$server_pid" 2>/dev/null
}

# After a crash the old socket file is still there: wait for an answer.
answers() {
    "$NSLOCK" stats >/dev/null 2>&1
}
restart() {
    start_server
    poll "the restarted server to answer" answers
}

restart

# A shell holding ^held(1): after the restart it says it reclaimed it, and
# a one-shot competitor is not granted it.
session_open sh 3
echo 'LOCK +^held(1)' >&3
wait_lines "$TMP/sh.out" '^\$TEST=1' 1
crash
restart
wait_lines "$TMP/sh.out" 'reconnected to the server (epoch 2); reclaimed 1 lock$' 1
expect_status 1 "$NSLOCK" lock -w 0 '^held(1)' -- true 2>/dev/null
# the shell goes on in the same session
echo 'LOCK -^held(1)' >&3
echo 'LOCK +^held(2)' >&3
wait_lines "$TMP/sh.out" '^\$TEST=1' 2
expect_status 0 "$NSLOCK" lock -w 0 '^held(1)' -- true

# nslock lock: the command runs on across the restart, its lock held.
"$NSLOCK" lock '^job' -- sh -c "echo started >$TMP/job.out; sleep 2; echo done >>$TMP/job.out" &
job=$!
wait_lines "$TMP/job.out" started 1
crash
restart
expect_status 1 "$NSLOCK" lock -w 0.5 '^job' -- true 2>/dev/null
wait "$job"
status=$?
[ "$status" -eq 0 ] || fail "nslock lock exited $status across a restart"
grep -q done "$TMP/job.out" || fail "the command did not finish"

# Lost: the server stays away past its grace; the command gets SIGTERM and
# nslock lock exits 3.
"$NSLOCK" lock '^long' -- sh -c "echo started >$TMP/long.out; exec sleep 30" 2>"$TMP/long.err" &
long=$!
wait_lines "$TMP/long.out" started 1
crash
wait "$long"
status=$?
[ "$status" -eq 3 ] || fail "nslock lock exited $status when its locks were lost, expected 3"
grep -q 'the locks were lost' "$TMP/long.err" || fail "message: $(cat "$TMP/long.err")"
# Started again, it waits (1 s) for the sessions that are gone: show and
# stats say so.
restart
"$NSLOCK" stats >"$TMP/stats.out" 2>&1
"$NSLOCK" show >/dev/null 2>"$TMP/show.err"
grep -q '^recovering *1$' "$TMP/stats.out" || fail "stats while recovering: $(cat "$TMP/stats.out")"
grep -q 'the server is recovering after a restart: it waits for [0-9]* session' "$TMP/show.err" ||
    fail "show while recovering: $(cat "$TMP/show.err")"
echo QUIT >&3
exit 0
