#!/bin/sh
# nslock resolve: every worked case of docs/LANGUAGE.md on its example, the
# output options, and bad input (exit 2, a clear message, other names kept).
# Usage: sh resolve.sh NSLOCK_BINARY FIXTURES_DIR
NSLOCK=$1
CONFIG=$2/../../docs/examples/three-namespaces.yaml
failures=0
tmp=${TMPDIR:-/tmp}/nsl-resolve-test.$$
trap 'rm -f "$tmp".out "$tmp".err' EXIT

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# check NS NAME EXPECTED: EXPECTED is "DB rule" pairs joined by ';', in order.
check() {
    got=$("$NSLOCK" resolve --config "$CONFIG" --namespace "$1" -r -n -o DATABASE,RULE "$2" 2>&1 | paste -sd ';' -)
    [ "$got" = "$3" ] || fail "resolve in $1 of $2: expected '$3', got '$got'"
}

# The worked cases of docs/LANGUAGE.md (acceptance tests)
check ALPHA '^MyGlobal(15)'            'ALPHADB globals'
check BETA  '^MyGlobal(15)'            'ALPHADB map;BETADB namespace'
check BETA  '^MyGlobal(15,3)'          'ALPHADB map;BETADB namespace'
check BETA  '^MyGlobal(16)'            'BETADB globals'
check BETA  '^MyGlobal'                'ALPHADB subtree;BETADB globals'
check BETA  '^Config(1)'               'ALPHADB map;BETADB namespace'
check ALPHA '^["BETA"]MyGlobal(16)'    'BETADB globals'
check USER  '^["^^/data/alpha"]X'      'ALPHADB implied'
check BETA  'x(1)'                     'USERDB local'
# and a few more of the same map
check BETA  '^Orders'                  'USERDB subtree;ALPHADB subtree;BETADB globals'
check BETA  '^Orders(1000)'            'BETADB globals'
check BETA  '^Logger(1)'               'USERDB map;BETADB namespace'

# The full row: canonical name, namespace, directory, and the deciding rule
# with its place in the file.
out=$("$NSLOCK" resolve --config "$CONFIG" --namespace BETA -r -n '^Orders(01,"x")' 2>&1)
case $out in
    *'^Orders(1,"x") BETA ALPHADB /data/alpha map Orders(1):(1000)\x20('*'three-namespaces.yaml:23)'*) ;;
    *) fail "full row of ^Orders(01,\"x\"): $out" ;;
esac
# The namespace column says where an extended reference was resolved.
out=$("$NSLOCK" resolve --config "$CONFIG" --namespace USER -r -n -o NAME,NAMESPACE '^["beta"]X')
[ "$out" = '^["beta"]X BETA' ] || fail "extended reference row: $out"
# Without --namespace: the configuration's default namespace (USER).
out=$("$NSLOCK" resolve --config "$CONFIG" -r -n -o NAMESPACE,DATABASE '^Config')
[ "$out" = 'USER USERDB' ] || fail "default namespace: $out"

# JSON, and headings
"$NSLOCK" resolve --config "$CONFIG" --namespace BETA -J '^MyGlobal' >"$tmp".out 2>&1 || fail "-J failed"
grep -q '"resolution": \[' "$tmp".out || fail "-J: no resolution array: $(cat "$tmp".out)"
grep -q '"database": "ALPHADB"' "$tmp".out || fail "-J: no ALPHADB entry"
grep -q '"rule": "subtree"' "$tmp".out || fail "-J: no subtree rule"
"$NSLOCK" resolve --config "$CONFIG" '^X' | head -n 1 | grep -q '^NAME *NAMESPACE *DATABASE *DIRECTORY *RULE *MAPPING' ||
    fail "default output has no header line"

# A bad name: exit 2, its message on stderr, the other names still printed.
"$NSLOCK" resolve --config "$CONFIG" -r -n -o NAME '^A(1' '^B' >"$tmp".out 2>"$tmp".err
status=$?
[ $status -eq 2 ] || fail "bad name: exit $status, expected 2"
grep -q '^nslock: resolve: ^A(1: column 5: ' "$tmp".err || fail "bad name message: $(cat "$tmp".err)"
[ "$(cat "$tmp".out)" = '^B' ] || fail "bad name: the good name was not printed: $(cat "$tmp".out)"

