/* libFuzzer target: the server's request handling, through a server inside
 * this process (server/harness.c): real sessions over a Unix socket, their
 * framing, queues and registration, every request, the engine.
 *
 * The input is lines. The first byte of a line says what happens:
 *   '0'..'3' (any other byte: its value mod 4)  the rest is a request of
 *            session 0..3, connected on first use; session 3 is an admin
 *   '~'      engine time jumps ahead by the number that follows (ms,
 *            default 1000): timeouts and deadlock checks fire
 *   '!'      the client of the session named by the next byte hangs up
 * A session that ended (QUIT, a hang-up) is replaced by a new one when
 * next used.
 *
 * Checked after every line: the engine's invariants (nsl_engine_check);
 * every response is well formed (OK, ERR CODE message, DATA n and n rows
 * of valid UTF-8 without control bytes but tabs); a session with nothing
 * in progress has had exactly one answer per request, a busy one fewer.
 * At the end every client hangs up: every session must go, leaving an
 * empty table; under -detect_leaks nothing may stay allocated. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "namespaces/namespaces.h"
#include "server/server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits, so that an input of a few lines reaches them: a full
 * table, escalation, the session's entry limit, the pipelining limit. */
static const char CONFIG[] =
    "lock_table:\n"
    "  max_entries: 24\n"
    "  escalation_threshold: 4\n"
    "  deadlock_check_ms: 100\n"
    "  max_session_entries: 16\n"
    "server:\n"
    "  max_pending: 4\n"
    "  recovery_grace_s: 1\n"
    "default_namespace: USER\n"
    "local_locks: USERDB\n"
    "databases:\n"
    "  USERDB:  { directory: /data/user }\n"
    "  ALPHADB: { directory: /data/alpha }\n"
    "  BETADB:  { directory: /data/beta }\n"
    "namespaces:\n"
    "  USER:  { globals: USERDB }\n"
    "  ALPHA: { globals: ALPHADB }\n"
    "  BETA:\n"
    "    globals: BETADB\n"
    "    map:\n"
    "      MyGlobal(15): ALPHADB\n"
    "      Orders(1):(1000): ALPHADB\n"
    "      Log*: USERDB\n";

enum { SLOTS = 4, ADMIN_SLOT = 3, MAX_TURNS = 10000 };

typedef struct slot {
    int fd;                      /* -1: not connected */
    nsl_owner_id owner;
    uint64_t sent, answers;
    uint64_t rows_due;           /* DATA rows still to come */
    char line[1 << 16];          /* the response line being read */
    size_t line_len;
    bool line_too_long;
} slot;

static slot slots[SLOTS];
static nsl_harness *harness;
static bool trace;               /* NSLOCK_FUZZ_TRACE set: show the dialogue on stderr */

static void fail(const char *what, const slot *s)
{
    fprintf(stderr, "fuzz_server_protocol: %s (session %u: %llu requests, %llu answers, "
            "%llu DATA rows due)\n", what, s ? s->owner : 0, s ? (unsigned long long)s->sent : 0,
            s ? (unsigned long long)s->answers : 0, s ? (unsigned long long)s->rows_due : 0);
    abort();
}

