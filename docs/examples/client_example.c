/* The libnslock example of docs/CLIENT.md: take a lock, work, release it.
 * Build against an installed libnslock:
 *     cc client_example.c $(pkg-config --cflags --libs nslock) -o client_example
 * Run with a server up (nslock serve); NSLOCK_SOCKET names another socket. */
#include <inttypes.h>
#include <stdio.h>

#include <nslock.h>

int main(void)
{
    nslock *c;
    nslock_error err;
    nslock_outcome got;

    if (nslock_connect(&c, NULL, "example", &err) < 0
        || nslock_lock(c, "^Orders(15)", NSLOCK_EXCLUSIVE, 5.0, &got, &err) < 0) {
        fprintf(stderr, "example: %s: %s\n", err.name, err.message);
        return 2;
    }
    if (got.test)   /* $TEST: 0 when not granted within 5 s */
        printf("holding ^Orders(15), fencing token %" PRIu64 "\n", got.token);
    nslock_unlock(c, "^Orders(15)", NSLOCK_EXCLUSIVE, &err);
    nslock_close(c);
    return got.test ? 0 : 1;
}
