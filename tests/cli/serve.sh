#!/bin/sh
# nslock serve refuses a configuration it would not serve as written: one
# with an ha section (serving alone would ignore the cluster it names).
NSLOCK=$1
DIR=$2/validate
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nsl-serve-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
"$NSLOCK" serve --config "$DIR/ha_clean.yaml" --socket "$tmp/s.sock" --state-dir "$tmp/state" \
    >"$tmp/out" 2>"$tmp/err" </dev/null
status=$?
if [ "$status" -ne 2 ]; then
    echo "FAIL: serve with ha: exit status $status, expected 2" >&2
    exit 1
fi
if ! grep -q "ha_clean.yaml:4: ha: serving as part of a ZooKeeper cluster is not in this version" "$tmp/err"; then
    echo "FAIL: serve with ha: message: $(cat "$tmp/err")" >&2
    exit 1
fi
[ ! -e "$tmp/s.sock" ] || { echo "FAIL: serve with ha created its socket" >&2; exit 1; }
echo "serve.sh: ok"
