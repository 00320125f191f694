#define _GNU_SOURCE     /* strptime, timegm */
/* nslock show: the live lock table by database (docs/PROTOCOL.md), lslocks-style. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_show.h"
#include "cli/connect.h"
#include "cli/table.h"

enum {
    COL_DATABASE, COL_DIRECTORY, COL_OWNER, COL_PID, COL_CLIENT, COL_MODE, COL_NAME,
    COL_NAMESPACE, COL_SINCE, COL_AGE, COL_TOKEN, COL_BLOCKERS, NCOLUMNS
};

/* In the order of the server's columns (docs/PROTOCOL.md, SHOW sort=). */
static const nsl_table_column columns[NCOLUMNS] = {
    [COL_DATABASE]  = {"DATABASE", 8, 0, "the database the entry belongs to"},
    [COL_DIRECTORY] = {"DIRECTORY", 12, NSL_COL_TRUNC, "that database's directory"},
    [COL_OWNER]     = {"OWNER", 5, NSL_COL_RIGHT | NSL_COL_NUMBER, "the session holding or waiting"},
    [COL_PID]       = {"PID", 5, NSL_COL_RIGHT | NSL_COL_NUMBER, "the client's process id"},
    [COL_CLIENT]    = {"CLIENT", 12, NSL_COL_TRUNC, "the name the client gave"},
    [COL_MODE]      = {"MODE", 9, 0, "Exclusive, Shared/2, Exclusive_e, ...->Delock, Wait..."},
    [COL_NAME]      = {"NAME", 0.3, 0, "the lock name, canonical"},
    [COL_NAMESPACE] = {"NAMESPACE", 9, 0, "the namespace the lock was taken in"},
    [COL_SINCE]     = {"SINCE", 24, 0, "when it was granted or requested (UTC)"},
    [COL_AGE]       = {"AGE", 6, NSL_COL_RIGHT | NSL_COL_NUMBER, "how long held or waited (seconds with -r and -J)"},
    [COL_TOKEN]     = {"TOKEN", 5, NSL_COL_RIGHT | NSL_COL_NUMBER, "the grant's fencing token"},
    [COL_BLOCKERS]  = {"BLOCKERS", 8, 0, "the owners a waiting request waits for, or why (table-full, recovering)"},
};

/* Seconds since an ISO 8601 UTC time as SHOW gives it; 0 when unreadable
 * or in the future. */
static long long age_seconds(const char *since, time_t now)
{
    struct tm tm = {0};
    const char *end = strptime(since, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return 0;
    time_t t = timegm(&tm);
    return now > t ? (long long)(now - t) : 0;
}

/* 4s, 2m05s, 3h10m, 2d4h: two units at most, as ps and top shorten times. */
static void format_age(long long s, char *buf, size_t cap)
{
    if (s < 60)
        snprintf(buf, cap, "%llds", s);
    else if (s < 3600)
        snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, cap, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock show [OPTIONS]\n"
            "\n"
            "Show the live lock table: one row per database entry, sorted by database,\n"
            "name in collation order, owner; waiting requests too (mode Wait...).\n"
            "\n"
            "Options:\n"
            "      --database DB      only entries of database DB\n"
            "      --namespace NS     only locks taken in namespace NS\n"
            "      --owner ID         only session ID\n"
            "      --pid PID          only clients with process id PID\n"
            "  -N, --namespace NS     the same as --namespace\n"
            "      --name PREFIX      only names starting with PREFIX\n"
            "      --no-waiters       leave out waiting requests\n"
            "      --waiters-only     only waiting requests\n"
            "      --sort COLUMN      sort by COLUMN (AGE: the oldest first), then as usual\n"
            "  -u, --notruncate       never cut a cell short\n"
            "      --output-all       every column\n"
            "  -H, --list-columns     list the columns and what they show\n"
            "      --watch [SECONDS]  redraw every SECONDS (default 2) until Ctrl-C\n");
    nsl_cli_socket_usage(out);
    fprintf(out, "  -h, --help             show this help\n");
    nsl_table_usage(out, columns, NCOLUMNS);
    fprintf(out, "\nExit status: 0 success, 2 a bad option or no connection to the server.\n");
}

