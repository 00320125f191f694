#!/bin/sh
# nslock shell, scripted (standard input not a terminal): LOCK commands,
# NS, transactions, SHOW, RESOLVE, STATS, errors, QUIT.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
start_server

# Another session holds ^busy (in BETADB), so a timed LOCK in the script times out.
session_open other 3 --namespace BETA
echo 'LOCK +^busy' >&3
wait_lines "$TMP/other.out" '^\$TEST=1' 1

"$NSLOCK" shell >"$TMP/out" 2>"$TMP/err" <<'SCRIPT'
; a comment, then a blank line

NS BETA
LOCK +^MyGlobal(15)
L +^busy:0
LOCK +^MyGlobal(15)#"S":0.5
TSTART
LOCK -^MyGlobal(15)
LOCK -^MyGlobal(15)#"S"
SHOW nowaiters database=ALPHADB
TCOMMIT
SHOW database=ALPHADB
RESOLVE ^MyGlobal(15)
LOCK +^MyGlobal(
TROLLBACK
BOGUS
NS NOSUCH
ping
QUIT
LOCK +^never
SCRIPT
status=$?
[ "$status" -eq 1 ] || fail "a script with failed requests: exit status $status, expected 1"

# stdout, line by line (the SHOW tables are checked after).
sed -n '1,6p' "$TMP/out" | sed 's/token=[0-9][0-9]*/token=N/' >"$TMP/head"
cat >"$TMP/head.expected" <<'EXPECTED'
OK
$TEST=1 token=N
$TEST=0
$TEST=1 token=N
$TLEVEL=1
OK
EXPECTED
diff -u "$TMP/head.expected" "$TMP/head" >&2 || fail "shell results differ"
[ "$(sed -n 7p "$TMP/out")" = "OK" ] || fail "line 7: $(sed -n 7p "$TMP/out")"
# SHOW inside the transaction: both counts released, the entry in delock state.
sed -n 8p "$TMP/out" | grep -q '^DATABASE  *DIRECTORY  *OWNER' || fail "no SHOW table: $(cat "$TMP/out")"
sed -n 9p "$TMP/out" | grep -q '^ALPHADB .*->Delock.* \^MyGlobal(15) ' \
    || fail "no delock row: $(sed -n 9p "$TMP/out")"
[ "$(sed -n 10p "$TMP/out")" = '$TLEVEL=0' ] || fail "TCOMMIT: $(sed -n 10p "$TMP/out")"
# After TCOMMIT nothing is left in ALPHADB.
[ "$(sed -n 11p "$TMP/out")" = "(no entries)" ] || fail "second SHOW: $(sed -n 11p "$TMP/out")"
sed -n 12p "$TMP/out" | tr -s ' ' | grep -q '^DATABASE DIRECTORY RULE MAPPING' \
    || fail "RESOLVE header: $(sed -n 12p "$TMP/out")"
sed -n 13p "$TMP/out" | tr -s ' ' | grep -q '^ALPHADB /data/alpha map ' || fail "RESOLVE row 1: $(sed -n 13p "$TMP/out")"
sed -n 14p "$TMP/out" | tr -s ' ' | grep -q '^BETADB /data/beta namespace *$' || fail "RESOLVE row 2: $(sed -n 14p "$TMP/out")"
[ "$(sed -n 15p "$TMP/out")" = "PONG" ] || fail "PING: $(sed -n 15p "$TMP/out")"
[ "$(wc -l <"$TMP/out")" -eq 15 ] || fail "more output than expected (after QUIT?): $(cat "$TMP/out")"

# stderr: the errors, each naming its code, in order; the syntax error
# shows its line with a caret under the column.
cat >"$TMP/caret.expected" <<'EXPECTED'
LOCK +^MyGlobal(
                ^
EXPECTED
sed -n 1,2p "$TMP/err" | diff -u "$TMP/caret.expected" - >&2 || fail "no caret: $(cat "$TMP/err")"
sed -n '3,$p' "$TMP/err" | grep -n . | sed 's/ .*//' >"$TMP/codes"
cat >"$TMP/codes.expected" <<'EXPECTED'
1:ERR
2:ERR
3:nslock:
4:ERR
EXPECTED
diff -u "$TMP/codes.expected" "$TMP/codes" >&2 || fail "errors: $(cat "$TMP/err")"
sed -n 3p "$TMP/err" | grep -q '^ERR SYNTAX column 17: expected a subscript' || fail "bad name: $(sed -n 3p "$TMP/err")"
sed -n 4p "$TMP/err" | grep -q '^ERR COMMAND ' || fail "TROLLBACK outside: $(sed -n 4p "$TMP/err")"
sed -n 5p "$TMP/err" | grep -q "unknown request 'BOGUS'" || fail "BOGUS: $(sed -n 5p "$TMP/err")"
sed -n 6p "$TMP/err" | grep -q '^ERR NAMESPACE ' || fail "NS NOSUCH: $(sed -n 6p "$TMP/err")"

# QUIT ended the session: nothing of it is left, ^never was not requested.
got=$("$NSLOCK" show -r -n -o NAME)
[ "$got" = "^busy" ] || fail "after the script: '$got'"

# A clean script exits 0; end of input is QUIT.
printf 'LOCK +x\nSTATS\n' | "$NSLOCK" shell >"$TMP/out2" 2>&1 || fail "clean script: $(cat "$TMP/out2")"
grep -q '^entries  *[0-9]' "$TMP/out2" || fail "STATS in the shell: $(cat "$TMP/out2")"
# --namespace sets the namespace before the first request.
printf 'LOCK +^MyGlobal(15)\nSHOW name=^MyGlobal\n' | "$NSLOCK" shell --namespace beta >"$TMP/out3" 2>&1 \
    || fail "--namespace: $(cat "$TMP/out3")"
[ "$(grep -c '^ALPHADB .* \^MyGlobal(15) *BETA \|^BETADB .* \^MyGlobal(15) *BETA ' "$TMP/out3")" -eq 2 ] \
    || fail "--namespace: not taken in BETA: $(cat "$TMP/out3")"

# $TEST as in M: 1 at the start, set by a timed LOCK (per argument), left
# as it was by an untimed one; WRITE shows it; ZSHOW "L" lists the session's
# locks as GT.M does, those of another namespace as extended references.
"$NSLOCK" shell >"$TMP/m.out" 2>"$TMP/m.err" <<'SCRIPT'
W $TEST
LOCK +^u
NS BETA
L +^busy:0
w $t
LOCK +^free(1)
WRITE "T=",$TEST,!
LOCK +^free(2):1,+^busy:0,+^free(3)
W $T
LOCK +^free(4):0
w $test,", level ",$TL
LOCK +^MyGlobal(15)#"S",+^MyGlobal(15)#"S"
LOCK -^free(2),-^free(3)
ZSHOW "L"
zsh "l"
SCRIPT
[ $? -eq 0 ] || fail "the \$TEST script failed: $(cat "$TMP/m.err")"
sed 's/token=[0-9][0-9]*/token=N/' "$TMP/m.out" >"$TMP/m.got"
cat >"$TMP/m.expected" <<'EXPECTED'
1
$TEST=1 token=N
OK
$TEST=0
0
$TEST=0 token=N
T=0
$TEST=0 token=N
0
$TEST=1 token=N
1, level 0
$TEST=1 token=N
OK
LOCK ^|"USER"|u LEVEL=1
LOCK ^free(1) LEVEL=1
LOCK ^free(4) LEVEL=1
LOCK ^MyGlobal(15)#"S" LEVEL=2
LOCK ^|"USER"|u LEVEL=1
LOCK ^free(1) LEVEL=1
LOCK ^free(4) LEVEL=1
LOCK ^MyGlobal(15)#"S" LEVEL=2
EXPECTED
diff -u "$TMP/m.expected" "$TMP/m.got" >&2 || fail "\$TEST, WRITE, ZSHOW differ"

# Other mistakes in the shell's own syntax also point at their column.
"$NSLOCK" shell >/dev/null 2>"$TMP/c.err" <<'SCRIPT'
SHOW nowaiters bogus=1
W $TEST,$X
ZSHOW "D"
SCRIPT
[ $? -eq 1 ] || fail "bad requests: exit status, expected 1"
cat >"$TMP/c.expected" <<'EXPECTED'
SHOW nowaiters bogus=1
               ^
nslock: shell: unknown SHOW filter 'bogus' (HELP lists them)
W $TEST,$X
        ^
nslock: shell: WRITE shows $TEST, $TLEVEL, "text" and ! here, not '$X'
ZSHOW "D"
      ^
nslock: shell: ZSHOW shows "L" (this session's locks) only
EXPECTED
diff -u "$TMP/c.expected" "$TMP/c.err" >&2 || fail "carets differ"

expect_status 2 "$NSLOCK" shell --namespace NOSUCH </dev/null 2>/dev/null
expect_status 2 "$NSLOCK" shell --socket "$TMP/absent.sock" </dev/null 2>/dev/null
expect_status 2 "$NSLOCK" shell extra </dev/null 2>/dev/null
expect_status 0 "$NSLOCK" shell --help >/dev/null
exit 0
