/* nslock shell: type LOCK commands (docs/LANGUAGE.md) and the other requests at a
 * prompt, with libedit's line editing, history and completion; reads a
 * script when standard input is not a terminal. $TEST, WRITE and ZSHOW "L"
 * behave as in GT.M's direct mode. */
#define _GNU_SOURCE     /* pipe2 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wchar.h>

#include <histedit.h>

#include "mapping/mapping.h"

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
            "At the prompt: Tab completes requests, SHOW filters and namespace names;\n"
            "Ctrl-C drops the line being typed, or cancels a LOCK that waits (the\n"
            "session keeps what it held); Ctrl-D on an empty line ends the session.\n"
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
           "                          prints $TEST=T token=N when granted, $TEST=0 when it\n"
           "                          timed out, or OK; as in M a timed LOCK sets $TEST and\n"
           "                          an untimed one leaves it as it was (1 at the start)\n"
           "                          Ctrl-C cancels a LOCK that waits\n"
           "WRITE $TEST               (also W $T) $TEST, $TLEVEL, \"text\" and ! (new line)\n"
           "ZSHOW \"L\"                 this session's locks, as GT.M lists them:\n"
           "                          LOCK ^a(1) LEVEL=1, LOCK ^|\"BETA\"|b#\"S\" LEVEL=2\n"
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

/* What the shell keeps between lines. */
static struct {
    int dollar_test;              /* M's $TEST: 1 at start, as in GT.M */
    nsl_lock_command cmd;         /* the LOCK command being run, parsed here */
    char *typed;                  /* the line as typed, for carets */
    nslock_namespace_info *namespaces;   /* for completion, asked once */
    size_t namespace_count;
    bool namespaces_asked;
} shell = {.dollar_test = 1};

/* Ctrl-C: while a request runs it cancels a waiting LOCK; while a line is
 * edited it wakes read_key, which drops the line. */
static _Atomic(nslock *) cancel_target;
static int sigint_pipe[2] = {-1, -1};

static void on_sigint(int sig)
{
    (void)sig;
    int saved = errno;
    nslock *c = atomic_load(&cancel_target);
    if (c) {
        nslock_cancel(c);
    } else if (sigint_pipe[1] >= 0) {
        char b = 0;
        ssize_t n = write(sigint_pipe[1], &b, 1);
        (void)n;   /* a full pipe has woken the reader already */
    }
    errno = saved;
}

/* The typed line again with a caret under byte offset `at` (GT.M's way),
 * so that a script's log shows what was wrong where. */
static void point_at(size_t at)
{
    const char *line = shell.typed ? shell.typed : "";
    size_t len = strlen(line);
    fprintf(stderr, "%s\n", line);
    for (size_t i = 0; i < at; i++) {
        unsigned char ch = i < len ? (unsigned char)line[i] : ' ';
        if ((ch & 0xC0) == 0x80)
            continue;                /* one column per UTF-8 character */
        fputc(ch == '\t' ? '\t' : ' ', stderr);
    }
    fputs("^\n", stderr);
}

/* One piece of a LOCK command, with Ctrl-C cancelling it while it waits. */
static int run_lock(nslock *c, const char *text, nslock_outcome *got, nslock_error *err)
{
    atomic_store(&cancel_target, c);
    int rc = nslock_command(c, text, got, err);
    atomic_store(&cancel_target, NULL);
    return rc;
}

static bool takes_locks(const nsl_lock_arg *a)
{
    return a->op != NSL_OP_REMOVE && a->item_count > 0;
}

/* A LOCK command, parsed here: a syntax error gets a caret, and a command
 * of several arguments runs one argument at a time so that $TEST follows
 * M: a timed argument sets it, an untimed one leaves it as it was. */
