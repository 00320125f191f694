#!/bin/sh
# nslock validate: every fixture case, then the options.
# Usage: sh validate.sh NSLOCK_BINARY FIXTURES_DIR
#
# A case is tests/fixtures/validate/<case>.status (the expected exit status)
# with <case>.expected (the exact stdout of `nslock validate <case>.yaml`,
# run inside that directory so that file names are stable). <case>.yaml
# usually exists; a case without one checks a missing file.
NSLOCK=$1
DIR=$2/validate
case $NSLOCK in /*) ;; *) NSLOCK=$(pwd)/$NSLOCK ;; esac
failures=0
cases=0
tmp=${TMPDIR:-/tmp}/nsl-validate-test.$$
trap 'rm -f "$tmp".out "$tmp".err "$tmp".exp' EXIT

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# run NAME EXPECTED_STATUS ARGS...: runs nslock in $DIR; stdout to $tmp.out.
run() {
    name=$1 want=$2
    shift 2
    (cd "$DIR" && exec "$NSLOCK" "$@") >"$tmp".out 2>"$tmp".err
    got=$?
    [ "$got" = "$want" ] || fail "$name: exit status $got, expected $want"
}

same() {
    if ! cmp -s "$tmp".out "$1"; then
        fail "$2: output differs"
        diff "$1" "$tmp".out >&2
    fi
}

for status_file in "$DIR"/*.status; do
    case=$(basename "$status_file" .status)
    cases=$((cases + 1))
    run "$case" "$(cat "$status_file")" validate "$case.yaml"
    same "$DIR/$case.expected" "$case"
done
[ "$cases" -ge 20 ] || fail "only $cases cases found in $DIR"

# Several files: each file's report in order, the worst status wins.
cat "$DIR/clean.expected" "$DIR/unused_database.expected" "$DIR/five_errors.expected" >"$tmp".exp
echo "3 files: 5 errors, 1 warning" >>"$tmp".exp
run "three files" 1 validate clean.yaml unused_database.yaml five_errors.yaml
same "$tmp".exp "three files"
run "an unreadable file among others" 2 validate five_errors.yaml unreadable.yaml clean.yaml

# --json: one array for all files, no summary lines.
cat >"$tmp".exp <<'END'
[
  {"file": "five_errors.yaml", "line": 4, "column": 3, "severity": "error", "rule": "unknown-key", "message": "unknown key `escalation_treshold` in lock_table (expected max_entries, escalation_threshold, deadlock_check_ms or max_session_entries); did you mean `escalation_threshold`?"},
  {"file": "five_errors.yaml", "line": 8, "column": 25, "severity": "error", "rule": "duplicate-directory", "message": "database `BETADB` has the same directory as database `ALPHADB` at 7:3 (/data/alpha)"},
  {"file": "five_errors.yaml", "line": 15, "column": 15, "severity": "error", "rule": "unknown-database", "message": "unknown database `GAMMADB` in mapping `Config` of namespace `BETA`"},
  {"file": "five_errors.yaml", "line": 16, "column": 3, "severity": "error", "rule": "duplicate-key", "message": "duplicate key `USER` (first at 10:3)"},
  {"file": "five_errors.yaml", "line": 18, "column": 16, "severity": "error", "rule": "out-of-range", "message": "server.max_pending is 0; it must be between 1 and 1048576"},
  {"file": "unused_database.yaml", "line": 7, "column": 3, "severity": "warning", "rule": "unused-database", "message": "database `SPAREDB` is not used by any namespace"},
  {"file": "unreadable.yaml", "line": null, "column": null, "severity": "error", "rule": "unreadable", "message": "cannot read: No such file or directory"}
]
END
run "--json" 2 validate --json five_errors.yaml clean.yaml unused_database.yaml unreadable.yaml
same "$tmp".exp "--json"
if command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$tmp".out >/dev/null || fail "--json: not valid JSON"
fi
run "--json, clean" 0 validate -J clean.yaml
printf '[]\n' >"$tmp".exp
same "$tmp".exp "--json, clean"

# -q: errors only.
run "-q, warnings only" 0 validate -q unused_database.yaml
[ -s "$tmp".out ] && fail "-q printed something for a file without errors"
run "-q, errors" 1 validate --quiet five_errors.yaml unused_database.yaml
grep -v '^five_errors.yaml: [0-9]' "$DIR/five_errors.expected" >"$tmp".exp
same "$tmp".exp "-q, errors"

# Standard input: `-`, named <stdin>.
(cd "$DIR" && "$NSLOCK" validate - <unknown_key.yaml) >"$tmp".out 2>"$tmp".err
[ $? = 1 ] || fail "stdin: exit status"
sed 's/^unknown_key\.yaml/<stdin>/' "$DIR/unknown_key.expected" >"$tmp".exp
same "$tmp".exp "stdin"
run "stdin twice" 2 validate - -
grep -q "more than once" "$tmp".err || fail "stdin twice: message"

# --no-source: the lines alone.
run "--no-source" 1 validate --no-source five_errors.yaml
grep -v '^ *[0-9]* |\|^ *|' "$DIR/five_errors.expected" >"$tmp".exp
same "$tmp".exp "--no-source"

# --format=github: one workflow command per diagnostic, escaped.
cat >"$tmp".exp <<'END'
::error file=five_errors.yaml,line=4,col=3,title=nslock unknown-key::unknown key `escalation_treshold` in lock_table (expected max_entries, escalation_threshold, deadlock_check_ms or max_session_entries); did you mean `escalation_threshold`?
::error file=five_errors.yaml,line=8,col=25,title=nslock duplicate-directory::database `BETADB` has the same directory as database `ALPHADB` at 7:3 (/data/alpha)
::error file=five_errors.yaml,line=15,col=15,title=nslock unknown-database::unknown database `GAMMADB` in mapping `Config` of namespace `BETA`
::error file=five_errors.yaml,line=16,col=3,title=nslock duplicate-key::duplicate key `USER` (first at 10:3)
::error file=five_errors.yaml,line=18,col=16,title=nslock out-of-range::server.max_pending is 0; it must be between 1 and 1048576
::warning file=unused_database.yaml,line=7,col=3,title=nslock unused-database::database `SPAREDB` is not used by any namespace
END
run "--format=github" 1 validate --format=github five_errors.yaml clean.yaml unused_database.yaml
same "$tmp".exp "--format=github"
printf 'databases:\n  "a%%b": { directory: /a }\n' >"$tmp".exp
(cd "$DIR" && "$NSLOCK" validate --format github -) <"$tmp".exp >"$tmp".out 2>&1
grep -q '^::error file=<stdin>,line=2,col=3,title=nslock invalid-name::invalid database name `a%25b`' "$tmp".out \
    || fail "--format=github: % not escaped"

# --format=sarif: a valid SARIF 2.1.0 log, one result per diagnostic.
run "--format=sarif" 2 validate --format=sarif five_errors.yaml unused_database.yaml unreadable.yaml
python3 "$(dirname "$0")/check_sarif.py" "$tmp".out 7 || fail "--format=sarif: not valid SARIF"
run "--format=sarif, clean" 0 validate --format sarif clean.yaml
python3 "$(dirname "$0")/check_sarif.py" "$tmp".out 0 || fail "--format=sarif, clean: not valid SARIF"
run "--format=bad" 2 validate --format=xml clean.yaml
grep -q "unknown format 'xml'" "$tmp".err || fail "--format=bad: message"

# Usage.
run "--help" 0 validate --help
grep -q '^Usage: nslock validate' "$tmp".out || fail "--help: no usage on stdout"
run "unknown long option" 2 validate --jsn clean.yaml
grep -q "unknown option '--jsn'" "$tmp".err || fail "unknown long option: message"
[ -s "$tmp".out ] && fail "unknown long option: printed to stdout"
run "unknown short option" 2 validate -x clean.yaml
grep -q "unknown option '-x'" "$tmp".err || fail "unknown short option: message"
run "no file" 2 validate
grep -q "no file given" "$tmp".err || fail "no file: message"
run "a directory" 2 validate .
grep -q '^\.: error: cannot read: Is a directory$' "$tmp".out || fail "a directory: message"

if [ "$failures" -ne 0 ]; then
    echo "validate.sh: $failures failure(s)" >&2
    exit 1
fi
echo "validate.sh: $cases cases and the options: ok"
