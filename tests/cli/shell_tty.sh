#!/bin/sh
# nslock shell on a terminal: Ctrl-C drops the line or cancels a waiting
# LOCK, Ctrl-D ends the shell, Tab completes (shell_tty.py drives it in a
# pseudo-terminal).
NSLOCK=$1
. "$(dirname "$0")/lib/client_server.sh"
command -v python3 >/dev/null || fail "python3 is needed (scripts/install-deps)"
start_server
HOME=$TMP TERM=xterm python3 "$(dirname "$0")/shell_tty.py" "$NSLOCK" || fail "the shell on a terminal"
exit 0