static line_result do_lock(nslock *c, const char *line, const char *text)
{
    nsl_error perr;
    nslock_error err;
    nslock_outcome got = {.test = -1, .token = 0};
    size_t text_len = strlen(text);
    if (nsl_lock_command_parse(text, text_len, &shell.cmd, &perr) != NSL_OK) {
        if (perr.column > 0) {
            point_at((size_t)(text - line) + (size_t)perr.column - 1);
            fprintf(stderr, "ERR %s column %d: %s\n", nsl_code_name(perr.code),
                    (int)(text - line) + perr.column, perr.message);
        } else {
            fprintf(stderr, "ERR %s %s\n", nsl_code_name(perr.code), perr.message);
        }
        return LINE_FAILED;
    }
    size_t count = shell.cmd.arg_count;
    bool took = false;
    nslock_outcome last = {.test = -1, .token = 0};
    char *piece = malloc(text_len + sizeof "LOCK ");
    if (piece == NULL) {
        fprintf(stderr, "nslock: shell: out of memory\n");
        return LINE_FAILED;
    }
    line_result result = LINE_OK;
    for (size_t i = 0; i < (count ? count : 1); i++) {
        const nsl_lock_arg *a = count ? &shell.cmd.args[i] : NULL;
        const char *run = text;
        if (count > 1) {   /* "LOCK " and the argument's own text */
            size_t from = (size_t)a->column - 1;
            size_t to = i + 1 < count ? (size_t)shell.cmd.args[i + 1].column - 1 : text_len;
            while (to > from && (text[to - 1] == ' ' || text[to - 1] == ','))
                to--;
            snprintf(piece, text_len + sizeof "LOCK ", "LOCK %.*s", (int)(to - from), text + from);
            run = piece;
        }
        if (run_lock(c, run, &got, &err) < 0) {
            if (err.code == NSLOCK_E_CANCELLED) {
                fprintf(stderr, "nslock: shell: LOCK cancelled: nothing of %s was taken; the "
                        "session keeps what it held\n", count > 1 ? run + 5 : "it");
                result = LINE_FAILED;
            } else {
                result = failed(c, &err);
            }
            break;
        }
        if (a && takes_locks(a)) {
            took = true;
            last = got;
            if (a->has_timeout)
                shell.dollar_test = got.test;
        }
    }
    free(piece);
    if (result != LINE_OK)
        return result;       /* earlier arguments keep their effect, as in M */
    if (!took)
        printf("OK\n");
    else if (last.test == 1)
        printf("$TEST=%d token=%" PRIu64 "\n", shell.dollar_test, last.token);
    else
        printf("$TEST=%d\n", shell.dollar_test);
    return LINE_OK;
}

/* WRITE (W) of $TEST ($T), $TLEVEL ($TL), "strings" and ! (new line), as
 * M's direct mode does; the output always ends a line. */
static line_result do_write(nslock *c, const char *line, char *args)
{
    char out[4096];
    size_t n = 0;
    char *p = skip_blanks(args);
    if (*p == '\0') {
        point_at((size_t)(p - line));
        fprintf(stderr, "nslock: shell: WRITE wants something to write: $TEST, $TLEVEL, "
                "\"text\" or !\n");
        return LINE_FAILED;
    }
    while (*p) {
        char *item = p;
        if (*p == '"') {           /* a string; "" inside is one quote */
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                if (*p == '"')
                    p++;
                if (n + 1 < sizeof out)
                    out[n++] = *p;
            }
            if (*p != '"') {
                point_at((size_t)(item - line));
                fprintf(stderr, "nslock: shell: WRITE: a string without its closing quote\n");
                return LINE_FAILED;
            }
            p++;
        } else {
            size_t len = strcspn(p, ", \t");
            char word[16] = "";
            if (len < sizeof word)
                memcpy(word, p, len), word[len] = '\0';
            if (strcmp(word, "!") == 0) {
                if (n + 1 < sizeof out)
                    out[n++] = '\n';
            } else if (strcasecmp(word, "$T") == 0 || strcasecmp(word, "$TEST") == 0) {
                n += (size_t)snprintf(out + n, sizeof out - n, "%d", shell.dollar_test);
            } else if (strcasecmp(word, "$TL") == 0 || strcasecmp(word, "$TLEVEL") == 0) {
                n += (size_t)snprintf(out + n, sizeof out - n, "%d", nslock_tlevel(c));
            } else {
                point_at((size_t)(item - line));
                fprintf(stderr, "nslock: shell: WRITE shows $TEST, $TLEVEL, \"text\" and ! "
                        "here, not '%.*s'\n", (int)len, item);
                return LINE_FAILED;
            }
            p += len;
            if (n >= sizeof out)
                n = sizeof out - 1;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        char *rest = skip_blanks(p);
        if (*rest) {
            point_at((size_t)(rest - line));
            fprintf(stderr, "nslock: shell: WRITE: expected ',' between items\n");
            return LINE_FAILED;
        }
        p = rest;
    }
    if (n == 0 || out[n - 1] != '\n')
        out[n++] = '\n';
    fwrite(out, 1, n, stdout);
    return LINE_OK;
}

