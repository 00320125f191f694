# Sourced by the CLI tests that need a live server (show, lock, stats, shell,
# remove). Needs NSLOCK (the binary). Gives a temporary directory TMP, a
# configuration (the three namespaces of docs/CONFIG.md) with its socket in TMP,
# NSLOCK_SOCKET exported, and helpers. Everything started here is stopped
# and TMP removed when the script exits, passing or failing.

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nslock-cli.XXXXXX") || exit 1
server_pid=
session_pids=

cleanup() {
    for p in $session_pids $server_pid; do
        kill "$p" 2>/dev/null
    done
    for p in $session_pids $server_pid; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$TMP/server.log" ]; then
        echo "--- server log:" >&2
        cat "$TMP/server.log" >&2
    fi
    exit 1
}

NSLOCK_SOCKET=$TMP/nslock.sock
export NSLOCK_SOCKET
CONFIG=$TMP/config.yaml
cat >"$CONFIG" <<CONFIG_EOF
lock_table:
  deadlock_check_ms: 100
server:
  socket: $NSLOCK_SOCKET
  state_dir: $TMP/state
default_namespace: USER
local_locks: USERDB
databases:   # in name order: SHOW sorts by database, whether by name or by declaration
  ALPHADB: { directory: /data/alpha }
  BETADB:  { directory: /data/beta }
  USERDB:  { directory: /data/user }
namespaces:
  USER:  { globals: USERDB }
  ALPHA: { globals: ALPHADB }
  BETA:
    globals: BETADB
    map:
      MyGlobal(15): ALPHADB
CONFIG_EOF

# Polls until "$@" succeeds (at most 10 s; fails the test after that).
poll() {
    poll_what=$1
    shift
    poll_i=0
    until "$@"; do
        poll_i=$((poll_i + 1))
        [ "$poll_i" -lt 200 ] || fail "timed out waiting for $poll_what"
        sleep 0.05
    done
}

server_up() {
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited"
    [ -S "$NSLOCK_SOCKET" ]
}

start_server() {
    "$NSLOCK" serve --config "$CONFIG" 2>"$TMP/server.log" &
    server_pid=$!
    poll "the server's socket" server_up
}

# session_open NAME FD [shell options]: an `nslock shell` session that reads
# the FIFO $TMP/NAME.in, held open on file descriptor FD, and writes
# $TMP/NAME.out. Send it requests with: echo 'LOCK +^a' >&FD.
session_open() {
    so_name=$1 so_fd=$2
    shift 2
    mkfifo "$TMP/$so_name.in" || fail "mkfifo"
    "$NSLOCK" shell "$@" <"$TMP/$so_name.in" >"$TMP/$so_name.out" 2>&1 &
    session_pids="$session_pids $!"
    eval "${so_name}_pid=\$!"
    eval "exec $so_fd>\"\$TMP/\$so_name.in\""
}

# count_lines FILE REGEX COUNT: true when FILE has at least COUNT lines
# matching REGEX.
count_lines() {
    cl_n=$(grep -c -- "$2" "$1" 2>/dev/null)
    [ "${cl_n:-0}" -ge "$3" ]
}

# wait_lines FILE REGEX COUNT
wait_lines() {
    poll "$3 line(s) matching '$2' in $(basename "$1") (has: $(cat "$1"))" count_lines "$@"
}

# expect_status WANT COMMAND...: runs it, checks the exit status.
expect_status() {
    es_want=$1
    shift
    "$@"
    es_got=$?
    [ "$es_got" -eq "$es_want" ] || fail "exit status $es_got, expected $es_want: $*"
}