static bool valid_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                   : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n || (len == 2 && c < 0xC2) || (c == 0xF4 && p[i + 1] > 0x8F) ||
            c > 0xF4 || (c == 0xE0 && p[i + 1] < 0xA0) || (c == 0xF0 && p[i + 1] < 0x90) ||
            (c == 0xED && p[i + 1] > 0x9F))
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static bool digits(const char *p, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* One complete response line. */
static void check_line(slot *s, const char *p, size_t n)
{
    if (trace)
        fprintf(stderr, "%u< %.*s\n", s->owner, (int)n, p);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && !(c == '\t' && s->rows_due)) || c == 0x7F)
            fail("a control byte in a response", s);
    }
    if (s->rows_due) {
        if (!valid_utf8((const unsigned char *)p, n))
            fail("a DATA row that is not UTF-8", s);
        s->rows_due--;
        return;
    }
    s->answers++;
    if (n >= 2 && !memcmp(p, "OK", 2) && (n == 2 || p[2] == ' '))
        return;
    if (n > 4 && !memcmp(p, "ERR ", 4)) {
        size_t i = 4;
        while (i < n && p[i] >= 'A' && p[i] <= 'Z')
            i++;
        if (i == 4 || i + 1 >= n || p[i] != ' ')
            fail("an ERR without a code and a message", s);
        return;
    }
    if (n > 5 && !memcmp(p, "DATA ", 5)) {
        const char *num = p + 5, *end = memchr(num, ' ', n - 5);
        size_t len = end ? (size_t)(end - num) : n - 5;
        static const char recovering[] = " recovering ";
        size_t rest = n - 5 - len;
        if (!digits(num, len) || len > 9 ||
            (end && (rest <= sizeof recovering - 1 ||
                     memcmp(end, recovering, sizeof recovering - 1) != 0 ||
                     !digits(end + sizeof recovering - 1, rest - (sizeof recovering - 1)))))
            fail("a malformed DATA line", s);
        s->rows_due = 0;
        for (size_t i = 0; i < len; i++)
            s->rows_due = s->rows_due * 10 + (uint64_t)(num[i] - '0');
        return;
    }
    fail("a response that is neither OK, ERR nor DATA", s);
}

/* Reads what the server sent s; false at the end of the connection. */
static bool drain(slot *s, size_t *got)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        if (n == 0)
            return false;
        *got += (size_t)n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                if (s->line_too_long)
                    fail("a response line over 64 KiB", s);
                check_line(s, s->line, s->line_len);
                s->line_len = 0;
            } else if (s->line_len < sizeof s->line) {
                s->line[s->line_len++] = buf[i];
            } else {
                s->line_too_long = true;
            }
        }
    }
}

static void hang_up(slot *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* Turns the loop and reads every client until nothing moves. */
static void pump(void)
{
    int quiet = 0;
    for (int turn = 0; turn < MAX_TURNS && quiet < 2; turn++) {
        nsl_harness_turn(harness);
        size_t got = 0;
        for (int i = 0; i < SLOTS; i++) {
            slot *s = &slots[i];
            if (s->fd >= 0 && !drain(s, &got)) {
                if (s->line_len)
                    fail("a response cut short", s);
                hang_up(s);
            }
        }
        quiet = got || !nsl_harness_flushed(harness) ? 0 : quiet + 1;
    }
    if (quiet < 2)
        fail("the server never finished sending", NULL);
}

static void check_sessions(void)
{
    char why[256];
    if (!nsl_engine_check(nsl_harness_engine(harness), why, sizeof why)) {
        fprintf(stderr, "fuzz_server_protocol: engine: %s\n", why);
        abort();
    }
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &slots[i];
        if (s->fd < 0)
            continue;
        switch (nsl_harness_session(harness, s->owner)) {
        case NSL_HARNESS_GONE:
            hang_up(s);              /* it is over: the next line gets a new session */
            break;
        case NSL_HARNESS_BUSY:
            if (s->answers >= s->sent)
                fail("a busy session with every request answered", s);
            break;
        case NSL_HARNESS_IDLE:
            if (s->answers != s->sent || s->rows_due)
                fail("an idle session without one answer per request", s);
            break;
        }
    }
}

static slot *connected(int i)
{
    slot *s = &slots[i];
    if (s->fd >= 0)
        return s;
    memset(s, 0, offsetof(slot, line));
    s->line_len = 0;
    s->line_too_long = false;
    s->fd = nsl_harness_connect(harness, i == ADMIN_SLOT, &s->owner);
    if (s->fd < 0)
        fail("cannot connect", NULL);
    return s;
}

