/* nslock shell: type LOCK commands (SPEC 5) and the other requests at a
 * prompt, with libedit's line editing and history; reads a script when
 * standard input is not a terminal. */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli/cli.h"
#include "cli/cmd_show.h"
#include "cli/cmd_stats.h"
#include "cli/connect.h"
#include "cli/table.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock shell [OPTIONS]\n"
            "\n"
            "Type requests to the lock server at a prompt showing the namespace. One\n"
            "session for the whole shell: what it locks stays locked until released or\n"
            "until the shell ends. With standard input not a terminal, reads the requests\n"
            "from it without a prompt (for scripts).\n"
            "\n"
            "When the server restarts, the shell reconnects and reclaims what it held\n"
            "before it runs the next request, and says so in one line; if the locks\n"
            "could not be reclaimed it says that they were lost and goes on holding\n"
            "nothing.\n"
            "\n"
            "Options:\n"
            "  -n, --namespace NS     start in namespace NS\n");
    nsl_cli_socket_usage(out);
    fprintf(out,
            "  -h, --help             show this help\n"
            "\nType HELP at the prompt for the requests.\n"
            "\nExit status: 0 after QUIT or end of input, 1 when a scripted request failed,\n"
            "2 a bad option or the connection was lost.\n");
}

static void help(void)
{
    printf("LOCK ...                  a LOCK command (also L): LOCK +^a(1):5, LOCK -^a(1),\n"
           "                          LOCK +(^a,^b)#\"S\":2.5, LOCK (release everything)\n"
           "                          prints $TEST=1 token=N, $TEST=0 (timed out) or OK\n"
           "NS NAME                   switch namespace\n"
           "TSTART, TCOMMIT           open, commit a transaction level; prints $TLEVEL=N\n"
           "TROLLBACK [1]             roll back all levels (or one)\n"
           "SHOW [database=DB] [namespace=NS] [owner=ID] [pid=PID] [nowaiters] [name=PREFIX]\n"
           "                          the lock table\n"
           "RESOLVE NAME              the databases NAME lands in\n"
           "STATS                     the server's counters\n"
           "PING                      one round trip\n"
           "SESSION                   this shell's session id (OWNER in SHOW)\n"
           "QUIT                      end the session (end of input too)\n");
}

typedef enum { LINE_OK, LINE_FAILED, LINE_QUIT, LINE_LOST } line_result;

/* After a failed call: the message, and whether the connection survived
 * (after IO, TIMEOUT and PROTOCOL the library has closed it). */
static line_result failed(nslock *c, const nslock_error *err)
{
    fprintf(stderr, "ERR %s %s\n", err->name, err->message);
    if (err->code == NSLOCK_E_LOST || err->code == NSLOCK_E_CONFLICT) {
        /* said when it happened (on_lost); the shell goes on, holding nothing */
        nslock_lost_clear(c);
        return LINE_FAILED;
    }
    if (err->code == NSLOCK_E_IO || err->code == NSLOCK_E_TIMEOUT || err->code == NSLOCK_E_PROTOCOL) {
        fprintf(stderr, "nslock: shell: the connection to the server is lost\n");
        return LINE_LOST;
    }
    return LINE_FAILED;
}

/* Restart recovery, as it happens (from the library's keeper thread, or
 * inside the command that noticed): one line each. */
static void said_reclaimed(nslock *c, size_t locks, uint64_t epoch, void *arg)
{
    (void)c;
    (void)arg;
    fprintf(stderr, "nslock: shell: reconnected to the server (epoch %llu); reclaimed %zu lock%s\n",
            (unsigned long long)epoch, locks, locks == 1 ? "" : "s");
}

static void said_lost(nslock *c, const nslock_error *why, void *arg)
{
    (void)c;
    (void)arg;
    fprintf(stderr, "nslock: shell: this session's locks were lost: %s\n", why->message);
}