/* ZSHOW "L": the session's own locks, one line per lock name and type, as
 * GT.M prints them (LOCK ^a(1) LEVEL=2); a name taken in another namespace
 * is written as an extended reference. */
static line_result do_zshow(nslock *c, const char *line, char *args)
{
    static const char *const type_suffix[4] = {"", "#\"E\"", "#\"S\"", "#\"SE\""};
    char *what = skip_blanks(args);
    size_t len = strlen(what);
    while (len && (what[len - 1] == ' ' || what[len - 1] == '\t'))
        len--;
    if (!(len == 3 && what[0] == '"' && toupper((unsigned char)what[1]) == 'L' && what[2] == '"')) {
        point_at((size_t)(what - line));
        fprintf(stderr, "nslock: shell: ZSHOW shows \"L\" (this session's locks) only\n");
        return LINE_FAILED;
    }
    nslock_held *rows;
    size_t count;
    nslock_error err;
    if (nslock_held_list(c, &rows, &count, &err) < 0)
        return failed(c, &err);
    const char *ns = nslock_current_namespace(c);
    for (size_t i = 0; i < count; i++) {
        const nslock_held *h = &rows[i];
        bool elsewhere = ns && h->name[0] == '^' && strcmp(h->namespace_name, ns) != 0;
        for (int t = 0; t < 4; t++) {
            if (h->count[t] == 0)
                continue;
            if (elsewhere)
                printf("LOCK ^|\"%s\"|%s%s LEVEL=%u", h->namespace_name, h->name + 1,
                       type_suffix[t], h->count[t]);
            else
                printf("LOCK %s%s LEVEL=%u", h->name, type_suffix[t], h->count[t]);
            if (h->deferred[t])
                printf(" DELOCK=%u", h->deferred[t]);
            printf("\n");
        }
    }
    nslock_free(rows);
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

static line_result do_show(nslock *c, const char *line, char *args)
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
            point_at((size_t)(word - line));
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

static bool keyword_is(const char *word, size_t len, const char *full, size_t shortest)
{
    return len >= shortest && len <= strlen(full) && strncasecmp(word, full, len) == 0;
}

/* One line typed or read; line is trimmed of the newline. */
static line_result run_line(nslock *c, char *line)
{
    nslock_error err;
    char *args = skip_blanks(line);
    if (*args == '\0' || *args == ';' || *args == '#')   /* blank or comment */
        return LINE_OK;
    free(shell.typed);
    shell.typed = strdup(line);   /* the words below are cut in place */
    size_t keyword = strcspn(args, " \t");
    if ((keyword == 4 && strncasecmp(args, "LOCK", 4) == 0)
        || (keyword == 1 && toupper((unsigned char)*args) == 'L'))
        return do_lock(c, line, args);
    if (keyword_is(args, keyword, "WRITE", 1) && (keyword == 1 || keyword == 5))
        return do_write(c, line, args + keyword);
    if (keyword_is(args, keyword, "ZSHOW", 3) && (keyword == 3 || keyword == 5))
        return do_zshow(c, line, args + keyword);
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
        return do_show(c, line, args);
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

static void shell_end(void)
{
    nsl_lock_command_free(&shell.cmd);
    free(shell.typed);
    shell.typed = NULL;
    nslock_free(shell.namespaces);
    shell.namespaces = NULL;
}

/* ---- the interactive loop, on libedit ---------------------------------------- */

static const char *const request_words[] = {
    "LOCK", "NS", "TSTART", "TCOMMIT", "TROLLBACK", "SHOW", "RESOLVE", "STATS", "PING",
    "SESSION", "WRITE", "ZSHOW", "HELP", "QUIT", "EXIT", NULL,
};
static const char *const show_words[] = {
    "database=", "namespace=", "owner=", "pid=", "nowaiters", "name=", NULL,
};

static bool line_cancelled;       /* read_key saw Ctrl-C: drop the line */

/* libedit's character reader, watching for Ctrl-C too: the handler writes
 * to sigint_pipe, so no signal is missed between a check and the poll. */
static int read_key(EditLine *el, wchar_t *out)
{
    (void)el;
    char bytes[MB_LEN_MAX];
    size_t n = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                              {.fd = sigint_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;   /* SIGWINCH, SIGCONT: libedit redraws; Ctrl-C is in the pipe */
            return -1;
        }
        if (p[1].revents) {
            char drain[16];
            while (read(sigint_pipe[0], drain, sizeof drain) > 0)
                ;
            line_cancelled = true;
            return -1;
        }
        ssize_t got = read(STDIN_FILENO, bytes + n, 1);
        if (got == 0)
            return 0;
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        n++;
        mbstate_t state;
        memset(&state, 0, sizeof state);
        size_t rc = mbrtowc(out, bytes, n, &state);
        if (rc == (size_t)-2 && n < sizeof bytes)
            continue;                 /* more bytes of one character */
        if (rc == (size_t)-1 || rc == (size_t)-2) {
            n = 0;                    /* not a character here: dropped */
            continue;
        }
        return 1;
    }
}

static const char *namespace_name(size_t i)
{
    return i < shell.namespace_count ? shell.namespaces[i].name : NULL;
}

static void ask_namespaces(nslock *c)
{
    if (shell.namespaces_asked)
        return;
    shell.namespaces_asked = true;
    if (nslock_namespaces_list(c, &shell.namespaces, &shell.namespace_count, NULL) < 0) {
        shell.namespaces = NULL;      /* an older server: no namespace completion */
        shell.namespace_count = 0;
    }
}

typedef const char *(*word_source)(size_t i);

static const char *const *word_list;
static const char *listed_word(size_t i)
{
    return word_list[i];
}

/* Completes the word [word, word+len) from source's words: one match is
 * written out with `after`; several are extended to what they share, or
 * listed when they share nothing more. Keywords follow the case typed. */
static unsigned char complete_from(EditLine *el, const char *word, size_t len,
                                   word_source source, const char *after, bool follow_case)
{
    const char *first = NULL, *w;
    size_t matches = 0, common = 0;
    for (size_t i = 0; (w = source(i)) != NULL; i++) {
        if (strlen(w) < len || strncasecmp(w, word, len) != 0)
            continue;
        if (matches++ == 0) {
            first = w;
            common = strlen(w);
        } else {
            size_t k = len;
            while (k < common && toupper((unsigned char)w[k]) == toupper((unsigned char)first[k]))
                k++;
            common = k;
        }
    }
    if (matches == 0)
        return CC_ERROR;
    if (matches > 1 && common == len) {
        fputc('\n', stdout);
        for (size_t i = 0; (w = source(i)) != NULL; i++)
            if (strlen(w) >= len && strncasecmp(w, word, len) == 0)
                printf("%s  ", w);
        fputc('\n', stdout);
        return CC_REDISPLAY;
    }
    bool lower = false;
    for (size_t i = 0; follow_case && i < len; i++)
        lower |= islower((unsigned char)word[i]) != 0;
    char text[128];
    size_t n = 0;
    for (size_t i = 0; i < common && n + 1 < sizeof text; i++)
        text[n++] = lower ? (char)tolower((unsigned char)first[i]) : first[i];
    if (matches == 1)
        for (const char *a = after; *a && n + 1 < sizeof text; a++)
            text[n++] = *a;
    text[n] = '\0';
    el_deletestr(el, (int)len);
    return el_insertstr(el, text) == 0 ? CC_REFRESH : CC_ERROR;
}

/* Tab: the request keywords first, then namespace names (NS, SHOW
 * namespace=, an extended reference ^|"NS"| in a LOCK), SHOW's filters. */
static unsigned char complete(EditLine *el, int ch)
{
    (void)ch;
    nslock *c;
    el_get(el, EL_CLIENTDATA, (void **)&c);
    const LineInfo *li = el_line(el);
    const char *start = li->buffer, *cursor = li->cursor;
    const char *word = cursor;
    while (word > start && word[-1] != ' ' && word[-1] != '\t')
        word--;
    const char *first = start;
    while (first < cursor && (*first == ' ' || *first == '\t'))
        first++;
    size_t first_len = strcspn(first, " \t");
    if (first >= word) {
        word_list = request_words;
        return complete_from(el, word, (size_t)(cursor - word), listed_word, " ", true);
    }
    if (first_len == 2 && strncasecmp(first, "NS", 2) == 0) {
        ask_namespaces(c);
        return complete_from(el, word, (size_t)(cursor - word), namespace_name, " ", false);
    }
    if (first_len == 4 && strncasecmp(first, "SHOW", 4) == 0) {
        if (cursor - word >= 10 && strncasecmp(word, "namespace=", 10) == 0) {
            ask_namespaces(c);
            return complete_from(el, word + 10, (size_t)(cursor - word - 10), namespace_name,
                                 " ", false);
        }
        word_list = show_words;
        return complete_from(el, word, (size_t)(cursor - word), listed_word, "", true);
    }
    const char *ext = NULL;
    for (const char *p = word; p + 1 < cursor; p++)
        if (p[0] == '|' && p[1] == '"')
            ext = p + 2;
    if (ext && !memchr(ext, '"', (size_t)(cursor - ext))) {
        ask_namespaces(c);
        return complete_from(el, ext, (size_t)(cursor - ext), namespace_name, "\"|", false);
    }
    return CC_ERROR;
}

static char prompt_text[80];
static char *prompt(EditLine *el)
{
    (void)el;
    return prompt_text;
}

static EditLine *editor_open(nslock *c, History **hist, const char *history_file)
{
    HistEvent ev;
    EditLine *el = el_init("nslock", stdin, stdout, stderr);   /* "nslock" for ~/.editrc */
    *hist = history_init();
    if (el == NULL || *hist == NULL) {
        if (el)
            el_end(el);
        if (*hist)
            history_end(*hist);
        return NULL;
    }
    history(*hist, &ev, H_SETSIZE, 1000);
    history(*hist, &ev, H_SETUNIQUE, 1);
    if (history_file)
        history(*hist, &ev, H_LOAD, history_file);
    el_set(el, EL_CLIENTDATA, c);
    el_set(el, EL_HIST, history, *hist);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_SIGNAL, 1);          /* the terminal is restored on Ctrl-Z, redrawn after */
    el_set(el, EL_PROMPT, prompt);
    el_set(el, EL_GETCFN, read_key);
    /* wide strings: libedit keeps them as they are (narrow ones it copies and never frees) */
    el_wset(el, EL_ADDFN, L"nslock-complete", L"complete a request, filter or namespace",
            complete);
    el_wset(el, EL_BIND, L"^I", L"nslock-complete", NULL);
    el_source(el, NULL);               /* the user's own bindings last */
    return el;
}