bool nsl_cli_print_entries(const char *cmd, const nslock_entry *rows, size_t count,
                           const nsl_table_opts *topts)
{
    nsl_table *t = nsl_table_new(cmd, "locks", columns, NCOLUMNS, topts);
    if (t == NULL)
        return false;
    bool ok = true;
    time_t now = time(NULL);
    for (size_t i = 0; i < count && ok; i++) {
        const nslock_entry *e = &rows[i];
        char owner[24], pid[24], token[24], age[24];
        long long secs = age_seconds(e->since, now);
        if (topts->raw)
            snprintf(age, sizeof age, "%lld", secs);
        else
            format_age(secs, age, sizeof age);
        snprintf(owner, sizeof owner, "%" PRIu64, e->owner);
        snprintf(pid, sizeof pid, "%ld", e->pid);
        snprintf(token, sizeof token, "%" PRIu64, e->token);
        const char *cells[NCOLUMNS] = {
            [COL_DATABASE] = e->database,
            [COL_DIRECTORY] = e->directory,
            [COL_OWNER] = owner,
            [COL_PID] = e->pid ? pid : "",
            [COL_CLIENT] = e->client,
            [COL_MODE] = e->mode,
            [COL_NAME] = e->name,
            [COL_NAMESPACE] = e->namespace_name,
            [COL_SINCE] = e->since,
            [COL_AGE] = age,
            [COL_TOKEN] = e->waiting ? "" : token,
            [COL_BLOCKERS] = e->blockers,
        };
        ok = nsl_table_add_row(t, cells);
    }
    if (!ok)
        fprintf(stderr, "nslock: %s: out of memory\n", cmd);
    else if (!nsl_table_print(t)) {
        fprintf(stderr, "nslock: %s: cannot write the table\n", cmd);
        ok = false;
    }
    nsl_table_free(t);
    return ok;
}

bool nsl_cli_table_accepts(const char *cmd, const nsl_table_opts *topts)
{
    nsl_table *t = nsl_table_new(cmd, "locks", columns, NCOLUMNS, topts);
    nsl_table_free(t);
    return t != NULL;
}

static int write_stdout(void *arg, const char *text, size_t len)
{
    (void)arg;
    return fwrite(text, 1, len, stdout) == len ? 0 : -1;
}

/* -o (or --output-all) as the server's columns= list; NULL for all. */
static bool json_columns(const nsl_table_opts *topts, char *buf, size_t cap, const char **out)
{
    *out = NULL;
    if (!topts->output)
        return true;
    nsl_table *t = nsl_table_new("show", "locks", columns, NCOLUMNS, topts);
    if (t == NULL)
        return false;
    const size_t *sel;
    size_t n = nsl_table_selected(t, &sel), len = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < n && len + 16 < cap; k++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s", k ? "," : "");
        for (const char *p = columns[sel[k]].name; *p; p++)
            buf[len++] = (char)(*p | 0x20);
        buf[len] = '\0';
    }
    nsl_table_free(t);
    *out = buf;
    return true;
}

