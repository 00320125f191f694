/* Flow control: a client that floods the server until its reading pauses
 * must still be noticed when it goes away, and what it held released. */
#include "server_client.h"

/* B holds ^y, waits for ^x, then floods requests without reading until
 * the server stops reading from it, then hangs up. Its session must end
 * (as on a plain EOF), so C gets ^y. */
static void hangup_while_paused(void **state)
{
    (void)state;
    tsrv t;
    ts_start(&t);
    tcl *a = cl_open(&t), *b = cl_open(&t), *c = cl_open(&t);
    cl_granted(cl_req(a, "LOCK +^x"));
    cl_granted(cl_req(b, "LOCK +^y"));
    cl_send(b, "LOCK +^x\n");

    /* Far more pipelined requests than the server keeps: it stops reading
     * once it owes too many ERR LIMIT answers. Non-blocking, so the test
     * does not hang when the server's side of the socket is full. */
    int flags = fcntl(b->fd, F_GETFL);
    assert_int_equal(fcntl(b->fd, F_SETFL, flags | O_NONBLOCK), 0);
    static char flood[512 * 1024];
    for (size_t i = 0; i + 5 <= sizeof flood; i += 5)
        memcpy(flood + i, "PING\n", 5);
    size_t sent = 0;
    long deadline = ts_now_ms() + 5000;
    while (sent < sizeof flood && ts_now_ms() < deadline) {
        ssize_t n = write(b->fd, flood + sent, sizeof flood - sent);
        if (n > 0)
            sent += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            break;
        else
            usleep(1000);
    }
    printf("# flooded %zu bytes before the server stopped reading\n", sent);
    cl_close(b);

    long t0 = ts_now_ms();
    const char *r = cl_req(c, "LOCK +^y:5");
    printf("# ^y granted %ld ms after the client hung up\n", ts_now_ms() - t0);
    assert_string_not_equal(r, "OK 0");
    cl_granted(r);
    cl_close(a);
    cl_close(c);
    ts_finish(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ts_test(hangup_while_paused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