static void send_request(slot *s, const char *p, size_t n)
{
    struct iovec iov[2] = {{(void *)p, n}, {"\n", 1}};
    if (trace)
        fprintf(stderr, "%u> %.*s\n", s->owner, (int)n, p);
    s->sent++;
    for (int tries = 0; iov[1].iov_len && tries < MAX_TURNS; tries++) {
        ssize_t w = writev(s->fd, iov[0].iov_len ? iov : iov + 1, iov[0].iov_len ? 2 : 1);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            hang_up(s);              /* the server closed it: nothing to check */
            return;
        }
        if (w < 0) {                 /* the socket is full: let the server read */
            pump();
            if (s->fd < 0)
                return;
            continue;
        }
        size_t done = (size_t)w;
        size_t first = done < iov[0].iov_len ? done : iov[0].iov_len;
        iov[0].iov_base = (char *)iov[0].iov_base + first;
        iov[0].iov_len -= first;
        done -= first;
        if (done)
            iov[1].iov_len = 0;
    }
    pump();
}

static void pass_time(const char *p, size_t n)
{
    uint64_t ms = 0;
    size_t i = 0;
    for (; i < n && i < 8 && p[i] >= '0' && p[i] <= '9'; i++)
        ms = ms * 10 + (uint64_t)(p[i] - '0');
    nsl_harness_pass_time(harness, i ? ms : 1000);
    pump();
}

static void run_line(const char *p, size_t n)
{
    if (!n)
        return;
    unsigned char first = (unsigned char)p[0];
    if (first == '~') {
        pass_time(p + 1, n - 1);
    } else if (first == '!') {
        slot *s = &slots[n > 1 ? (unsigned char)p[1] % SLOTS : 0];
        hang_up(s);
        pump();
    } else {
        send_request(connected(first % SLOTS), p + 1, n - 1);
    }
    check_sessions();
}

static const nsl_resolver *resolver(void)
{
    static nsl_resolver *res;
    if (res)
        return res;
    nsl_diags diags;
    nsl_diags_init(&diags);
    nsl_config *cfg = NULL;
    nsl_registry *reg = NULL;
    if (nsl_config_load_buffer("<fuzz>", CONFIG, sizeof CONFIG - 1, &cfg, &diags) != NSL_CONFIG_OK ||
        !(reg = nsl_registry_build(cfg, &diags)) || !(res = nsl_resolver_new(reg, &diags))) {
        nsl_diags_print(&diags, stderr);
        abort();
    }
    nsl_diags_free(&diags);
    return res;                  /* kept for the life of the process, with cfg and reg */
}

static const char *work_dir(void)
{
    static char dir[64];
    if (dir[0])
        return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/nslock-fuzz-XXXXXX", base);
    if (!mkdtemp(dir))
        abort();
    return dir;
}

static void remove_work_dir(void)
{
    if (work_dir()[0])
        rmdir(work_dir());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        signal(SIGPIPE, SIG_IGN);    /* a write to a session the server closed */
        nsl_log_set_level(NSL_LOG_ERROR);
        atexit(remove_work_dir);
        trace = getenv("NSLOCK_FUZZ_TRACE") != NULL;
        ready = true;
    }
    harness = nsl_harness_new(resolver(), work_dir());
    if (!harness)
        abort();
    for (int i = 0; i < SLOTS; i++)
        slots[i].fd = -1;

    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        run_line(p, n);
        p += n + 1;
    }

    for (int i = 0; i < SLOTS; i++)
        hang_up(&slots[i]);
    for (int turn = 0; turn < MAX_TURNS && nsl_harness_session_count(harness); turn++)
        nsl_harness_turn(harness);
    if (nsl_harness_session_count(harness))
        fail("a session outlived its connection", NULL);
    char why[256] = "consistent";
    nsl_engine_stats st;
    nsl_engine_stats_get(nsl_harness_engine(harness), &st);
    if (!nsl_engine_check(nsl_harness_engine(harness), why, sizeof why) || st.entries ||
        st.waiters || st.owners) {
        fprintf(stderr, "fuzz_server_protocol: after every session ended: %s, %llu entries, "
                "%llu waiters, %llu owners\n", why, (unsigned long long)st.entries,
                (unsigned long long)st.waiters, (unsigned long long)st.owners);
        abort();
    }
    nsl_harness_free(harness);
    harness = NULL;
    return 0;
}