# Unknown extended namespace or directory: exit 2, named.
"$NSLOCK" resolve --config "$CONFIG" '^["GAMMA"]X' >/dev/null 2>"$tmp".err
[ $? -eq 2 ] || fail "unknown extended namespace: exit status"
grep -q 'GAMMA' "$tmp".err || fail "unknown extended namespace not named: $(cat "$tmp".err)"
"$NSLOCK" resolve --config "$CONFIG" '^["^^/nowhere"]X' >/dev/null 2>"$tmp".err
[ $? -eq 2 ] || fail "unknown implied directory: exit status"
grep -q '/nowhere' "$tmp".err || fail "unknown directory not named: $(cat "$tmp".err)"

# Usage errors: exit 2 and a message naming the culprit.
expect_usage() {
    what=$1
    pattern=$2
    shift 2
    "$NSLOCK" resolve "$@" >/dev/null 2>"$tmp".err
    status=$?
    [ $status -eq 2 ] || fail "$what: exit $status, expected 2"
    grep -q "$pattern" "$tmp".err || fail "$what: message: $(cat "$tmp".err)"
}
expect_usage "unknown namespace" "unknown namespace 'GAMMA'" --config "$CONFIG" --namespace GAMMA '^X'
expect_usage "unknown column" "unknown column 'COLOUR'" --config "$CONFIG" -o NAME,COLOUR '^X'
expect_usage "no name" "no lock name" --config "$CONFIG"
expect_usage "unknown option" "unknown option '--colour'" --colour '^X'
expect_usage "missing config" "nowhere.yaml" --config "$2/nowhere.yaml" '^X'

"$NSLOCK" resolve --help >"$tmp".out 2>&1 || fail "--help: exit status"
grep -q '^Usage: nslock resolve' "$tmp".out || fail "--help: no usage line"

# Options may follow the names (GNU getopt).
out=$("$NSLOCK" resolve '^MyGlobal(15)' --config "$CONFIG" -N BETA -r -n -o DATABASE | paste -sd ';' -)
[ "$out" = 'ALPHADB;BETADB' ] || fail "options after the name: $out"
# -n is --noheadings: a name that is a namespace is pointed out, as -n once
# looked like --namespace.
"$NSLOCK" resolve --config "$CONFIG" -n BETA '^MyGlobal(15)' >"$tmp".out 2>"$tmp".err
grep -q '^nslock: resolve: warning: BETA is a namespace; did you mean -N BETA?' "$tmp".err ||
    fail "-n BETA: no warning: $(cat "$tmp".err)"
"$NSLOCK" resolve --config "$CONFIG" -n '^MyGlobal(15)' >/dev/null 2>"$tmp".err
[ ! -s "$tmp".err ] || fail "a warning without a namespace name: $(cat "$tmp".err)"

[ $failures -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
rm -f "$tmp".out "$tmp".err

# Without --config, the running server's configuration, never another one.
. "$(dirname "$0")/lib/client_server.sh"
"$NSLOCK" resolve --socket "$TMP/absent.sock" '^X' >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] || fail "no server: exit status"
grep -q "start 'nslock serve'.*or give --config FILE" "$TMP/err" || fail "no server: $(cat "$TMP/err")"
start_server
out=$("$NSLOCK" resolve -N BETA -r -n -o DATABASE,RULE '^MyGlobal(15)' | paste -sd ';' -)
[ "$out" = 'ALPHADB map;BETADB namespace' ] || fail "the server's configuration: '$out'"
out=$("$NSLOCK" resolve -N BETA -r -n -o MAPPING '^MyGlobal(15)' | head -n 1)
line=$(grep -n 'MyGlobal(15):' "$CONFIG" | cut -d: -f1)
case $out in
'MyGlobal(15)\x20('"$CONFIG:$line)") ;;
*) fail "the server's file in MAPPING: '$out'" ;;
esac
out=$("$NSLOCK" resolve -r -n -o NAMESPACE,DATABASE 'x')
[ "$out" = 'USER USERDB' ] || fail "the server's default namespace: '$out'"
# --socket names the server to ask.
(unset NSLOCK_SOCKET; "$NSLOCK" resolve --socket "$TMP/nslock.sock" -N ALPHA -r -n -o DATABASE '^Y') >"$TMP/out" ||
    fail "--socket"
[ "$(cat "$TMP/out")" = ALPHADB ] || fail "--socket: $(cat "$TMP/out")"
# A server on the embedded default answers with it.
NSLOCK_SOCKET=$TMP/default.sock "$NSLOCK" serve -d "$TMP/state-default" 2>"$TMP/default.log" &
server_pid="$server_pid $!"
default_up() { [ -S "$TMP/default.sock" ]; }
poll "the default server" default_up
out=$("$NSLOCK" resolve --socket "$TMP/default.sock" -r -n -o DATABASE,DIRECTORY '^a(1)')
[ "$out" = 'USER ./data/user' ] || fail "embedded default served: '$out'"
exit 0
