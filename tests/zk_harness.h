/* A real ZooKeeper for the tests: Debian's `zookeeper` package, one node in
 * standalone mode on a free loopback port, its data in a temp directory.
 * Started and stopped by the test; frozen with SIGSTOP to play a ZooKeeper
 * that stops answering. */
#ifndef NSL_TEST_ZK_HARNESS_H
#define NSL_TEST_ZK_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NSL_ZOOKEEPER_JAR
#define NSL_ZOOKEEPER_JAR "/usr/share/java/zookeeper.jar"
#endif

typedef struct tzk {
    pid_t pid;
    int port;
    char dir[256];
    char connect[128];  /* "127.0.0.1:PORT", or every node of an ensemble */
    /* in an ensemble: this node's id (1..3) and every node's two ports */
    int myid, nodes;
    int peer_port[3], election_port[3];
} tzk;

static inline int tzk_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0
        || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("zk harness: free port");
        abort();
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* ZooKeeper's four-letter `ruok`: true once it answers `imok`. */
static inline bool tzk_ruok(const tzk *z)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)z->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0
        && write(fd, "ruok", 4) == 4) {
        char buf[8] = {0};
        ok = read(fd, buf, 4) == 4 && !memcmp(buf, "imok", 4);
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

static inline void tzk_launch(tzk *z)
{
    char cfg[320], data[300], log[320];
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", z->dir);
    snprintf(data, sizeof data, "%s/data", z->dir);
    snprintf(log, sizeof log, "%s/zk.log", z->dir);
    FILE *f = fopen(cfg, "w");
    if (!f) {
        perror("zk harness: zoo.cfg");
        abort();
    }
    /* tickTime 250: sessions of 500 ms to 5 s, so tests stay short. */
    fprintf(f, "tickTime=250\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
               "admin.enableServer=false\nmaxClientCnxns=0\n4lw.commands.whitelist=ruok,srvr\n",
            data, z->port);
    if (z->nodes > 1) {
        fprintf(f, "initLimit=20\nsyncLimit=4\n");
        for (int i = 0; i < z->nodes; i++)
            fprintf(f, "server.%d=127.0.0.1:%d:%d\n", i + 1, z->peer_port[i], z->election_port[i]);
        char id[320];
        snprintf(id, sizeof id, "%s/myid", data);
        mkdir(data, 0700);
        FILE *m = fopen(id, "w");
        if (!m) {
            perror("zk harness: myid");
            abort();
        }
        fprintf(m, "%d\n", z->myid);
        fclose(m);
    }
    fclose(f);
    z->pid = fork();
    if (z->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("java", "java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", NSL_ZOOKEEPER_JAR,
               "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg, (char *)NULL);
        perror("zk harness: java (install zookeeper and a JRE: scripts/install-deps --test)");
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {   /* up to 30 s on a loaded machine */
        if (tzk_ruok(z))
            return;
        int status;
        if (waitpid(z->pid, &status, WNOHANG) == z->pid) {
            fprintf(stderr, "zk harness: ZooKeeper exited; see %s\n", log);
            abort();
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "zk harness: ZooKeeper did not answer on port %d; see %s\n", z->port, log);
    abort();
}

static inline void tzk_start(tzk *z)
{
    memset(z, 0, sizeof *z);
    snprintf(z->dir, sizeof z->dir, "%s/nslock-zk.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(z->dir)) {
        perror("zk harness: mkdtemp");
        abort();
    }
    z->port = tzk_free_port();
    snprintf(z->connect, sizeof z->connect, "127.0.0.1:%d", z->port);
    tzk_launch(z);
}

/* Three nodes on loopback; `connect` of each names all three. An ensemble
 * answers `ruok` per node before it has a quorum, so wait for `srvr` too. */
static inline bool tzk_serving(const tzk *z)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)z->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[512] = {0};
    ssize_t n = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, "srvr", 4) == 4)
        n = read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    return n > 0 && strstr(buf, "Mode: ") != NULL;
}

static inline void tzk_start_ensemble(tzk z[3])
{
    char dir[200];
    snprintf(dir, sizeof dir, "%.180s/nslock-zk3.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("zk harness: mkdtemp");
        abort();
    }
    int peer[3], election[3], client[3];
    for (int i = 0; i < 3; i++) {
        peer[i] = tzk_free_port();
        election[i] = tzk_free_port();
        client[i] = tzk_free_port();
    }
    char all[96];
    snprintf(all, sizeof all, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", client[0], client[1],
             client[2]);
    for (int i = 0; i < 3; i++) {
        memset(&z[i], 0, sizeof z[i]);
        snprintf(z[i].dir, sizeof z[i].dir, "%.200s/node%d", dir, i + 1);
        mkdir(z[i].dir, 0700);
        z[i].port = client[i];
        z[i].myid = i + 1;
        z[i].nodes = 3;
        memcpy(z[i].peer_port, peer, sizeof peer);
        memcpy(z[i].election_port, election, sizeof election);
        snprintf(z[i].connect, sizeof z[i].connect, "%s", all);
    }
    for (int i = 0; i < 3; i++)   /* each waits only for its own ruok */
        tzk_launch(&z[i]);
    for (int i = 0; i < 600; i++) {
        int up = 0;
        for (int k = 0; k < 3; k++)
            up += tzk_serving(&z[k]);
        if (up == 3)
            return;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "zk harness: the ensemble in %s formed no quorum\n", dir);
    abort();
}

static inline void tzk_signal(tzk *z, int sig)
{
    if (z->pid > 0)
        kill(z->pid, sig);
}

/* Stops it; its data stays, so tzk_launch() brings back the same state. */
static inline void tzk_kill(tzk *z)
{
    if (z->pid > 0) {
        kill(z->pid, SIGCONT);
        kill(z->pid, SIGKILL);
        waitpid(z->pid, NULL, 0);
        z->pid = 0;
    }
}

static inline void tzk_finish(tzk *z)
{
    tzk_kill(z);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", z->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "zk harness: could not remove %s\n", z->dir);
}


static inline void tzk_finish_ensemble(tzk z[3])
{
    for (int i = 0; i < 3; i++)
        tzk_kill(&z[i]);
    char parent[256], cmd[300];   /* a node's dir: parent/nodeN */
    snprintf(parent, sizeof parent, "%s", z[0].dir);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    snprintf(cmd, sizeof cmd, "rm -rf '%.280s'", parent);
    if (system(cmd) != 0)
        fprintf(stderr, "zk harness: could not remove %s\n", parent);
}

#endif