/* One answer: the table (or JSON) on stdout; the exit status. */
static int show_once(nslock *c, const nslock_show_filter *filter, nslock_show_more more,
                     const nsl_table_opts *topts)
{
    nslock_error err;
    int rc;
    nslock_entry *rows = NULL;
    size_t count = 0;
    if (topts->json) {
        char buf[256];
        const char *cols;
        if (!json_columns(topts, buf, sizeof buf, &cols))
            return NSL_EXIT_USAGE;
        more.columns = cols;
        rc = nslock_show_json(c, filter, &more, write_stdout, NULL, &err);
        if (rc == 0 && fflush(stdout) != 0)
            rc = -1;
    } else {
        rc = nslock_show_ex(c, filter, &more, &rows, &count, &err);
    }
    if (rc < 0) {
        nsl_cli_report("show", &err);
        return nsl_cli_exit_status(&err);
    }
    long long awaited = nslock_recovering(c);
    if (awaited >= 0)
        fprintf(stderr, "nslock: show: the server is recovering after a restart: it waits "
                "for %lld session%s to reclaim their locks before granting new ones\n",
                awaited, awaited == 1 ? "" : "s");
    int status = NSL_EXIT_OK;
    if (!topts->json)
        status = nsl_cli_print_entries("show", rows, count, topts) ? NSL_EXIT_OK : NSL_EXIT_USAGE;
    nslock_free(rows);
    return status;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* --watch: like watch(1), a header and the table, redrawn in place on a
 * terminal; elsewhere one table after another, a blank line between.
 * Ctrl-C ends it with status 0. */
static int watch(nslock *c, const nslock_show_filter *filter, nslock_show_more more,
                 const nsl_table_opts *topts, double interval, const char *server)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_interrupt;   /* no SA_RESTART: the sleep ends at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(STDOUT_FILENO);
    for (unsigned n = 0; !interrupted; n++) {
        char when[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
        if (tty)
            fputs("\033[H\033[2J", stdout);
        else if (n)
            putchar('\n');
        printf("Every %gs: nslock show on %s    %s\n", interval, server, when);
        if (!tty)
            putchar('\n');
        int status = show_once(c, filter, more, topts);
        if (status != NSL_EXIT_OK)
            return interrupted ? NSL_EXIT_OK : status;
        fflush(stdout);
        struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
        while (!interrupted && nanosleep(&ts, &ts) != 0)
            ;
    }
    return NSL_EXIT_OK;
}

static bool parse_interval(const char *arg, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v >= 0.1 && v <= 86400)) {
        fprintf(stderr, "nslock: show: --watch takes seconds from 0.1 to 86400, not '%s'\n", arg);
        return false;
    }
    *out = v;
    return true;
}

int nsl_cmd_show(int argc, char **argv)
{
    enum { OPT_DATABASE = 0x200, OPT_NAMESPACE, OPT_OWNER, OPT_PID, OPT_NAME, OPT_NO_WAITERS,
           OPT_WAITERS_ONLY, OPT_SORT, OPT_WATCH };
    static const struct option longopts[] = {
        {"database", required_argument, NULL, OPT_DATABASE},
        {"namespace", required_argument, NULL, 'N'},
        {"owner", required_argument, NULL, OPT_OWNER},
        {"pid", required_argument, NULL, OPT_PID},
        {"name", required_argument, NULL, OPT_NAME},
        {"no-waiters", no_argument, NULL, OPT_NO_WAITERS},
        {"waiters-only", no_argument, NULL, OPT_WAITERS_ONLY},
        {"sort", required_argument, NULL, OPT_SORT},
        {"watch", optional_argument, NULL, OPT_WATCH},
        {"list-columns", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        NSL_TABLE_LONGOPTS,
        NSL_TABLE_EXTRA_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    nslock_show_filter filter = {0};
    nslock_show_more more = {0};
    nsl_table_opts topts = {0};
    const char *socket_path = NULL;
    char sort[16];
    bool list_columns = false, watching = false;
    double interval = 2;
    uint64_t id;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "hHuN:" NSL_TABLE_SHORTOPTS, longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_DATABASE: filter.database = optarg; break;
        case 'N': filter.namespace_name = optarg; break;
        case OPT_OWNER:
            if (!nsl_cli_parse_id("show", "--owner", optarg, &filter.owner))
                return NSL_EXIT_USAGE;
            break;
        case OPT_PID:
            if (!nsl_cli_parse_id("show", "--pid", optarg, &id))
                return NSL_EXIT_USAGE;
            filter.pid = (long)id;
            break;
        case OPT_NAME: filter.name_prefix = optarg; break;
        case OPT_NO_WAITERS: filter.no_waiters = 1; break;
        case OPT_WAITERS_ONLY: more.waiters_only = 1; break;
        case OPT_SORT: {
            size_t i = 0;
            while (i < NCOLUMNS && strcasecmp(columns[i].name, optarg) != 0)
                i++;
            if (i == NCOLUMNS) {
                fprintf(stderr, "nslock: show: --sort: unknown column '%s' (see 'nslock show -H')\n",
                        optarg);
                return NSL_EXIT_USAGE;
            }
            size_t k = 0;
            for (const char *p = columns[i].name; *p; p++)
                sort[k++] = (char)(*p | 0x20);
            sort[k] = '\0';
            more.sort = sort;
            break;
        }
        case OPT_WATCH:
            watching = true;
            /* --watch SECONDS as well as --watch=SECONDS */
            if (!optarg && optind < argc && argv[optind][0] >= '0' && argv[optind][0] <= '9')
                optarg = argv[optind++];
            if (optarg && !parse_interval(optarg, &interval))
                return NSL_EXIT_USAGE;
            break;
        case 'H': list_columns = true; break;
        case NSL_OPT_SOCKET: socket_path = optarg; break;
        NSL_CONNECT_CASES("show");
        case 'h': usage(stdout); return NSL_EXIT_OK;
        case '?':
        case ':':
            return nsl_cli_bad_option("show", opt, "oN", argv);
        default:
            nsl_table_option(&topts, opt, optarg);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock: show: unexpected argument '%s'\nTry 'nslock show --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    if (list_columns)
        return nsl_table_list_columns("show", columns, NCOLUMNS, &topts) ? NSL_EXIT_OK
                                                                           : NSL_EXIT_USAGE;
    if (topts.output_all)
        topts.output = "DATABASE,DIRECTORY,OWNER,PID,CLIENT,MODE,NAME,NAMESPACE,SINCE,AGE,TOKEN,BLOCKERS";
    /* a bad -o is a usage error found before bothering the server */
    if (!nsl_cli_table_accepts("show", &topts))
        return NSL_EXIT_USAGE;

    nslock *c = nsl_cli_connect("show", socket_path, NSLOCK_KEEPER_NONE);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    int status;
    if (watching) {
        char server[4096];
        if (nslock_server_address(c, server, sizeof server) < 0)
            snprintf(server, sizeof server, "the server");
        status = watch(c, &filter, more, &topts, interval, server);
    } else {
        status = show_once(c, &filter, more, &topts);
    }
    nslock_close(c);
    return status;
}