static char *skip_blanks(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The next blank-separated word of *p, NUL-terminated in place. */
static char *next_word(char **p)
{
    char *w = skip_blanks(*p);
    char *end = w + strcspn(w, " \t");
    *p = *end ? end + 1 : end;
    *end = '\0';
    return w;
}

static line_result do_lock(nslock *c, const char *line)
{
    nslock_error err;
    nslock_outcome got;
    if (nslock_command(c, line, &got, &err) < 0)
        return failed(c, &err);
    if (got.test == 1)
        printf("$TEST=1 token=%" PRIu64 "\n", got.token);
    else if (got.test == 0)
        printf("$TEST=0\n");
    else
        printf("OK\n");
    return LINE_OK;
}

static line_result do_transaction(nslock *c, const char *word, char *args)
{
    nslock_error err;
    int level, rc;
    char *arg = next_word(&args);
    bool one = false;
    if (strcasecmp(word, "TROLLBACK") == 0) {
        one = strcmp(arg, "1") == 0;
        if (*arg && !one) {
            fprintf(stderr, "nslock: shell: TROLLBACK takes nothing or 1, not '%s'\n", arg);
            return LINE_FAILED;
        }
        arg = next_word(&args);
    }
    if (*arg) {
        fprintf(stderr, "nslock: shell: unexpected '%s' after %s\n", arg, word);
        return LINE_FAILED;
    }
    if (strcasecmp(word, "TSTART") == 0)
        rc = nslock_tstart(c, &level, &err);
    else if (strcasecmp(word, "TCOMMIT") == 0)
        rc = nslock_tcommit(c, &level, &err);
    else
        rc = nslock_trollback(c, one, &level, &err);
    if (rc < 0)
        return failed(c, &err);
    printf("$TLEVEL=%d\n", level);
    return LINE_OK;
}

static bool parse_show_id(const char *what, const char *text, uint64_t *v)
{
    char *end;
    unsigned long long n = strtoull(text, &end, 10);
    if (!isdigit((unsigned char)*text) || *end || n == 0) {
        fprintf(stderr, "nslock: shell: SHOW %s= wants a positive number, not '%s'\n", what, text);
        return false;
    }
    *v = n;
    return true;
}

static line_result do_show(nslock *c, char *args)
{
    nslock_show_filter f = {0};
    uint64_t pid;
    for (;;) {
        args = skip_blanks(args);
        if (strncasecmp(args, "name=", 5) == 0) {
            /* a name prefix may hold blanks inside its strings: it takes the rest */
            f.name_prefix = args + 5;
            break;
        }
        char *word = next_word(&args);
        if (*word == '\0')
            break;
        char *eq = strchr(word, '=');
        if (eq)
            *eq++ = '\0';
        if (strcasecmp(word, "nowaiters") == 0 && eq == NULL)
            f.no_waiters = 1;
        else if (eq && strcasecmp(word, "database") == 0)
            f.database = eq;
        else if (eq && strcasecmp(word, "namespace") == 0)
            f.namespace_name = eq;
        else if (eq && strcasecmp(word, "owner") == 0) {
            if (!parse_show_id("owner", eq, &f.owner))
                return LINE_FAILED;
        } else if (eq && strcasecmp(word, "pid") == 0) {
            if (!parse_show_id("pid", eq, &pid))
                return LINE_FAILED;
            f.pid = (long)pid;
        } else {
            fprintf(stderr, "nslock: shell: unknown SHOW filter '%s' (HELP lists them)\n", word);
            return LINE_FAILED;
        }
    }
    nslock_entry *rows;
    size_t count;
    nslock_error err;
    if (nslock_show(c, &f, &rows, &count, &err) < 0)
        return failed(c, &err);
    nsl_table_opts topts = {0};
    /* libsmartcols prints nothing at all for an empty table */
    bool ok = count ? nsl_cli_print_entries("shell", rows, count, &topts)
                    : printf("(no entries)\n") > 0;
    nslock_free(rows);
    return ok ? LINE_OK : LINE_FAILED;
}

static line_result do_resolve(nslock *c, char *args)
{
    enum { COL_DATABASE, COL_DIRECTORY, COL_RULE, COL_MAPPING, NCOLUMNS };
    static const nsl_table_column columns[NCOLUMNS] = {
        [COL_DATABASE] = {"DATABASE", 0.2, 0, ""},
        [COL_DIRECTORY] = {"DIRECTORY", 0.3, 0, ""},
        [COL_RULE] = {"RULE", 0.1, 0, ""},
        [COL_MAPPING] = {"MAPPING", 0.3, 0, ""},
    };
    char *name = skip_blanks(args);
    size_t len = strlen(name);
    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
        name[--len] = '\0';
    if (len == 0) {
        fprintf(stderr, "nslock: shell: RESOLVE wants a lock name\n");
        return LINE_FAILED;
    }
    nslock_resolution *rows;
    size_t count;
    nslock_error err;
    if (nslock_resolve(c, name, &rows, &count, &err) < 0)
        return failed(c, &err);
    nsl_table_opts topts = {0};
    nsl_table *t = nsl_table_new("shell", "databases", columns, NCOLUMNS, &topts);
    bool ok = t != NULL;
    for (size_t i = 0; i < count && ok; i++) {
        const char *cells[NCOLUMNS] = {rows[i].database, rows[i].directory, rows[i].rule,
                                       rows[i].mapping};
        ok = nsl_table_add_row(t, cells);
    }
    ok = ok && nsl_table_print(t);
    nsl_table_free(t);
    nslock_free(rows);
    return ok ? LINE_OK : LINE_FAILED;
}

static line_result do_stats(nslock *c)
{
    nslock_stat *items;
    size_t count;
    nslock_error err;
    if (nslock_stats_list(c, &items, &count, &err) < 0)
        return failed(c, &err);
    nsl_cli_print_stats(items, count, false);
    nslock_free(items);
    return LINE_OK;
}

/* One line typed or read; line is trimmed of the newline. */
static line_result run_line(nslock *c, char *line)
{
    nslock_error err;
    char *args = skip_blanks(line);
    if (*args == '\0' || *args == ';' || *args == '#')   /* blank or comment */
        return LINE_OK;
    size_t keyword = strcspn(args, " \t");
    if ((keyword == 4 && strncasecmp(args, "LOCK", 4) == 0)
        || (keyword == 1 && toupper((unsigned char)*args) == 'L'))
        return do_lock(c, args);   /* the server parses LOCK commands */
    char *word = next_word(&args);
    if (strcasecmp(word, "NS") == 0) {
        char *ns = next_word(&args);
        if (*ns == '\0' || *skip_blanks(args)) {
            fprintf(stderr, "nslock: shell: NS wants one namespace name\n");
            return LINE_FAILED;
        }
        if (nslock_namespace(c, ns, &err) < 0)
            return failed(c, &err);
        printf("OK\n");
        return LINE_OK;
    }
    if (strcasecmp(word, "TSTART") == 0 || strcasecmp(word, "TCOMMIT") == 0
        || strcasecmp(word, "TROLLBACK") == 0)
        return do_transaction(c, word, args);
    if (strcasecmp(word, "SHOW") == 0)
        return do_show(c, args);
    if (strcasecmp(word, "RESOLVE") == 0)
        return do_resolve(c, args);
    if (strcasecmp(word, "STATS") == 0)
        return do_stats(c);
    if (strcasecmp(word, "PING") == 0) {
        if (nslock_ping(c, &err) < 0)
            return failed(c, &err);
        printf("PONG\n");
        return LINE_OK;
    }
    if (strcasecmp(word, "SESSION") == 0) {
        printf("session %" PRIu64 "\n", nslock_session_id(c));
        return LINE_OK;
    }
    if (strcasecmp(word, "QUIT") == 0 || strcasecmp(word, "EXIT") == 0)
        return LINE_QUIT;
    if (strcasecmp(word, "HELP") == 0 || strcmp(word, "?") == 0) {
        help();
        return LINE_OK;
    }
    fprintf(stderr, "nslock: shell: unknown request '%s' (HELP lists them)\n", word);
    return LINE_FAILED;
}

static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0')
        return NULL;
    size_t n = strlen(home) + sizeof "/.nslock_history";
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/.nslock_history", home);
    return path;
}

