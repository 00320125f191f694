# `cmake --install` (what `make install` runs) into a staging DESTDIR:
# every file lands where it should for the prefix given at install time;
# the installed binary runs; the man pages render; bash completion
# completes; the systemd unit verifies and its command line serves on a
# socket in a group directory, as the service does; the starter
# configuration is valid and survives a reinstall. Then the client part
# alone (`--component client`): the example of docs/CLIENT.md builds
# against it with pkg-config and takes a lock from a live server (skipped
# in sanitizer builds, whose library needs the sanitizer runtime).
NSLOCK=${1:?usage: install.sh NSLOCK_BINARY FIXTURES_DIR}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "$(dirname "$NSLOCK")" && pwd)
. "$(dirname "$0")/lib/client_server.sh"

# ---- a whole install, prefix /usr ----------------------------------------------
STAGE=$TMP/stage
DESTDIR=$STAGE cmake --install "$BUILD" --prefix /usr >"$TMP/install.log" 2>&1 ||
    fail "cmake --install: $(cat "$TMP/install.log")"

present() {
    for f in "$@"; do
        [ -e "$STAGE$f" ] || fail "not installed: $f (installed: $(cd "$STAGE" && find . -type f | sort))"
    done
}
present /usr/bin/nslock /usr/include/nslock.h \
    /usr/share/man/man1/nslock.1 /usr/share/man/man5/nslock.yaml.5 \
    /usr/share/bash-completion/completions/nslock \
    /usr/lib/systemd/system/nslock.service /usr/lib/sysusers.d/nslock.conf \
    /etc/nslock/nslock.yaml \
    /usr/share/doc/nslock/README.md /usr/share/doc/nslock/LANGUAGE.md \
    /usr/share/doc/nslock/CONFIG.md /usr/share/doc/nslock/examples/three-namespaces.yaml
lib=$(find "$STAGE/usr" -name 'libnslock.so.*.*' | head -n 1)
[ -n "$lib" ] || fail "no libnslock.so.VERSION installed"
libdir=$(dirname "$lib")
[ -L "$libdir/libnslock.so" ] || fail "no libnslock.so link for the linker"
soname=$(objdump -p "$lib" 2>/dev/null | awk '/SONAME/ { print $2 }')
if [ -n "$soname" ]; then
    [ -e "$libdir/$soname" ] || fail "no $soname beside $lib"
fi
[ -f "$libdir/pkgconfig/nslock.pc" ] || fail "no nslock.pc in $libdir/pkgconfig"

# The installed binary finds the installed library wherever the prefix is.
out=$("$STAGE/usr/bin/nslock" --version) || fail "the installed nslock --version exited $?"
case $out in
    "nslock "[0-9]*) ;;
    *) fail "nslock --version printed: $out" ;;
esac
"$STAGE/usr/bin/nslock" validate -q "$STAGE/etc/nslock/nslock.yaml" >"$TMP/validate.out" 2>&1 ||
    fail "the installed configuration is not valid: $(cat "$TMP/validate.out")"

# ---- the man pages ----------------------------------------------------------------
if command -v man >/dev/null 2>&1; then
    for page in man1/nslock.1 man5/nslock.yaml.5; do
        MANWIDTH=80 man -l "$STAGE/usr/share/man/$page" >"$TMP/page.txt" 2>"$TMP/page.err" ||
            fail "man -l $page: $(cat "$TMP/page.err")"
        [ -s "$TMP/page.err" ] && fail "man -l $page warns: $(cat "$TMP/page.err")"
        grep -q '^NAME' "$TMP/page.txt" || fail "$page: no NAME section"
    done
    MANWIDTH=80 man -l "$STAGE/usr/share/man/man1/nslock.1" >"$TMP/page.txt" 2>/dev/null
    for cmd in serve shell lock show remove stats validate resolve map; do
        grep -q "^   $cmd\$" "$TMP/page.txt" || fail "nslock(1) has no section for $cmd"
    done
elif command -v groff >/dev/null 2>&1; then
    for page in man1/nslock.1 man5/nslock.yaml.5; do
        groff -t -man -Tutf8 -ww -z "$STAGE/usr/share/man/$page" 2>"$TMP/page.err" ||
            fail "groff $page: $(cat "$TMP/page.err")"
    done
else
    echo "note: neither man nor groff: the man pages are installed, not rendered"
fi

# ---- bash completion -----------------------------------------------------------------
if command -v bash >/dev/null 2>&1; then
    mkdir "$TMP/cwd" && : >"$TMP/cwd/my-config.yaml"
    # offers WORD...: what completing the last word of "nslock WORD..." offers
    offers() {
        (cd "$TMP/cwd" && bash -c '
            . "$0"
            COMP_WORDS=(nslock "$@")
            COMP_CWORD=$#
            _nslock
            printf "%s\n" "${COMPREPLY[@]}"' \
            "$STAGE/usr/share/bash-completion/completions/nslock" "$@" 2>&1 | LC_ALL=C sort | tr '\n' ' ')
    }
    got=$(offers s)
    [ "$got" = "serve shell show stats " ] || fail "completing 'nslock s' offers: $got"
    got=$(offers show --no)
    [ "$got" = "--no-waiters --noheadings --notruncate " ] || fail "completing 'nslock show --no' offers: $got"
    got=$(offers lock --n)
    [ "$got" = "--namespace --nonblock " ] || fail "completing 'nslock lock --n' offers: $got"
    got=$(offers resolve -c my)
    [ "$got" = "my-config.yaml " ] || fail "completing 'nslock resolve -c my' offers: $got"
    got=$(offers serve --log-level d)
    [ "$got" = "debug " ] || fail "completing 'nslock serve --log-level d' offers: $got"
fi

# ---- the systemd unit ------------------------------------------------------------------
unit=$STAGE/usr/lib/systemd/system/nslock.service
for line in 'User=nslock' 'Group=nslock' 'RuntimeDirectory=nslock' 'RuntimeDirectoryMode=0750' \
    'StateDirectory=nslock' 'Restart=on-failure' 'NoNewPrivileges=yes' 'ProtectSystem=strict'; do
    grep -qx "$line" "$unit" || fail "nslock.service has no line $line"
done
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
case $exec_start in
    "/usr/bin/nslock serve --config /etc/nslock/nslock.yaml --socket /run/nslock/nslock.sock "*) ;;
    *) fail "nslock.service: ExecStart=$exec_start" ;;
