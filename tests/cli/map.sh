#!/bin/sh
# nslock map: the effective map of docs/CONFIG.md's BETA namespace, exactly, and the
# output options and errors.
# Usage: sh map.sh NSLOCK_BINARY FIXTURES_DIR
NSLOCK=$1
CONFIG=$2/../../docs/examples/three-namespaces.yaml
failures=0
tmp=${TMPDIR:-/tmp}/nsl-map-test.$$
trap 'rm -f "$tmp".out "$tmp".err "$tmp".exp' EXIT

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

cat >"$tmp".exp <<'END'
^% ^Config BETADB /data/beta (globals)
^Config ^Config(END) ALPHADB /data/alpha Config
^Config(END) ^Log BETADB /data/beta (globals)
^Log ^Loh USERDB /data/user Log*
^Loh ^MyGlobal(15) BETADB /data/beta (globals)
^MyGlobal(15) ^MyGlobal(15,END) ALPHADB /data/alpha MyGlobal(15)
^MyGlobal(15,END) ^Orders(1) BETADB /data/beta (globals)
^Orders(1) ^Orders(1000) ALPHADB /data/alpha Orders(1):(1000)
^Orders(1000) ^Orders("A") BETADB /data/beta (globals)
^Orders("A") ^Orders(END) USERDB /data/user Orders("A"):(END)
^Orders(END) ... BETADB /data/beta (globals)
(local) ... USERDB /data/user (local_locks)
END
"$NSLOCK" map --config "$CONFIG" --namespace BETA -r -n >"$tmp".out 2>&1 || fail "map of BETA: exit status"
cmp -s "$tmp".out "$tmp".exp || fail "map of BETA:
$(cat "$tmp".out)"

# A namespace without a map is one range; -N and lower case work.
out=$("$NSLOCK" map -c "$CONFIG" -N alpha -r -n 2>&1)
[ "$out" = '^% ... ALPHADB /data/alpha (globals)
(local) ... USERDB /data/user (local_locks)' ] || fail "map of ALPHA: $out"
# Default namespace (USER) and the embedded default configuration.
out=$("$NSLOCK" map -c "$CONFIG" -r -n -o DATABASE 2>&1)
[ "$out" = 'USERDB
USERDB' ] || fail "map of the default namespace: $out"

# --all: every namespace in file order with a NAMESPACE column, local names
# once at the end; exclusive with -N.
out=$("$NSLOCK" map -c "$CONFIG" --all -r -n 2>&1 | awk '{ print $1, $2, $4 }' | sed -n '1,3p;$p')
[ "$out" = 'USER ^% USERDB
ALPHA ^% ALPHADB
BETA ^% BETADB
(all) (local) USERDB' ] || fail "map --all: $out"
[ "$("$NSLOCK" map -c "$CONFIG" -a -r -n | wc -l)" -eq 14 ] || fail "map --all: row count"
"$NSLOCK" map -c "$CONFIG" --all -N BETA >/dev/null 2>"$tmp".err
[ $? -eq 2 ] || fail "--all with -N: exit status"
grep -q "exclude each other" "$tmp".err || fail "--all with -N: $(cat "$tmp".err)"

# Headings, the optional WHERE column, JSON.
"$NSLOCK" map -c "$CONFIG" -N BETA | head -n 1 | grep -q '^FROM *TO *DATABASE *DIRECTORY *RULE *$' ||
    fail "header line"
out=$("$NSLOCK" map -c "$CONFIG" -N BETA -r -n -o RULE,WHERE 2>&1 | sed -n 2p)
case $out in
    'Config '*three-namespaces.yaml:21:7) ;;
    *) fail "WHERE column: $out" ;;
esac
"$NSLOCK" map -c "$CONFIG" -N BETA -J >"$tmp".out 2>&1 || fail "-J: exit status"
grep -q '"map": \[' "$tmp".out || fail "-J: no map array"
grep -q '"from": "^Orders(\\"A\\")"' "$tmp".out || fail "-J: strings not escaped: $(cat "$tmp".out)"

# Errors: exit 2 and a message naming the culprit.
"$NSLOCK" map -c "$CONFIG" -N GAMMA >/dev/null 2>"$tmp".err
[ $? -eq 2 ] || fail "unknown namespace: exit status"
grep -q "unknown namespace 'GAMMA'" "$tmp".err || fail "unknown namespace: $(cat "$tmp".err)"
"$NSLOCK" map -c "$CONFIG" -o FROM,UPTO >/dev/null 2>"$tmp".err
[ $? -eq 2 ] || fail "unknown column: exit status"
grep -q "unknown column 'UPTO'" "$tmp".err || fail "unknown column: $(cat "$tmp".err)"
"$NSLOCK" map -c "$CONFIG" BETA >/dev/null 2>"$tmp".err
[ $? -eq 2 ] || fail "stray argument: exit status"
grep -q "unexpected argument 'BETA'" "$tmp".err || fail "stray argument: $(cat "$tmp".err)"
"$NSLOCK" map --help >"$tmp".out 2>&1 || fail "--help: exit status"
grep -q '^Usage: nslock map' "$tmp".out || fail "--help: no usage line"

# Options may follow operands; the only operands are --diff's files.
out=$("$NSLOCK" map -r -c "$CONFIG" -n -N ALPHA -o DATABASE | head -n 1)
[ "$out" = ALPHADB ] || fail "options in any order: $out"

[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
rm -f "$tmp".out "$tmp".err "$tmp".exp

# Without --config, the running server's configuration, never another one.
. "$(dirname "$0")/lib/client_server.sh"
"$NSLOCK" map --socket "$TMP/absent.sock" >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] || fail "no server: exit status"
grep -q "or give --config FILE" "$TMP/err" || fail "no server: $(cat "$TMP/err")"
start_server
out=$("$NSLOCK" map -N BETA -r -n -o FROM,TO,DATABASE,WHERE | sed -n 2p)
line=$(grep -n 'MyGlobal(15):' "$CONFIG" | cut -d: -f1)
[ "$out" = "^MyGlobal(15) ^MyGlobal(15,END) ALPHADB $CONFIG:$line:7" ] || fail "the server's map of BETA: '$out'"
out=$("$NSLOCK" map -r -n -o NAMESPACE,DATABASE,RULE | tail -n 1)
[ "$out" = 'USER USERDB (local_locks)' ] || fail "the server's local_locks: '$out'"
NSLOCK_SOCKET=$TMP/default.sock "$NSLOCK" serve -d "$TMP/state-default" 2>"$TMP/default.log" &
server_pid="$server_pid $!"
default_up() { [ -S "$TMP/default.sock" ]; }
poll "the default server" default_up
out=$("$NSLOCK" map --socket "$TMP/default.sock" -r -n -o FROM,TO,DATABASE)
[ "$out" = '^% ... USER
(local) ... USER' ] || fail "map of the embedded default, served: $out"
exit 0
