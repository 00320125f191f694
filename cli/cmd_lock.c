/* nslock lock: hold locks while a command runs, like flock(1). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/connect.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock lock [OPTIONS] NAME... -- COMMAND [ARG]...\n"
            "\n"
            "Take all the lock names at once (LOCK +(NAME,...)), run COMMAND with them held,\n"
            "release them and exit with COMMAND's status. COMMAND finds the grant's fencing\n"
            "token in $NSLOCK_TOKEN.\n"
            "\n"
            "Options:\n"
            "  -n, --namespace NS     resolve the names in namespace NS\n"
            "  -w, --wait SECONDS     give up when not granted within SECONDS (0: one\n"
            "                         attempt); default: wait as long as it takes\n"
            "  -s, --shared           take shared locks (default: exclusive)\n"
            "  -E, --conflict-exit-code N  exit status when not granted (default 1)\n");
    nsl_cli_socket_usage(out);
    fprintf(out,
            "  -h, --help             show this help\n"
            "\nCOMMAND inherits the session's connection, as flock(1)'s command inherits\n"
            "the lock: if nslock lock itself is killed, the locks stay held while COMMAND\n"
            "(or anything it started that kept the descriptor) runs, and COMMAND is sent\n"
            "SIGTERM. Across a restart of the server the session reconnects and reclaims\n"
            "them. If they are lost (the server did not come back within its grace\n"
            "period, or refused them), COMMAND is sent SIGTERM and nslock lock exits 3.\n"
            "\nExit status: COMMAND's (128+N when killed by signal N), 1 (or -E) when the\n"
            "locks were not granted, 2 a bad option or name, or no connection, 3 the\n"
            "locks were lost while COMMAND ran.\n");
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

int nsl_cmd_lock(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"wait", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'w'},   /* flock(1)'s other name for it */
        {"shared", no_argument, NULL, 's'},
        {"conflict-exit-code", required_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *socket_path = NULL, *ns = NULL;
    double wait = NSLOCK_WAIT_FOREVER;
    unsigned types = NSLOCK_EXCLUSIVE;
    int conflict = NSL_EXIT_FAIL;
    int opt;
    optind = 1;
    opterr = 0;
    /* '+': options end at the first name, so COMMAND's own options are its own */
    while ((opt = getopt_long(argc, argv, "+n:w:sE:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': ns = optarg; break;
        case 'w':
            if (!parse_wait(optarg, &wait))
                return NSL_EXIT_USAGE;
            break;
        case 's': types = NSLOCK_SHARED; break;
        case 'E': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 0 || v > 255) {
                fprintf(stderr, "nslock: lock: --conflict-exit-code wants 0 to 255, not '%s'\n",
                        optarg);
                return NSL_EXIT_USAGE;
            }
            conflict = (int)v;
            break;
        }
        case NSL_OPT_SOCKET: socket_path = optarg; break;
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            return nsl_cli_bad_option("lock", opt, "nwE", argv);
        }
    }
    int first = optind, dashes = first;
    while (dashes < argc && strcmp(argv[dashes], "--") != 0)
        dashes++;
    if (dashes == first || dashes >= argc - 1) {
        fprintf(stderr, "nslock: lock: %s\nTry 'nslock lock --help'.\n",
                dashes == first ? "no lock name given"
                : dashes == argc ? "put -- between the lock names and the command"
                                 : "no command given after --");
        return NSL_EXIT_USAGE;
    }
    char **names = argv + first, **command = argv + dashes + 1;
    int nnames = dashes - first;

    nslock *c = nsl_cli_connect("lock", socket_path, NSLOCK_KEEPER_THREAD);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    nslock_error err;
    nslock_outcome got;
    int status;
    if (ns && nslock_namespace(c, ns, &err) < 0) {
        nsl_cli_report("lock", &err);
        status = nsl_cli_exit_status(&err);
    } else if (nslock_lock_names(c, (const char *const *)names, (size_t)nnames, types, wait, &got,
                                 &err) < 0) {
        nsl_cli_report("lock", &err);
        status = err.code == NSLOCK_E_DEADLOCK ? conflict : nsl_cli_exit_status(&err);
    } else if (got.test != 1) {
        fprintf(stderr, "nslock: lock: not granted within %g seconds: ", wait);
        print_names(stderr, names, nnames);
        fputc('\n', stderr);
        status = conflict;
    } else {
        nslock_on_lost(c, on_lost, NULL);
        status = run_command(command, got.token, nslock_fd(c));
        if (locks_lost)
            status = NSL_EXIT_LOST;
    }
    nslock_close(c);   /* ends the session: the server releases the locks */
    return status;
}
