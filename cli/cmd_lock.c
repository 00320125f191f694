/* nslock lock: hold locks while a command runs, like flock(1). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/connect.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock lock [OPTIONS] NAME COMMAND [ARG]...\n"
            "       nslock lock [OPTIONS] NAME -c COMMAND-LINE\n"
            "       nslock lock [OPTIONS] NAME... -- COMMAND [ARG]...\n"
            "       nslock lock [OPTIONS] -c COMMAND-LINE NAME...\n"
            "\n"
            "Take all the lock names at once (LOCK +(NAME,...)), run COMMAND with them held,\n"
            "release them and exit with COMMAND's status, as flock(1) does with a file.\n"
            "Without --, the first operand is the one NAME and the rest is COMMAND; with\n"
            "--, the NAMEs come before it (so a COMMAND of its own -- needs a -- before\n"
            "it). Options go before the first NAME. COMMAND finds the grant's fencing\n"
            "token in $NSLOCK_TOKEN.\n"
            "\n"
            "Options:\n"
            "  -N, --namespace NS     resolve the names in namespace NS\n"
            "  -x, -e, --exclusive    take exclusive locks (the default)\n"
            "  -s, --shared           take shared locks\n"
            "  -n, --nonblock, --nb   fail at once rather than wait when not granted\n"
            "  -w, --wait, --timeout SECONDS\n"
            "                         fail when not granted within SECONDS (fractions\n"
            "                         allowed; 0 is --nonblock); default: wait as long\n"
            "                         as it takes\n"
            "  -E, --conflict-exit-code N\n"
            "                         exit status when not granted (0-255, default 1)\n"
            "  -c, --command COMMAND-LINE\n"
            "                         run COMMAND-LINE with /bin/sh -c\n"
            "      --verbose          say how long getting the locks took, or why they\n"
            "                         were not granted, and what is run\n"
            "      --config FILE      find the server through server.socket of FILE\n");
    nsl_cli_socket_config_usage(out);
    fprintf(out,
            "  -h, --help             show this help\n"
            "\nCOMMAND inherits the session's connection, as flock(1)'s command inherits\n"
            "the lock: if nslock lock itself is killed, the locks stay held while COMMAND\n"
            "(or anything it started that kept the descriptor) runs, and COMMAND is sent\n"
            "SIGTERM. Across a restart of the server the session reconnects and reclaims\n"
            "them. If they are lost (the server did not come back within its grace\n"
            "period, or refused them), COMMAND is sent SIGTERM and nslock lock exits 3.\n"
            "\nExit status:\n"
            "  COMMAND's own status (128+N when it was killed by signal N; 126 it could\n"
            "  not be run, 127 it was not found);\n"
            "  1 (or the -E number) the locks were not granted: held by others past\n"
            "    --wait, at once with --nonblock, or chosen to break a deadlock;\n"
            "  2 a bad option or name, or no connection to the server;\n"
            "  3 the locks were lost while COMMAND ran.\n");
}

static volatile sig_atomic_t child_pid, locks_lost;

/* From the library (its keeper thread) when the locks cannot be reclaimed:
 * the command may no longer run as if it held them (consul lock does the
 * same). */
static void on_lost(nslock *c, const nslock_error *why, void *arg)
{
    (void)c;
    (void)arg;
    locks_lost = 1;
    fprintf(stderr, "nslock: lock: the locks were lost (%s); stopping the command\n",
            why->message);
    if (child_pid > 0)
        kill((pid_t)child_pid, SIGTERM);
}

/* The locks belong to this process's session: it must outlive the command.
 * A signal sent to it alone (kill PID) is passed on to the command and the
 * locks are released when that ends; one from the terminal reaches the
 * whole process group, the command included, so it is not sent twice. */
static void forward_signal(int sig, siginfo_t *info, void *context)
{
    (void)context;
    if (child_pid > 0 && info->si_code != SI_KERNEL)
        kill((pid_t)child_pid, sig);
}

static void forward_signals(void)
{
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction sa = {0};
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        sigaction(signals[i], &sa, NULL);
}

/* Runs argv, waits for it; its exit status the shell's way. The command
 * inherits the session's socket, as flock(1)'s command inherits the lock's
 * descriptor: if this process is killed (even with SIGKILL) the server
 * still sees the session while the command runs, so the lock lasts as long
 * as the command; and the command is sent SIGTERM when this process dies. */
