# The installed client: `cmake --install --component client` puts the
# library, nslock.h and nslock.pc under a prefix, and the example of
# docs/CLIENT.md builds against that copy with pkg-config and takes a lock
# from a live server. Skipped in sanitizer builds (their library needs the
# sanitizer runtime) and without a C compiler or pkg-config.
NSLOCK=${1:?usage: install.sh NSLOCK_BINARY FIXTURES_DIR}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$(dirname "$NSLOCK")" && pwd)
. "$(dirname "$0")/lib/client_server.sh"

if grep -q '^NSL_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    echo "skip: sanitizer build"
    exit 0
fi
command -v cc >/dev/null && command -v pkg-config >/dev/null || {
    echo "skip: no cc or pkg-config"
    exit 0
}

cmake --install "$BUILD" --prefix "$TMP/prefix" --component client >"$TMP/install.log" 2>&1 ||
    fail "cmake --install: $(cat "$TMP/install.log")"
pc=$(find "$TMP/prefix" -name nslock.pc | head -n 1)
[ -n "$pc" ] || fail "no nslock.pc installed"
[ -f "$TMP/prefix/include/nslock.h" ] || fail "no nslock.h installed"
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs nslock) ||
    fail "pkg-config does not know nslock"
# shellcheck disable=SC2086
cc -Wall -Wextra -Werror "$TOP/docs/examples/client_example.c" $flags \
    -Wl,-rpath,"$(dirname "$(dirname "$pc")")" -o "$TMP/example" 2>"$TMP/cc.log" ||
    fail "the example does not build: $(cat "$TMP/cc.log")"

start_server
out=$("$TMP/example") || fail "the example exited $?: $out"
case $out in
    "holding ^Orders(15), fencing token "*) ;;
    *) fail "unexpected output: $out" ;;
esac
echo "install: ok"
