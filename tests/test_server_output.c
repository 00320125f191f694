/* Big answers and clients that do not read them: a SHOW of a large table
 * is produced a piece at a time, and the memory of unsent answers is
 * bounded for the whole server (server.output_limit_mb), whatever the
 * number of sessions that never read. */
#define _GNU_SOURCE     /* POLLRDHUP */
#include "server_client.h"

enum { ENTRIES = 100000, SILENT = 8 };

/* The server's resident memory in KiB (VmRSS). */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    assert_true(kib > 0);
    return kib;
}

/* Whether the server closed its end within ms, without reading what it
 * sent (a Unix socket sees the hang-up at once). */
static bool closed_unread(const tcl *c, int ms)
{
    long deadline = ts_now_ms() + ms;
    while (ts_now_ms() < deadline) {
        struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
        if (poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP)))
            return true;
    }
    return false;
}

/* ENTRIES locks in one session, pipelined a thousand at a time. */
static void fill(tcl *c)
{
    enum { BATCH = 1000 };
    static char buf[BATCH * 32];
    for (int i = 0; i < ENTRIES; i += BATCH) {
        size_t len = 0;
        for (int j = i; j < i + BATCH; j++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "LOCK +^t(%d)\n", j);
        cl_sendn(c, buf, len);
        for (int j = i; j < i + BATCH; j++)
            if (strncmp(cl_line(c), "OK 1 ", 5) != 0)
                fail_msg("LOCK %d: %s", j, c->last);
    }
}

static void unread_shows_stay_bounded(void **state)
{
    (void)state;
    tsrv t;
    /* A session that reads none of its answers is ended after 1 s. */
    ts_start_with(&t, "  max_entries: 400000\n",
                  "server:\n  output_limit_mb: 2\n  session_timeout_s: 1\n");
    tcl *holder = cl_open(&t);
    fill(holder);
    long before = rss_kib(t.pid);

    /* Eight sessions ask for the whole table and never read: today's
     * answer is ~9 MB each. */
    tcl *silent[SILENT];
    for (int i = 0; i < SILENT; i++) {
        silent[i] = cl_open(&t);
        int small = 4096;
        setsockopt(silent[i]->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        cl_send(silent[i], "SHOW\n");
    }
    /* Meanwhile another session is answered, and the server does not grow
     * with the unread answers. */
    tcl *other = cl_open(&t);
    long peak = before;
    for (int round = 0; round < 20; round++) {
        assert_string_equal(cl_req(other, "PING"), "OK PONG");
        long now = rss_kib(t.pid);
        if (now > peak)
            peak = now;
        usleep(50000);
    }
    assert_string_equal(cl_req(other, "LOCK +^other"), "OK 1 100001");
    long grown_mib = (peak - before) / 1024;
    print_message("grown by %ld MiB for %d unread SHOWs of %d rows\n", grown_mib, SILENT,
                  ENTRIES + 1);
    if (grown_mib >= 40)
        fail_msg("the server grew by %ld MiB for unread answers (limit 2 MiB)", grown_mib);

    /* The silent sessions are ended, said in the log; then a SHOW of a
     * session that reads comes in full. */
    for (int i = 0; i < SILENT; i++)
        assert_true(closed_unread(silent[i], 60000));
    assert_true(ts_log_contains(&t, "read none of its"));
    int count = 0;
    char *rows = cl_data(other, "SHOW", &count);
    assert_int_equal(count, ENTRIES + 1);
    assert_non_null(strstr(rows, "\t^t(0)\t"));
    assert_non_null(strstr(rows, "\t^other\t"));
    free(rows);
    for (int i = 0; i < SILENT; i++)
        cl_close(silent[i]);
    cl_close(other);
    cl_close(holder);
    ts_finish(&t);
}

/* A SHOW answered a piece at a time keeps the order and the count of a
 * snapshot, and the requests pipelined behind it come after it, in order. */
/* A DATA answer already asked for: its rows, each ending in '\n'. */
static char *read_data(tcl *c, int *count)
{
    const char *head = cl_line(c);
    if (strncmp(head, "DATA ", 5) != 0)
        fail_msg("expected DATA, got '%s'", head);
    int n = atoi(head + 5);
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (int i = 0; i < n; i++) {
        const char *l = cl_line(c);
        size_t ll = strlen(l);
        while (len + ll + 2 > cap)
            out = realloc(out, cap *= 2);
        memcpy(out + len, l, ll);
        len += ll;
        out[len++] = '\n';
    }
    out[len] = '\0';
    *count = n;
    return out;
}

static void show_in_pieces_keeps_order(void **state)
{
    (void)state;
    tsrv t;
    ts_start_with(&t, "  max_entries: 400000\n", NULL);
    tcl *holder = cl_open(&t);
    fill(holder);
    tcl *c = cl_open(&t);
    cl_send(c, "LOCK +^t(5)#\"S\":0\nSHOW database=USERDB\nPING\n");
    assert_string_equal(cl_line(c), "OK 0");
    int count = 0;
    char *rows = read_data(c, &count);
    assert_int_equal(count, ENTRIES);
    assert_string_equal(cl_line(c), "OK PONG");
    /* collation order: ^t(0), ^t(1), ^t(2) ... ^t(99999) */
    char *line = rows;
    for (int i = 0; i < ENTRIES; i++) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        *end = '\0';
        char want[32];
        snprintf(want, sizeof want, "\t^t(%d)\t", i);
        if (!strstr(line, want))
            fail_msg("row %d is '%s', expected %s", i, line, want);
        line = end + 1;
    }
    free(rows);
    cl_close(c);
    cl_close(holder);
    ts_finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(unread_shows_stay_bounded),
        ts_test(show_in_pieces_keeps_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
