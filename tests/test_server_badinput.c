/* Bad input on a real server: thousands of malformed requests, random
 * bytes with NULs, over-long lines, half lines, floods. Each gets an ERR
 * (or the connection simply ends), the server stays up, and another
 * session's lock is untouched. */
#include "server_client.h"

static const char *const CODES[] = {"SYNTAX", "NAMESPACE", "SUBSCRIPT", "COMMAND",
                                    "LIMIT", "NOTFOUND", "PROTECT"};

/* "ERR CODE message" with a stable code; returns the code's index. */
static int err_code(const char *response)
{
    if (strncmp(response, "ERR ", 4) != 0)
        return -1;
    for (int i = 0; i < (int)(sizeof CODES / sizeof CODES[0]); i++) {
        size_t n = strlen(CODES[i]);
        if (!strncmp(response + 4, CODES[i], n) && response[4 + n] == ' ' && response[5 + n])
            return i;
    }
    return -1;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* One malformed request into buf (no newline inside); returns its length
 * and the code it must get in *want ("" for any ERR). */
static size_t malformed(char *buf, size_t cap, int i, const char **want)
{
    static const struct {
        const char *text;
        const char *code;
    } fixed[] = {
        {"LOCK +^", "SYNTAX"},
        {"LOCK +^a(", "SYNTAX"},
        {"LOCK +^a(1,)", "SYNTAX"},
        {"LOCK +^a(\"x)", "SYNTAX"},
        {"LOCK +^a(1", "SYNTAX"},
        {"LOCK +^1a", "SYNTAX"},
        {"LOCK +^a:x", "SYNTAX"},
        {"LOCK +^a:", "SYNTAX"},
        {"LOCK +^a,", "SYNTAX"},
        {"LOCK ++^a", "SYNTAX"},
        {"LOCKX", "COMMAND"},
        {"LOCK +^a#\"Q\"", "COMMAND"},
        {"LOCK +^a(1)#\"ID\"", "COMMAND"},
        {"LOCK +^a#\"E\"", "COMMAND"},
        {"LOCK +^a(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,"
         "29,30,31,32)", "SUBSCRIPT"},
        {"LOCK +^[\"NOPE\"]a", "NAMESPACE"},
        {"LOCK +^[\"^^/nowhere\"]a", "NAMESPACE"},
        {"NS NOPE", "NAMESPACE"},
        {"NS", "SYNTAX"},
        {"NS USER BETA", "SYNTAX"},
        {"RESOLVE", "SYNTAX"},
        {"RESOLVE ^a(", "SYNTAX"},
        {"RESOLVE ^[\"NOPE\"]a", "NAMESPACE"},
        {"SHOW bogus", "SYNTAX"},
        {"SHOW owner=abc", "SYNTAX"},
        {"SHOW pid=-1", "SYNTAX"},
        {"SHOW database=NOPE", "NAMESPACE"},
        {"SHOW namespace=NOPE", "NAMESPACE"},
        {"TCOMMIT", "COMMAND"},
        {"TROLLBACK", "COMMAND"},
        {"TROLLBACK 2", "SYNTAX"},
        {"TSTART now", "SYNTAX"},
        {"REMOVE", "SYNTAX"},
        {"REMOVE owner=999999", "NOTFOUND"},
        {"REMOVE pid=999999999", "NOTFOUND"},
        {"REMOVE colour=1", "SYNTAX"},
        {"REMOVE name=^a(", "SYNTAX"},
        {"REMOVE name=^[\"USER\"]a", "SYNTAX"},
        {"STATS now", "SYNTAX"},
        {"HELLO pid=abc", "SYNTAX"},
        {"HELLO junk", "SYNTAX"},
        {"", "COMMAND"},
        {"   ", "COMMAND"},
        {"\r", "COMMAND"},
        {"PING\x01", "COMMAND"},
        {"BOGUS", "COMMAND"},
    };
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    if ((size_t)i < nfixed) {
        *want = fixed[i].code;
        size_t len = strlen(fixed[i].text);
        memcpy(buf, fixed[i].text, len);
        return len;
    }
    size_t len = 1 + rnd() % 300;
    if (len > cap)
        len = cap;
    switch (rnd() % 4) {
    case 0: {
        /* random bytes, NULs included; the first is no letter, space or CR,
         * so the line cannot start a request */
        static const char first[] = "\0\x01\x7f~!#$%&*?[]{}0123456789\xff\x80";
        buf[0] = first[rnd() % (sizeof first - 1)];
        for (size_t k = 1; k < len; k++) {
            char c;
            do
                c = (char)rnd();
            while (c == '\n');
            buf[k] = c;
        }
        /* a NUL anywhere is refused before the keyword is looked at */
        *want = memchr(buf, '\0', len) ? "SYNTAX" : "COMMAND";
        return len;
    }
    case 1:
        /* a LOCK whose name starts with a digit, then garbage */
        memcpy(buf, "LOCK +^9", 8);
        for (size_t k = 8; k < len + 8 && k < cap; k++) {
            char c;
            do
                c = (char)rnd();
            while (c == '\n');
            buf[k] = c;
        }
        *want = "SYNTAX";
        return len + 8 < cap ? len + 8 : cap;
    case 2: {
        /* an unknown keyword */
        size_t n = 2 + rnd() % 12;
        buf[0] = 'Z';
        for (size_t k = 1; k < n; k++)
            buf[k] = (char)('A' + rnd() % 26);
        *want = "COMMAND";
        return n;
    }
    default: {
        /* LOCK with a NUL or a control byte somewhere in the name */
        int n = snprintf(buf, cap, "LOCK +^abc(1,\"x\")");
        buf[8 + rnd() % 6] = (char)(rnd() % 2 ? 0 : 0x07);   /* not inside "x" */
        *want = "";
        return (size_t)n;
    }
    }
}

/* Everything at once, against a held lock that must survive it. */
static void malformed_requests_get_errors(void **state)
{
    (void)state;
    tsrv t;
    ts_start_with(&t, "  max_session_entries: 50\n", NULL);
    tcl *holder = cl_open(&t);
    unsigned idh = cl_hello(holder, "name=holder");
    unsigned long long token = cl_granted(cl_req(holder, "LOCK +^held(1)"));

    /* 1. 1,200 malformed requests, pipelined 100 at a time */
    tcl *x = cl_open(&t);
    enum { TOTAL = 1200, BATCH = 100 };
    static char batch[BATCH * 400];
    const char *want[BATCH];
    char line[400];
    int errors = 0;
    for (int base = 0; base < TOTAL; base += BATCH) {
        size_t len = 0;
        for (int k = 0; k < BATCH; k++) {
            size_t n = malformed(line, sizeof line - 1, base + k, &want[k]);
            memcpy(batch + len, line, n);
            len += n;
            batch[len++] = '\n';
        }
        cl_sendn(x, batch, len);
        for (int k = 0; k < BATCH; k++) {
            const char *r = cl_line(x);
            int code = err_code(r);
            if (code < 0 || (want[k][0] && strcmp(CODES[code], want[k])))
                fail_msg("request %d: expected ERR %s, got '%s'", base + k, want[k], r);
            errors++;
        }
    }
    printf("# %d malformed requests, %d errors\n", TOTAL, errors);
    assert_int_equal(errors, TOTAL);
    assert_string_equal(cl_req(x, "PING"), "OK PONG");

    /* 2. over-long lines: answered LIMIT and skipped; the session goes on */
    size_t big = 300000;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, 'A', big);
    huge[70000] = '\n';
    cl_sendn(x, huge, 70001);
    assert_true(!strncmp(cl_line(x), "ERR LIMIT line too long", 23));
    huge[70000] = 'A';
    cl_sendn(x, huge, big);                 /* in pieces, as the socket takes it */
    cl_send(x, "\nPING\n");
    assert_true(!strncmp(cl_line(x), "ERR LIMIT line too long", 23));
    assert_string_equal(cl_line(x), "OK PONG");
    huge[0] = 'X';
    huge[65536] = '\n';                     /* exactly the limit: a request */
    cl_sendn(x, huge, 65537);
    assert_true(!strncmp(cl_line(x), "ERR COMMAND unknown request", 27));
    free(huge);

    /* 3. too many entries for one session (max_session_entries: 50) */
    char req[64];
    for (int i = 1; i <= 50; i++) {
        snprintf(req, sizeof req, "LOCK +^mine(%d)", i);
        cl_granted(cl_req(x, req));
    }
    assert_true(!strncmp(cl_req(x, "LOCK +^mine(51)"), "ERR LIMIT ", 10));
    assert_string_equal(cl_req(x, "LOCK"), "OK");

    /* 4. half a line, then gone; a full lock, then gone without reading */
    for (int i = 0; i < 20; i++) {
        tcl *h = cl_open(&t);
        cl_send(h, i % 2 ? "LOCK +^held(1" : "LOCK +^gone(1)\nLOCK +^gone(2)\nSHOW\n");
        cl_close(h);
    }

    /* 5. 5,000 malformed requests in one burst */
    size_t len = 0;
    static char flood[5000 * 6];
    for (int i = 0; i < 5000; i++) {
        memcpy(flood + len, "BOGUS\n", 6);
        len += 6;
    }
    cl_sendn(x, flood, len);
    for (int i = 0; i < 5000; i++)
        assert_string_equal(cl_line(x), "ERR COMMAND unknown request 'BOGUS'");

    /* 6. 5,000 requests behind a waiting LOCK: max_pending (1024) are
     * queued and served in order, the rest answered LIMIT in their turn */
    len = 0;
    memcpy(flood, "LOCK +^held(1):0.2\n", 19);
    len = 19;
    for (int i = 0; i < 5000; i++) {
        memcpy(flood + len, "PING\n", 5);
        len += 5;
    }
    cl_sendn(x, flood, len);
    assert_string_equal(cl_line(x), "OK 0");
    for (int i = 0; i < 1024; i++)
        assert_string_equal(cl_line(x), "OK PONG");
    for (int i = 1024; i < 5000; i++)
        assert_string_equal(cl_line(x), "ERR LIMIT too many pending requests");
    assert_string_equal(cl_req(x, "PING"), "OK PONG");

    /* the server is up, every session that left is gone, and the holder's
     * lock is exactly as it was */
    tcl *obs = cl_open(&t);
    assert_string_equal(cl_req(obs, "PING"), "OK PONG");
    long deadline = ts_now_ms() + 5000;
    while (cl_stat(obs, "sessions") != 3 && ts_now_ms() < deadline)
        usleep(2000);
    assert_int_equal(cl_stat(obs, "sessions"), 3);
    assert_int_equal(cl_stat(obs, "entries"), 1);
    int n;
    char *rows = cl_data(obs, "SHOW", &n);
    assert_int_equal(n, 1);
    char want_row[256];
    snprintf(want_row, sizeof want_row, "USERDB\t/data/user\t%u\t%ld\tholder\tExclusive\t^held(1)\tUSER\t",
             idh, (long)getpid());
    assert_true(!strncmp(rows, want_row, strlen(want_row)));
    char want_tail[64];
    snprintf(want_tail, sizeof want_tail, "\t%llu\t-\n", token);
    assert_non_null(strstr(rows, want_tail));
    free(rows);
    int status;
    assert_int_equal(waitpid(t.pid, &status, WNOHANG), 0);    /* still running */

    cl_close(x);
    cl_close(obs);
    cl_close(holder);
    ts_finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(malformed_requests_get_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
