#!/bin/sh
# nslock show -J is the server's JSON document (SHOW json): always valid
# JSON and valid UTF-8, read here with a real parser. An empty table; a
# waiter with two blockers (numbers in an array); a waiter for room in a
# full table (waits_for "table-full"); names holding bytes that are not
# UTF-8 (written $C(n)). max_entries is 4 for the table-full case.
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
sed -i 's/^lock_table:$/lock_table:\n  max_entries: 4/' "$CONFIG"
start_server

# check_json FILE PYTHON-EXPRESSION: FILE parses (strict UTF-8) and the
# expression on its "locks" (as L) is true.
check_json() {
    /usr/bin/python3 - "$1" "$2" <<'PY' || fail "$2 is false for: $(cat "$1")"
import json, sys
data = open(sys.argv[1], 'rb').read().decode('utf-8')   # raises on invalid UTF-8
L = json.loads(data)['locks']
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}

"$NSLOCK" show -J >"$TMP/empty.json" || fail "show -J on an empty table"
check_json "$TMP/empty.json" 'L == []'

session_open a 3
session_open b 4
session_open c 5
echo 'SESSION' >&3
echo 'SESSION' >&4
echo 'SESSION' >&5
wait_lines "$TMP/a.out" '^session ' 1
wait_lines "$TMP/b.out" '^session ' 1
wait_lines "$TMP/c.out" '^session ' 1
owner_a=$(sed -n 's/^session \([0-9][0-9]*\)$/\1/p' "$TMP/a.out")
owner_b=$(sed -n 's/^session \([0-9][0-9]*\)$/\1/p' "$TMP/b.out")
owner_c=$(sed -n 's/^session \([0-9][0-9]*\)$/\1/p' "$TMP/c.out")

# two shared holders, then an exclusive waiter behind both
echo 'LOCK +x(1)#"S"' >&3
echo 'LOCK +x(1)#"S"' >&4
wait_lines "$TMP/a.out" '^\$TEST=1 token=' 1
wait_lines "$TMP/b.out" '^\$TEST=1 token=' 1
echo 'LOCK +x(1):60' >&5
waiting() { "$NSLOCK" show -r -n -o MODE | grep -q '^WaitExclusive$'; }
poll "the exclusive waiter" waiting
"$NSLOCK" show -J >"$TMP/two.json" || fail "show -J"
check_json "$TMP/two.json" "[sorted(r['blockers']) for r in L if r['mode'] == 'WaitExclusive'] == [sorted([$owner_a, $owner_b])]"
check_json "$TMP/two.json" "[r['waits_for'] for r in L if r['mode'] == 'WaitExclusive'] == ['owners']"
check_json "$TMP/two.json" "all(r['blockers'] == [] and r['waits_for'] is None for r in L if r['mode'] == 'Shared')"
# a single blocker is an array of one, too
"$NSLOCK" show -J --waiters-only -o BLOCKERS >"$TMP/one.json"
check_json "$TMP/one.json" "[(sorted(r['blockers']), r['waits_for']) for r in L] == [(sorted([$owner_a, $owner_b]), 'owners')] and list(L[0]) == ['blockers', 'waits_for']"

# names with bytes that are not UTF-8 (and a control byte), two entries
printf 'LOCK +y("a\377b")\n' >&3
printf 'LOCK +y("\300\t")\n' >&3
wait_lines "$TMP/a.out" '^\$TEST=1 token=' 3
"$NSLOCK" show -J >"$TMP/bad.json" || fail "show -J with odd names"
check_json "$TMP/bad.json" "sorted(r['name'] for r in L if r['name'].startswith('y')) == sorted(['y(\"a\"_\$C(255)_\"b\")', 'y(\$C(192,9))'])"

# the table holds 4 entries now: one more request waits for room
echo 'LOCK +z(1):60' >&4
full() { "$NSLOCK" show -r -n -o MODE,BLOCKERS --owner "$owner_b" | grep -q '^WaitExclusive table-full$'; }
poll "the table-full waiter" full
"$NSLOCK" show -J >"$TMP/full.json" || fail "show -J with a full table"
check_json "$TMP/full.json" "[(r['blockers'], r['waits_for']) for r in L if r['name'] == 'z(1)'] == [([], 'table-full')]"
exit 0
