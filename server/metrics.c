/* server/metrics.c — the server's figures: STATS (its TSV lines and its
 * JSON document, one serializer for `STATS json` and /api/stats), the
 * wait- and hold-time histograms, and /metrics in the Prometheus text
 * exposition format 0.0.4 (docs/OPERATIONS.md lists every metric).
 *
 * Everything here runs on the loop thread and only reads: the engine's
 * counters, the server's, the guard's.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#ifndef NSL_VERSION
#define NSL_VERSION "unknown"
#endif

/* 10 µs to 60 s: a grant in the same loop turn lands in the first bucket,
 * a request stuck behind a batch job in the last ones. */
const double nsl_histogram_bounds[NSL_HISTOGRAM_BUCKETS] = {
    0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
    0.1, 0.5, 1, 5, 10, 30, 60,
};

void nsl_histogram_observe(nsl_histogram *h, double seconds)
{
    size_t i = 0;
    while (i < NSL_HISTOGRAM_BUCKETS && seconds > nsl_histogram_bounds[i])
        i++;
    h->counts[i]++;        /* counts[NSL_HISTOGRAM_BUCKETS]: above the last bound */
    h->count++;
    h->sum += seconds;
}

/* ---- a growing text -------------------------------------------------------------- */

void nsl_text_put(nsl_text *t, const char *p, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = realloc(t->p, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->p = grown;
        t->cap = cap;
    }
    memcpy(t->p + t->len, p, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void nsl_text_printf(nsl_text *t, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        nsl_text_put(t, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    nsl_text_put(t, big, (size_t)n);
    free(big);
}

void nsl_text_free(nsl_text *t)
{
    free(t->p);
    *t = (nsl_text){0};
}

/* A JSON string; control bytes escaped, anything not UTF-8 becomes '?'
 * (a leader address or a database name is not trusted to be clean). */
static void json_str(nsl_text *t, const char *s)
{
    size_t len = strlen(s);
    nsl_text_put(t, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = nsl_utf8_char_len(s + i, len - i);
        if (c == '"' || c == '\\')
            nsl_text_printf(t, "\\%c", c);
        else if (c < 0x20)
            nsl_text_printf(t, "\\u%04x", c);
        else if (n) {
            nsl_text_put(t, s + i, n);
            i += n;
            continue;
        } else
            nsl_text_put(t, "?", 1);
        i++;
    }
    nsl_text_put(t, "\"", 1);
}

/* ---- STATS ------------------------------------------------------------------------- */

size_t nsl_stats_collect(nsl_server *srv, nsl_stat_item items[NSL_STATS_COUNT])
{
    nsl_engine_stats st;
    nsl_engine_stats_get(srv->engine, &st);
    const nsl_stat_item all[NSL_STATS_COUNT] = {
        {"entries", st.entries},
        {"max_entries", st.max_entries},
        {"sessions", st.owners},
        {"waiters", st.waiters},
        {"grants", st.grants},
        {"escalations", st.escalations},
        {"deadlocks", st.deadlocks},
        {"timeouts", st.timeouts},
        {"table_full_episodes", st.table_full_episodes},
        {"epoch", srv->state.epoch},
        {"recovering", nsl_recovery_active(srv)},
        {"recovery_awaited", nsl_recovery_awaited(srv)},
        {"registry_syncs", srv->state.registry_syncs},
        {"refused_connections", nsl_guard_refused(srv)},
        {"auth_failures", nsl_guard_auth_failures(srv)},
    };
    memcpy(items, all, sizeof all);
    return NSL_STATS_COUNT;
}

void nsl_cluster_collect(nsl_server *srv, nsl_cluster_info *out)
{
    out->role = nsl_ha_role(srv);
    out->epoch = srv->coord && !srv->ha_serving ? 0 : srv->state.epoch;
    out->leader = srv->coord ? srv->ha_leader : srv->ha_advertise;
    out->zookeeper = nsl_ha_zookeeper_state(srv);
}

/* The layout of `nslock stats -J` before the server wrote it (one member
 * a line, three spaces a level), so that scripts reading it go on working;
 * the cluster on one line of its own. */
size_t nsl_stats_json(nsl_server *srv, nsl_text *t)
{
    nsl_stat_item items[NSL_STATS_COUNT];
    size_t n = nsl_stats_collect(srv, items);
    nsl_cluster_info cl;
    nsl_cluster_collect(srv, &cl);
    nsl_text_put(t, "{\n   \"stats\": {\n", 16);
    for (size_t i = 0; i < n; i++)
        nsl_text_printf(t, "      \"%s\": %" PRIu64 "%s\n", items[i].name, items[i].value,
                        i + 1 < n ? "," : "");
    nsl_text_printf(t, "   },\n   \"cluster\": {\"role\": ");
    json_str(t, cl.role);
    nsl_text_printf(t, ", \"epoch\": %" PRIu64 ", \"leader\": ", cl.epoch);
    if (cl.leader[0])
        json_str(t, cl.leader);
    else
        nsl_text_put(t, "null", 4);
    nsl_text_printf(t, ", \"zookeeper\": ");
    json_str(t, cl.zookeeper);
    nsl_text_put(t, "}\n}\n", 4);
    return n + 5;                       /* the lines: members and the frame */
}

/* ---- /metrics ----------------------------------------------------------------------- */

static void family(nsl_text *t, const char *name, const char *type, const char *help)
{
    nsl_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric(nsl_text *t, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    family(t, name, type, help);
    nsl_text_printf(t, "%s %" PRIu64 "\n", name, value);
}

/* A label value: backslash, double quote and newline escaped (0.0.4). */
static void label_value(nsl_text *t, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            nsl_text_printf(t, "\\%c", *s);
        else if (*s == '\n')
            nsl_text_put(t, "\\n", 2);
        else
            nsl_text_put(t, s, 1);
    }
}

static void histogram(nsl_text *t, const char *name, const char *help, const nsl_histogram *h)
{
    family(t, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < NSL_HISTOGRAM_BUCKETS; i++) {
        cumulative += h->counts[i];
        nsl_text_printf(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, nsl_histogram_bounds[i],
                        cumulative);
    }
    cumulative += h->counts[NSL_HISTOGRAM_BUCKETS];
    nsl_text_printf(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cumulative);
    nsl_text_printf(t, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}

void nsl_metrics_text(nsl_server *srv, nsl_text *t)
{
    nsl_engine_stats st;
    nsl_engine_stats_get(srv->engine, &st);
    const nsl_metrics *m = &srv->metrics;

    metric(t, "nslock_entries", "gauge", "Lock table entries held, all databases.", st.entries);
    family(t, "nslock_database_entries", "gauge", "Lock table entries held in each database.");
    size_t dbs = nsl_registry_database_count(srv->reg);
    for (uint32_t db = 0; db < dbs; db++) {
        nsl_text_put(t, "nslock_database_entries{database=\"", 34);
        label_value(t, nsl_registry_database(srv->reg, db)->name);
        nsl_text_printf(t, "\"} %" PRIu64 "\n", nsl_engine_database_entries(srv->engine, db));
    }
    metric(t, "nslock_max_entries", "gauge", "lock_table.max_entries: the table's size.",
           st.max_entries);
    metric(t, "nslock_table_full", "gauge",
           "1 while the lock table is full (requests wait for room), else 0.", m->table_full);
    metric(t, "nslock_table_full_episodes_total", "counter",
           "Times the lock table became full.", st.table_full_episodes);
    metric(t, "nslock_sessions", "gauge", "Sessions (connected owners).", st.owners);
    metric(t, "nslock_waiters", "gauge", "Lock requests waiting now.", st.waiters);
    metric(t, "nslock_grants_total", "counter", "Lock requests granted.", st.grants);
    metric(t, "nslock_timeouts_total", "counter", "Lock requests that timed out.", st.timeouts);
    metric(t, "nslock_deadlocks_total", "counter",
           "Deadlocks broken (a victim's request failed).", st.deadlocks);
    metric(t, "nslock_escalations_total", "counter",
           "Escalations (children replaced by their parent).", st.escalations);
    metric(t, "nslock_removals_total", "counter", "REMOVE requests that removed entries.",
           m->removals);
    metric(t, "nslock_removed_entries_total", "counter", "Entries taken by REMOVE.",
           m->removed_entries);
    metric(t, "nslock_removals_refused_total", "counter",
           "REMOVE requests refused (another owner's entries without admin rights).",
           m->removals_refused);
    metric(t, "nslock_refused_connections_total", "counter",
           "Connections refused by admission control.", nsl_guard_refused(srv));
    metric(t, "nslock_auth_failures_total", "counter", "Wrong TCP tokens (AUTH and HTTP).",
           nsl_guard_auth_failures(srv) + m->http_auth_failures);
    metric(t, "nslock_registry_syncs_total", "counter",
           "Writes of the session registry made durable.", srv->state.registry_syncs);
    metric(t, "nslock_recovering", "gauge",
           "1 during the recovery grace after a restart or a failover, else 0.",
           nsl_recovery_active(srv));
    metric(t, "nslock_recovery_awaited_sessions", "gauge",
           "Sessions the recovery still waits for.", nsl_recovery_awaited(srv));
    nsl_cluster_info cl;
    nsl_cluster_collect(srv, &cl);
    metric(t, "nslock_epoch", "gauge", "The leadership (restart) epoch; 0 on a standby.",
           cl.epoch);
    family(t, "nslock_role", "gauge", "This server's role: 1 for the current one.");
    static const char *const roles[] = {"alone", "leader", "standby", "electing"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        nsl_text_printf(t, "nslock_role{role=\"%s\"} %d\n", roles[i],
                        strcmp(cl.role, roles[i]) == 0);
    metric(t, "nslock_http_requests_total", "counter", "HTTP requests answered.",
           m->http_requests);
    histogram(t, "nslock_wait_seconds",
              "Time from a LOCK request's arrival to its grant (immediate grants included).",
              &m->wait);
    histogram(t, "nslock_hold_seconds",
              "Time a table entry was held, from its grant to its release (1 ms resolution).",
              &m->hold);
    family(t, "nslock_build_info", "gauge", "The server's version.");
    nsl_text_printf(t, "nslock_build_info{version=\"%s\"} 1\n", NSL_VERSION);
}
