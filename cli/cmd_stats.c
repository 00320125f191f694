/* nslock stats: the server's lock table counters (STATS). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_stats.h"
#include "cli/connect.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: nslock stats [OPTIONS]\n"
            "\n"
            "Show the lock server's counters: entries in use and the maximum, sessions,\n"
            "waiting requests, grants, escalations, deadlocks, timeouts, table-full\n"
            "episodes, refused connections, wrong TCP tokens (whatever the server\n"
            "reports, in its order). A server of an HA cluster adds its role, the\n"
            "leader's epoch, the leader and its ZooKeeper session's state; a standby\n"
            "answers too (the first server that answers is shown).\n"
            "\n"
            "Options:\n"
            "  -J, --json             print the server's JSON document {\"stats\": {NAME:\n"
            "                         NUMBER, ...}, \"cluster\": {...}} (STATS json)\n"
            "  -c, --config FILE      find the server through server.socket of FILE\n");
    nsl_cli_socket_config_usage(out);
    fprintf(out, "  -h, --help             show this help\n"
                 "\nExit status: 0 success, 2 a bad option or no connection to the server.\n");
}

/* A JSON string; counter names are plain words, but a server is not trusted
 * to keep them so. */
static void print_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void nsl_cli_print_stats(const nslock_stat *items, size_t count, bool json)
{
    if (json) {
        printf("{\n   \"stats\": {");
        for (size_t i = 0; i < count; i++) {
            printf(i ? ",\n      " : "\n      ");
            print_json_string(stdout, items[i].key);
            printf(": %" PRIu64, items[i].value);
        }
        printf("\n   }\n}\n");
        return;
    }
    int width = 0;
    for (size_t i = 0; i < count; i++)
        if ((int)strlen(items[i].key) > width)
            width = (int)strlen(items[i].key);
    for (size_t i = 0; i < count; i++)
        printf("%-*s  %" PRIu64 "\n", width, items[i].key, items[i].value);
}

/* The server's place in an HA cluster, after the counters; nothing for a
 * server on its own (or one too old to know CLUSTER). */
static void print_cluster(nslock *c)
{
    nslock_cluster cl;
    char address[4096];
    if (nslock_cluster_get(c, &cl, NULL) < 0 || strcmp(cl.role, "alone") == 0)
        return;
    if (nslock_server_address(c, address, sizeof address) < 0)
        address[0] = '\0';
    printf("\nserver     %s\nrole       %s\n", address, cl.role);
    if (strcmp(cl.role, "leader") == 0)
        printf("epoch      %" PRIu64 "\n", cl.epoch);
    printf("leader     %s\nzookeeper  %s\n", cl.leader[0] ? cl.leader : "(none yet)",
           cl.zookeeper);
}

static int write_json(void *arg, const char *text, size_t len)
{
    (void)arg;
    return fwrite(text, 1, len, stdout) == len ? 0 : -1;
}

int nsl_cmd_stats(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        NSL_CONNECT_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *socket_opt = NULL, *config = NULL;
    bool json = false;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "Jc:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'J': json = true; break;
        case 'c': config = optarg; break;
        case NSL_OPT_SOCKET: socket_opt = optarg; break;
        NSL_CONNECT_CASES("stats");
        case 'h': usage(stdout); return NSL_EXIT_OK;
        default:
            return nsl_cli_bad_option("stats", opt, "c", argv);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nslock: stats: unexpected argument '%s'\nTry 'nslock stats --help'.\n",
                argv[optind]);
        return NSL_EXIT_USAGE;
    }
    char socket_buf[4096];
    const char *socket_path;
    if (!nsl_cli_discover_socket("stats", socket_opt, config, socket_buf, sizeof socket_buf,
                                 &socket_path))
        return NSL_EXIT_USAGE;
    nslock *c = nsl_cli_connect_any("stats", socket_path);
    if (c == NULL)
        return NSL_EXIT_USAGE;
    nslock_stat *items;
    size_t count;
    nslock_error err;
    int status = NSL_EXIT_OK;
    /* -J prints the server's own document (STATS json); a server older
     * than it gets the counters printed here, as before. */
    if (json && nslock_stats_json(c, write_json, NULL, &err) == 0) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "nslock: stats: cannot write the output\n");
            status = NSL_EXIT_USAGE;
        }
    } else if (json && err.code != NSLOCK_E_SYNTAX) {
        nsl_cli_report("stats", &err);
        status = nsl_cli_exit_status(&err);
    } else if (nslock_stats_list(c, &items, &count, &err) < 0) {
        nsl_cli_report("stats", &err);
        status = nsl_cli_exit_status(&err);
    } else {
        nsl_cli_print_stats(items, count, json);
        nslock_free(items);
        if (!json)
            print_cluster(c);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "nslock: stats: cannot write the output\n");
            status = NSL_EXIT_USAGE;
        }
    }
    nslock_close(c);
    return status;
}