/* The interactive loop. Ctrl-C drops the line being typed, or cancels a
 * LOCK that waits; Ctrl-D on an empty line (or QUIT) ends the session. */
static int interactive(nslock *c)
{
    setlocale(LC_CTYPE, "");           /* libedit reads and shows UTF-8 */
    if (pipe2(sigint_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        fprintf(stderr, "nslock: shell: pipe: %s\n", strerror(errno));
        return NSL_EXIT_USAGE;
    }
    struct sigaction sa = {.sa_handler = on_sigint};   /* no SA_RESTART: waits see EINTR */
    sigemptyset(&sa.sa_mask);
    struct sigaction old_sa;
    sigaction(SIGINT, &sa, &old_sa);
    char *history_file = history_path();
    History *hist;
    HistEvent ev;
    EditLine *el = editor_open(c, &hist, history_file);
    int status = NSL_EXIT_OK;
    if (el == NULL) {
        fprintf(stderr, "nslock: shell: cannot set up line editing\n");
        status = NSL_EXIT_USAGE;
    }
    for (; el;) {
        const char *ns = nslock_current_namespace(c);
        snprintf(prompt_text, sizeof prompt_text, "%s> ", ns ? ns : "nslock");
        line_cancelled = false;
        int count;
        const char *got = el_gets(el, &count);
        if (line_cancelled) {          /* Ctrl-C: a new prompt, as bash and psql do */
            printf("\n");
            continue;
        }
        if (got == NULL || count <= 0) {   /* Ctrl-D or end of input */
            printf("\n");
            break;
        }
        char *line = strdup(got);
        if (line == NULL)
            break;
        line[strcspn(line, "\r\n")] = '\0';
        if (*skip_blanks(line))
            history(hist, &ev, H_ENTER, line);
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
    if (el) {
        if (history_file)
            history(hist, &ev, H_SAVE, history_file);
        el_end(el);
        history_end(hist);
    }
    free(history_file);
    shell_end();
    sigaction(SIGINT, &old_sa, NULL);
    close(sigint_pipe[0]);
    close(sigint_pipe[1]);
    sigint_pipe[0] = sigint_pipe[1] = -1;
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
    shell_end();
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
        NSL_CONNECT_CASES("shell");
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