esac
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify checks that ExecStart's binary exists: look at the staged one
    sed "s|^ExecStart=/usr/bin/nslock|ExecStart=$STAGE/usr/bin/nslock|" "$unit" >"$TMP/nslock.service"
    SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$TMP/nslock.service" >"$TMP/verify.log" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$TMP/verify.log")"
    grep -v -e 'Failed to \(connect\|open\|prepare\)' -e 'bus' "$TMP/verify.log" | grep -i 'nslock.service' &&
        fail "systemd-analyze verify warns: $(cat "$TMP/verify.log")"
fi
grep -q '^u nslock ' "$STAGE/usr/lib/sysusers.d/nslock.conf" || fail "sysusers.d: no user nslock"

# The unit's command line as systemd runs it, with its directories made
# as RuntimeDirectory= and StateDirectory= make them: the socket is in a
# 0750 group directory (not the private one of a default path), and a
# client in another directory reaches it.
mkdir -p "$TMP/run/nslock" "$TMP/lib/nslock"
chmod 0750 "$TMP/run/nslock"
chmod 0700 "$TMP/lib/nslock"
# shellcheck disable=SC2086
set -- $(printf '%s\n' "$exec_start" | sed -e "s|^/usr/bin/|$STAGE/usr/bin/|" \
    -e "s| /etc/| $STAGE/etc/|" -e "s| /run/| $TMP/run/|" -e "s| /var/lib/| $TMP/lib/|")
"$@" 2>"$TMP/server.log" &
server_pid=$!
NSLOCK_SOCKET=$TMP/run/nslock/nslock.sock
poll "the service's socket" server_up
[ "$(stat -c %a "$NSLOCK_SOCKET")" = 660 ] || fail "the socket's mode is $(stat -c %a "$NSLOCK_SOCKET")"
out=$(cd / && "$STAGE/usr/bin/nslock" lock -w 5 '^Installed(1)' -- sh -c 'echo "token $NSLOCK_TOKEN"') ||
    fail "nslock lock against the service exited $?: $out"
case $out in
    "token "[0-9]*) ;;
    *) fail "nslock lock against the service printed: $out" ;;
esac
kill "$server_pid"
wait "$server_pid"
server_pid=
NSLOCK_SOCKET=$TMP/nslock.sock

# ---- a reinstall keeps an edited configuration -----------------------------------------
echo "# edited" >>"$STAGE/etc/nslock/nslock.yaml"
DESTDIR=$STAGE cmake --install "$BUILD" --prefix /usr >"$TMP/install.log" 2>&1 ||
    fail "second cmake --install: $(cat "$TMP/install.log")"
tail -n 1 "$STAGE/etc/nslock/nslock.yaml" | grep -qx '# edited' ||
    fail "a reinstall overwrote /etc/nslock/nslock.yaml"

# ---- another prefix, given at install time ---------------------------------------------
STAGE2=$TMP/stage2
DESTDIR=$STAGE2 cmake --install "$BUILD" --prefix /opt/nslock >"$TMP/install.log" 2>&1 ||
    fail "cmake --install --prefix /opt/nslock: $(cat "$TMP/install.log")"
for f in bin/nslock etc/nslock/nslock.yaml lib/systemd/system/nslock.service \
    share/man/man1/nslock.1 share/bash-completion/completions/nslock; do
    [ -e "$STAGE2/opt/nslock/$f" ] || fail "prefix /opt/nslock: not installed: $f"
done
grep -q '^ExecStart=/opt/nslock/bin/nslock serve --config /opt/nslock/etc/nslock/nslock.yaml ' \
    "$STAGE2/opt/nslock/lib/systemd/system/nslock.service" ||
    fail "prefix /opt/nslock: $(grep ExecStart "$STAGE2/opt/nslock/lib/systemd/system/nslock.service")"
"$STAGE2/opt/nslock/bin/nslock" --version >/dev/null || fail "the /opt/nslock binary does not run"

# ---- the client part alone: an application builds against it ---------------------------
if grep -q '^NSL_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    echo "install: ok (the client example skipped: sanitizer build)"
    exit 0
fi
command -v cc >/dev/null && command -v pkg-config >/dev/null || {
    echo "install: ok (the client example skipped: no cc or pkg-config)"
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

export NSLOCK_SOCKET
start_server
out=$("$TMP/example") || fail "the example exited $?: $out"
case $out in
    "holding ^Orders(15), fencing token "*) ;;
    *) fail "unexpected output: $out" ;;
esac
echo "install: ok"
