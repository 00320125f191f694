/* cmd_serve.c — `nslock serve`: run the lock server in the foreground
 * (docs/PROTOCOL.md). The configuration is loaded all the way to a resolver first,
 * so a bad file is reported, compiler style, before anything listens. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/config_open.h"
#include "server/server.h"

static void usage(FILE *out)
{
    fputs("Usage: nslock serve [OPTIONS]\n"
          "\n"
          "Run the lock server in the foreground, logging to stderr. It listens on a\n"
          "Unix socket (mode 0660) and, when the configuration has server.listen, on\n"
          "TCP with the shared token of server.token_file. SIGTERM or SIGINT stops it:\n"
          "waiting requests are answered SHUTDOWN and the socket file is removed.\n"
          "SIGHUP is logged and ignored (there is nothing to reload).\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE      the configuration (default: the embedded one, one\n"
          "                         database USER and one namespace USER)\n"
          "  -s, --socket PATH      the Unix socket (default: $NSLOCK_SOCKET, else\n"
          "                         server.socket, else\n"
          "                         $XDG_RUNTIME_DIR/nslock/nslock.sock, else\n"
          "                         /tmp/nslock-UID/nslock.sock, in a 0700 directory)\n"
          "  -d, --state-dir DIR    the durable state: epoch, fencing-token mark and the\n"
          "                         registry of sessions holding locks (default:\n"
          "                         server.state_dir, else $STATE_DIRECTORY, else\n"
          "                         /var/lib/nslock for root, else ~/.local/state/nslock,\n"
          "                         with one directory per socket path below it)\n"
          "  -l, --log-level LEVEL  error, warning, info (default) or debug\n"
          "  -f, --log-format FMT   text (default) or json: one object a line with\n"
          "                         time, level, msg and the event's fields\n"
          "  -i, --io-method M      how client sockets are served: epoll (default),\n"
          "                         io_uring (or fail to start), or auto (io_uring\n"
          "                         where the kernel has it, else epoll); overrides\n"
          "                         server.io_method\n"
          "  -h, --help             print this help and exit\n"
          "\n"
          "After a restart (a crash, SIGKILL, or SIGTERM) the server waits up to\n"
          "server.recovery_grace_s for the sessions that held locks to reclaim them\n"
          "before it grants anything new. Keep the state directory on durable storage.\n"
          "\n"
          "Exit status: 0 stopped by a signal, 1 could not start (the log says why),\n"
          "2 a usage error or an invalid configuration.\n",
          out);
}

int nsl_cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"state-dir", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, 'f'},
        {"io-method", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    nsl_server_options opt;
    nsl_server_options_init(&opt);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:s:d:l:f:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 's':
            opt.socket_path = optarg;
            break;
        case 'd':
            opt.state_dir = optarg;
            break;
        case 'l':
            if (!nsl_log_level_parse(optarg, &opt.log_level)) {
                fprintf(stderr, "nslock serve: unknown log level '%s' "
                        "(error, warning, info, debug)\nTry 'nslock serve --help'.\n", optarg);
                return NSL_EXIT_USAGE;
            }
            break;
        case 'f':
            if (!nsl_log_format_parse(optarg, &opt.log_format)) {
                fprintf(stderr, "nslock serve: unknown log format '%s' (text, json)\n"
                        "Try 'nslock serve --help'.\n", optarg);
                return NSL_EXIT_USAGE;
            }
            break;
        case 'i':
            if (!nsl_config_io_method_valid(optarg)) {
                fprintf(stderr, "nslock serve: unknown io method '%s' (auto, io_uring, epoll)\n"
                        "Try 'nslock serve --help'.\n", optarg);
                return NSL_EXIT_USAGE;
            }
            opt.io_method = optarg;
            break;
        case 'h':
            usage(stdout);
            return NSL_EXIT_OK;
        default:
            fputs("Try 'nslock serve --help'.\n", stderr);
            return NSL_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock serve: unexpected argument '%s'\nTry 'nslock serve --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    nsl_cli_resolver cr;
    if (!nsl_cli_resolver_open(&cr, "serve", config))
        return NSL_EXIT_USAGE;
    opt.config_text = cr.text;   /* answered to CONFIG: resolve and map show what is served */
    opt.config_len = cr.text_len;
    int status = nsl_server_run(cr.res, &opt);
    nsl_cli_resolver_close(&cr);
    return status == 0 ? NSL_EXIT_OK : NSL_EXIT_FAIL;
}