/* The interactive loop, on libedit's readline interface. */
static int interactive(nslock *c)
{
    char *history = history_path();
    rl_readline_name = "nslock";   /* for ~/.editrc */
    stifle_history(1000);
    if (history)
        read_history(history);
    int status = NSL_EXIT_OK;
    for (;;) {
        char prompt[80];
        const char *ns = nslock_current_namespace(c);
        snprintf(prompt, sizeof prompt, "%s> ", ns ? ns : "nslock");
        char *line = readline(prompt);
        if (line == NULL) {
            printf("\n");
            break;
        }
        if (*skip_blanks(line))
            add_history(line);
        line_result r = run_line(c, line);
        free(line);
        fflush(stdout);
        if (r == LINE_QUIT)
            break;
        if (r == LINE_LOST) {
            status = NSL_EXIT_USAGE;
            break;
        }
    }
    if (history)
        write_history(history);
    free(history);
    return status;
}

/* A script on standard input: no prompt, no history. */
static int scripted(nslock *c)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int status = NSL_EXIT_OK;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        line_result r = run_line(c, line);
        fflush(stdout);   /* keep results in step with errors on stderr */
        if (r == LINE_QUIT)
            break;
        if (r == LINE_LOST) {
            status = NSL_EXIT_USAGE;
            break;
        }
        if (r == LINE_FAILED)
            status = NSL_EXIT_FAIL;
    }
    free(line);
    return status;
}

int nsl_cmd_shell(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"namespace", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *socket_path = NULL, *ns = NULL;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "n:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': ns = optarg; break;
        case NSL_OPT_SOCKET: socket_path = optarg; break;
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            return nsl_cli_bad_option("shell", opt, "n", argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock: shell: unexpected argument '%s'\nTry 'nslock shell --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    nslock *c = nsl_cli_connect("shell", socket_path, NSLOCK_KEEPER_THREAD);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    nslock_on_reclaimed(c, said_reclaimed, NULL);
    nslock_on_lost(c, said_lost, NULL);
    nslock_error err;
    int status;
    if (ns && nslock_namespace(c, ns, &err) < 0) {
        nsl_cli_report("shell", &err);
        status = nsl_cli_exit_status(&err);
    } else {
        status = isatty(STDIN_FILENO) ? interactive(c) : scripted(c);
    }
    nslock_close(c);
    return status;
}