static int run_command(char **argv, uint64_t token, int session_fd)
{
    char token_text[24];
    snprintf(token_text, sizeof token_text, "%" PRIu64, token);
    fflush(stdout);
    fflush(stderr);
    /* Signals wait until the child is known and the forwarding is in
     * place: one arriving in between must not end this process (and the
     * session holding the locks) while the command runs. */
    sigset_t forwarded, old;
    sigemptyset(&forwarded);
    sigaddset(&forwarded, SIGINT);
    sigaddset(&forwarded, SIGTERM);
    sigaddset(&forwarded, SIGHUP);
    sigaddset(&forwarded, SIGQUIT);
    sigprocmask(SIG_BLOCK, &forwarded, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        fprintf(stderr, "nslock: lock: cannot start '%s': %s\n", argv[0], strerror(errno));
        return NSL_EXIT_USAGE;
    }
    if (pid == 0) {
        if (session_fd >= 0)
            fcntl(session_fd, F_SETFD, 0);          /* kept across exec */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)                     /* died before the line above */
            _exit(128 + SIGTERM);
        sigprocmask(SIG_SETMASK, &old, NULL);
        setenv("NSLOCK_TOKEN", token_text, 1);
        execvp(argv[0], argv);
        int e = errno;
        fprintf(stderr, "nslock: lock: cannot run '%s': %s\n", argv[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    if (locks_lost)                /* lost before the command even started */
        kill(pid, SIGTERM);
    forward_signals();
    sigprocmask(SIG_SETMASK, &old, NULL);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "nslock: lock: waiting for '%s': %s\n", argv[0], strerror(errno));
            return NSL_EXIT_USAGE;
        }
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static bool parse_wait(const char *arg, double *seconds)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end != '\0' || errno != 0 || !isfinite(v) || v < 0) {
        fprintf(stderr, "nslock: lock: --wait wants a number of seconds >= 0, not '%s'\n", arg);
        return false;
    }
    *seconds = v;
    return true;
}

static void print_names(FILE *out, char **names, int count)
{
    for (int i = 0; i < count; i++)
        fprintf(out, "%s%s", i ? ", " : "", names[i]);
}

static bool parse_exit_code(const char *arg, int *code)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || errno != 0 || v < 0 || v > 255) {
        fprintf(stderr, "nslock: lock: --conflict-exit-code wants 0 to 255, not '%s'\n", arg);
        return false;
    }
    *code = (int)v;
    return true;
}

/* The names and the command among the operands, by flock(1)'s rule: NAME
 * COMMAND..., NAME -c LINE, and nslock's own NAME... -- COMMAND... and
 * -c LINE NAME.... False after a usage message. */
static bool split_operands(int argc, char **argv, int first, const char *command_line,
                           char ***names, int *nnames, char ***command)
{
    static char *shell[4] = {"/bin/sh", "-c", NULL, NULL};
    const char *problem = NULL;
    int dashes = first;
    while (dashes < argc && strcmp(argv[dashes], "--") != 0)
        dashes++;
    *names = argv + first;
    if (first >= argc || dashes == first) {
        problem = "no lock name given";
    } else if (command_line) {
        if (dashes < argc)
            problem = "give the command with -c or after --, not both";
        *nnames = argc - first;
        shell[2] = (char *)command_line;
        *command = shell;
    } else if (dashes < argc) {
        if (dashes == argc - 1)
            problem = "no command given after --";
        *nnames = dashes - first;
        *command = argv + dashes + 1;
    } else {
        *nnames = 1;
        if (first + 1 >= argc) {
            problem = "no command given (NAME COMMAND, NAME -c 'COMMAND', or NAME... -- COMMAND)";
        } else if (!strcmp(argv[first + 1], "-c") || !strcmp(argv[first + 1], "--command")) {
            if (argc != first + 3)
                problem = "-c wants exactly one command line, quoted for the shell";
            shell[2] = argv[first + 2];
            *command = shell;
        } else {
            *command = argv + first + 1;
        }
    }
    if (problem)
        fprintf(stderr, "nslock: lock: %s\nTry 'nslock lock --help'.\n", problem);
    return problem == NULL;
}

/* `-n BETA ^K` written for -N BETA, as -n meant before it was --nonblock:
 * said on stderr, as the server names its namespaces. */
