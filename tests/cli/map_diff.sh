#!/bin/sh
# nslock map --diff: the exact changes for a moved range, a global leaving
# the map, a reordering (nothing moves) and a wildcard that starts to capture
# names; exit statuses, -N, JSON and errors.
# Usage: sh map_diff.sh NSLOCK_BINARY FIXTURES_DIR
NSLOCK=$1
DIR=$2/map_diff
case $NSLOCK in /*) ;; *) NSLOCK=$(pwd)/$NSLOCK ;; esac
failures=0
tmp=${TMPDIR:-/tmp}/nsl-map-diff-test.$$
trap 'rm -f "$tmp".out "$tmp".err "$tmp".exp' EXIT

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# check NAME STATUS ARGS... (expected stdout in $tmp.exp), run in $DIR
check() {
    name=$1 want=$2
    shift 2
    (cd "$DIR" && exec "$NSLOCK" map "$@") >"$tmp".out 2>"$tmp".err
    got=$?
    [ "$got" = "$want" ] || fail "$name: exit status $got, expected $want"
    if ! cmp -s "$tmp".out "$tmp".exp; then
        fail "$name: output differs"
        diff "$tmp".exp "$tmp".out >&2
    fi
}

cat >"$tmp".exp <<'END'
BETA ^Orders (node) ALPHADB,BETADB BETADB,USERDB Orders(1):(1000)\x20(old.yaml:15) Orders(1):(1000)\x20(range_moves.yaml:15)
BETA ^Orders(1) ^Orders(1000) ALPHADB,BETADB BETADB,USERDB Orders(1):(1000)\x20(old.yaml:15) Orders(1):(1000)\x20(range_moves.yaml:15)
END
check "a range moves" 1 --diff -r -n old.yaml range_moves.yaml

cat >"$tmp".exp <<'END'
BETA ^Config ^Config(END) ALPHADB,BETADB BETADB Config\x20(old.yaml:13) (globals)
END
check "a whole global moves" 1 --diff -rn old.yaml global_moves.yaml

: >"$tmp".exp
check "reordered rules move nothing" 0 --diff -r -n old.yaml reordered.yaml
check "a file against itself" 0 --diff -r -n old.yaml old.yaml

cat >"$tmp".exp <<'END'
BETA ^Con ^Config BETADB BETADB,USERDB (globals) Con*\x20(wildcard_captures.yaml:17)
BETA ^Config(END) ^Coo BETADB BETADB,USERDB (globals) Con*\x20(wildcard_captures.yaml:17)
END
check "a wildcard starts to capture names" 1 -r -n --diff old.yaml wildcard_captures.yaml

# The other direction, one namespace, other columns.
cat >"$tmp".exp <<'END'
^Config ^Config(END) BETADB ALPHADB,BETADB
END
check "-N and -o" 1 --diff -N beta -o FROM,TO,OLD,NEW -rn global_moves.yaml old.yaml
: >"$tmp".exp
check "-N of an unchanged namespace" 0 --diff -N USER -rn old.yaml range_moves.yaml

# JSON is valid and has every change.
(cd "$DIR" && "$NSLOCK" map --diff -J old.yaml range_moves.yaml) >"$tmp".out
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["changes"]
assert [c["from"] for c in d] == ["^Orders", "^Orders(1)"], d
assert d[1]["old"] == "ALPHADB,BETADB" and d[1]["new"] == "BETADB,USERDB", d
' "$tmp".out || fail "-J: not the changes"

# Errors.
: >"$tmp".exp
check "one file" 2 --diff old.yaml
grep -q "wants two files" "$tmp".err || fail "one file: message"
check "an unreadable file" 2 --diff old.yaml missing.yaml
grep -q "missing.yaml" "$tmp".err || fail "an unreadable file: message"
check "a namespace in neither" 2 --diff -N NOPE old.yaml range_moves.yaml
grep -q 'NOPE' "$tmp".err || fail "a namespace in neither: message"
(cd "$DIR" && "$NSLOCK" map --diff --help) | grep -q '^Usage: nslock map --diff' || fail "--help"

if [ "$failures" -ne 0 ]; then
    echo "map_diff.sh: $failures failure(s)" >&2
    exit 1
fi
echo "map_diff.sh: ok"