static void warn_namespace_names(nslock *c, char **names, int nnames)
{
    nslock_namespace_info *ns;
    size_t count;
    nslock_error err;
    if (nslock_namespaces_list(c, &ns, &count, &err) < 0)
        return;
    for (int i = 0; i < nnames; i++)
        for (size_t j = 0; j < count; j++)
            if (strcasecmp(names[i], ns[j].name) == 0)
                fprintf(stderr, "nslock: lock: warning: %s is a namespace; did you mean -N %s? "
                                "(-n is --nonblock)\n", names[i], names[i]);
    nslock_free(ns);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_wait(FILE *out, double seconds)
{
    fprintf(out, "%g second%s", seconds, seconds == 1 ? "" : "s");
}

enum { OPT_VERBOSE = 0x200, OPT_CONFIG };

int nsl_cmd_lock(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"namespace", required_argument, NULL, 'N'},
        {"nonblock", no_argument, NULL, 'n'},
        {"nb", no_argument, NULL, 'n'},              /* flock(1)'s short spelling */
        {"wait", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'w'},   /* flock(1)'s other name for it */
        {"shared", no_argument, NULL, 's'},
        {"exclusive", no_argument, NULL, 'x'},
        {"conflict-exit-code", required_argument, NULL, 'E'},
        {"command", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *socket_opt = NULL, *config = NULL, *ns = NULL, *command_line = NULL;
    double wait = NSLOCK_WAIT_FOREVER;
    bool nonblock = false, verbose = false;
    unsigned types = NSLOCK_EXCLUSIVE;
    int conflict = NSL_EXIT_FAIL;
    int opt;
    optind = 1;
    opterr = 0;
    /* '+': options end at the first name, so COMMAND's own options are its own */
    while ((opt = getopt_long(argc, argv, "+N:nw:sxeE:c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'N': ns = optarg; break;
        case 'n': nonblock = true; break;
        case 'w':
            if (!parse_wait(optarg, &wait))
                return NSL_EXIT_USAGE;
            break;
        case 's': types = NSLOCK_SHARED; break;
        case 'x':
        case 'e': types = NSLOCK_EXCLUSIVE; break;
        case 'E':
            if (!parse_exit_code(optarg, &conflict))
                return NSL_EXIT_USAGE;
            break;
        case 'c': command_line = optarg; break;
        case OPT_VERBOSE: verbose = true; break;
        case OPT_CONFIG: config = optarg; break;
        case NSL_OPT_SOCKET: socket_opt = optarg; break;
        NSL_CONNECT_CASES("lock");
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            return nsl_cli_bad_option("lock", opt, "NwEc", argv);
        }
    }
    if (nonblock)
        wait = 0;
    char **names, **command;
    int nnames;
    if (!split_operands(argc, argv, optind, command_line, &names, &nnames, &command))
        return NSL_EXIT_USAGE;

    char socket_buf[4096];
    const char *socket_path;
    if (!nsl_cli_discover_socket("lock", socket_opt, config, socket_buf, sizeof socket_buf,
                                 &socket_path))
        return NSL_EXIT_USAGE;
    nslock *c = nsl_cli_connect("lock", socket_path, NSLOCK_KEEPER_THREAD);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    if (nonblock)
        warn_namespace_names(c, names, nnames);
    nslock_error err;
    nslock_outcome got;
    int status;
    double started = now_seconds();
    if (ns && nslock_namespace(c, ns, &err) < 0) {
        nsl_cli_report("lock", &err);
        status = nsl_cli_exit_status(&err);
    } else if (nslock_lock_names(c, (const char *const *)names, (size_t)nnames, types, wait, &got,
                                 &err) < 0) {
        nsl_cli_report("lock", &err);
        status = err.code == NSLOCK_E_DEADLOCK ? conflict : nsl_cli_exit_status(&err);
    } else if (got.test != 1) {
        fprintf(stderr, "nslock: lock: not granted %s", wait == 0 ? "at once" : "within ");
        if (wait != 0)
            print_wait(stderr, wait);
        fputs(": ", stderr);
        print_names(stderr, names, nnames);
        fputc('\n', stderr);
        status = conflict;
    } else {
        if (verbose) {
            fprintf(stderr, "nslock: lock: getting the lock%s took %.6f seconds (token %" PRIu64
                            ")\nnslock: lock: executing", nnames == 1 ? "" : "s",
                    now_seconds() - started, got.token);
            for (char **arg = command; *arg; arg++)
                fprintf(stderr, " %s", *arg);
            fputc('\n', stderr);
        }
        nslock_on_lost(c, on_lost, NULL);
        status = run_command(command, got.token, nslock_fd(c));
        if (locks_lost)
            status = NSL_EXIT_LOST;
    }
    nslock_close(c);   /* ends the session: the server releases the locks */
    return status;
}
