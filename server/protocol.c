/* server/protocol.c — the requests of docs/PROTOCOL.md and their answers.
 *
 * Each request is one line; each gets exactly one response (`OK ...`,
 * `ERR CODE message`, or `DATA n` and n lines), written into the session's
 * output. LOCK is the hot path: one parse into the server's reusable
 * command, one engine call, one short reply, no allocation.
 */
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "server/server_internal.h"

#define PROTOCOL_VERSION 1

/* A request line cut into words: `pos` walks it. */
typedef struct request {
    nsl_session *s;
    const char *line;
    size_t len;
    size_t pos;          /* first byte after the keyword */
} request;

/* The next space-separated word; spaces inside "..." belong to the word
 * (a name= value may be ^a("x y")). False at the end of the line. */
static bool next_word(request *rq, const char **word, size_t *wlen, size_t *column)
{
    size_t i = rq->pos;
    while (i < rq->len && rq->line[i] == ' ')
        i++;
    if (i == rq->len) {
        rq->pos = i;
        return false;
    }
    size_t start = i;
    bool quoted = false;
    while (i < rq->len && (quoted || rq->line[i] != ' ')) {
        if (rq->line[i] == '"')
            quoted = !quoted;
        i++;
    }
    *word = rq->line + start;
    *wlen = i - start;
    *column = start + 1;
    rq->pos = i;
    return true;
}

/* The rest of the line after the keyword, without surrounding spaces. */
static void rest_of_line(request *rq, const char **text, size_t *len, size_t *column)
{
    size_t i = rq->pos, end = rq->len;
    while (i < end && rq->line[i] == ' ')
        i++;
    while (end > i && rq->line[end - 1] == ' ')
        end--;
    *text = rq->line + i;
    *len = end - i;
    *column = i + 1;
}

static bool word_is(const char *w, size_t wlen, const char *keyword)
{
    return strlen(keyword) == wlen && !strncasecmp(w, keyword, wlen);
}

static bool parse_u64(const char *w, size_t wlen, uint64_t *out)
{
    if (wlen == 0 || wlen > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < wlen; i++) {
        if (w[i] < '0' || w[i] > '9')
            return false;
        uint64_t d = (uint64_t)(w[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "key=value": splits at the first '='. */
static bool split_pair(const char *w, size_t wlen, size_t *klen, const char **value, size_t *vlen)
{
    const char *eq = memchr(w, '=', wlen);
    if (!eq)
        return false;
    *klen = (size_t)(eq - w);
    *value = eq + 1;
    *vlen = wlen - *klen - 1;
    return true;
}

/* A NUL-terminated copy of a word, for the registry's look-ups; optional
 * surrounding quotes are dropped (NS "BETA", as M's ZN "BETA"). */
static void word_copy(const char *w, size_t wlen, char *buf, size_t cap)
{
    if (wlen >= 2 && w[0] == '"' && w[wlen - 1] == '"') {
        w++;
        wlen -= 2;
    }
    if (wlen >= cap)
        wlen = cap - 1;
    memcpy(buf, w, wlen);
    buf[wlen] = '\0';
}

static void out_parse_error(nsl_session *s, const nsl_error *err, size_t base_column)
{
    if (err->column > 0)
        nsl_out_errf(s, err->code, "column %zu: %s", (size_t)err->column + base_column,
                     err->message);
    else
        nsl_out_err(s, err->code, err->message);
}

static bool no_more_words(request *rq)
{
    const char *w;
    size_t wlen, col;
    if (!next_word(rq, &w, &wlen, &col))
        return true;
    nsl_out_errf(rq->s, NSL_SYNTAX, "column %zu: unexpected '%.*s'", col,
                 (int)(wlen > 40 ? 40 : wlen), w);
    return false;
}

/* ---- LOCK ---------------------------------------------------------------------- */

static void lock_reply(nsl_session *s, const nsl_lock_result *r)
{
    if (r->code != NSL_OK) {
        nsl_out_err(s, r->code, r->message);
    } else if (r->test == 1) {
        nsl_out_put(s, "OK 1 ", 5);
        nsl_out_u64(s, r->token);
        nsl_out_char(s, '\n');
    } else if (r->test == 0) {
        nsl_out_put(s, "OK 0\n", 5);
    } else {
        nsl_out_put(s, "OK\n", 3);
    }
}

/* nslock_wait_seconds: arrival to grant, measured here because the engine
 * reads no clock. A LOCK granted on arrival waited 0: the clock is read
 * only for one that queues, or waits for its session's registration. */
static void observe_wait(nsl_session *s, const nsl_lock_result *r)
{
    if (r->code == NSL_OK && r->test == 1)
        nsl_histogram_observe(&s->srv->metrics.wait, s->lock_arrived_ns ?
                              (double)(uv_hrtime() - s->lock_arrived_ns) / 1e9 : 0);
    s->lock_arrived_ns = 0;
}

void nsl_protocol_lock_done(nsl_session *s, const nsl_lock_result *r)
{
    size_t from = s->out_len;
    s->waiting = false;
    observe_wait(s, r);
    lock_reply(s, r);
    nsl_session_answered(s, from);
    nsl_session_make_ready(s);
}

static bool takes_locks(const nsl_lock_command *cmd)
{
    for (size_t i = 0; i < cmd->arg_count; i++)
        if (cmd->args[i].op != NSL_OP_REMOVE && cmd->args[i].item_count > 0)
            return true;
    return false;
}

static void req_lock(request *rq, size_t keyword_at)
{
    nsl_session *s = rq->s;
    nsl_server *srv = s->srv;
    nsl_error err;
    if (nsl_lock_command_parse(rq->line + keyword_at, rq->len - keyword_at, &srv->cmd,
                               &err) != NSL_OK) {
        out_parse_error(s, &err, keyword_at);
        return;
    }
    if (!s->registered && takes_locks(&srv->cmd)) {
        /* No grant before the session is durable in the registry. */
        nsl_recovery_register(s, rq->line, rq->len);
        return;
    }
    bool cancelled = s->cancel_on_queue;   /* CANCEL came while it was registering */
    s->cancel_on_queue = false;
    /* The engine may complete a queued command during this very call
     * (through `done`), so the flag is set first and cleared by whoever
     * answers. */
    s->waiting = true;               /* lock_arrived_ns: set if it waited to register */
    nsl_lock_result r;
    if (nsl_engine_execute(srv->engine, s->owner, &srv->cmd, nsl_server_now(srv), &r) == NSL_DONE) {
        s->waiting = false;
        observe_wait(s, &r);
        lock_reply(s, &r);
    } else if (cancelled && nsl_engine_cancel(srv->engine, s->owner, nsl_server_now(srv), &r)) {
        s->waiting = false;
        s->lock_arrived_ns = 0;
        s->cancels_hit++;
        lock_reply(s, &r);
    } else if (s->waiting && !s->lock_arrived_ns) {
        s->lock_arrived_ns = uv_hrtime();   /* queued: its wait starts now */
    }
}

/* The LOCK it ended was cancelled on arrival (session.c); this is its
 * answer in order: 1 when it ended a wait, 0 when nothing waited. */
static void req_cancel(request *rq)
{
    nsl_session *s = rq->s;
    if (!no_more_words(rq))
        return;
    s->cancel_on_queue = false;
    if (s->cancels_hit) {
        s->cancels_hit--;
        nsl_out_str(s, "OK 1\n");
    } else {
        nsl_out_str(s, "OK 0\n");
    }
}

/* The configured namespaces, for a client's completion or menu. */
static void req_namespaces(request *rq)
{
    nsl_session *s = rq->s;
    if (!no_more_words(rq))
        return;
    const nsl_registry *reg = s->srv->reg;
    size_t n = nsl_registry_namespace_count(reg);
    nsl_out_str(s, "DATA ");
    nsl_out_u64(s, n);
    nsl_out_char(s, '\n');
    for (uint32_t i = 0; i < n; i++) {
        const nsl_namespace *ns = nsl_registry_namespace(reg, i);
        nsl_out_str(s, ns->name);
        nsl_out_char(s, '\t');
        nsl_out_str(s, nsl_registry_database(reg, ns->globals)->name);
        nsl_out_char(s, '\n');
    }
}

/* The configuration the server runs, as it was loaded: its file name, then
 * its YAML line by line, so that resolve and map show the server's rules
 * rather than a file of their own. */
static void req_config(request *rq)
{
    nsl_session *s = rq->s;
    if (!no_more_words(rq))
        return;
    const nsl_server *srv = s->srv;
    const char *text = srv->config_text ? srv->config_text : nsl_config_default_yaml();
    size_t len = srv->config_text ? srv->config_len : strlen(text);
    const char *file = srv->cfg && srv->cfg->file ? srv->cfg->file : "<default>";
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (len && text[len - 1] != '\n')
        lines++;
    nsl_out_str(s, "DATA ");
    nsl_out_u64(s, lines + 1);
    nsl_out_char(s, '\n');
    nsl_out_clean(s, file, strlen(file));
    nsl_out_char(s, '\n');
    /* verbatim: the server loaded it, so it is UTF-8 YAML without NULs */
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        nsl_out_put(s, text + at, n);
        nsl_out_char(s, '\n');
        at += n + 1;
    }
}

/* This server's place in an HA cluster: `OK role R epoch E leader ADDR
 * zookeeper STATE`, with role alone (no ha section), leader, standby or
 * electing (elected, reading the registry); leader "-" when not known. */
static void req_cluster(request *rq)
{
    nsl_session *s = rq->s;
    if (!no_more_words(rq))
        return;
    nsl_cluster_info cl;
    nsl_cluster_collect(s->srv, &cl);
    nsl_out_str(s, "OK role ");
    nsl_out_str(s, cl.role);
    nsl_out_str(s, " epoch ");
    nsl_out_u64(s, cl.epoch);
    nsl_out_str(s, " leader ");
    if (cl.leader[0])
        nsl_out_clean(s, cl.leader, strlen(cl.leader));
    else
        nsl_out_char(s, '-');
    nsl_out_str(s, " zookeeper ");
    nsl_out_str(s, cl.zookeeper);
    nsl_out_char(s, '\n');
}

/* ---- session requests ------------------------------------------------------------ */

static void out_hex(nsl_session *s, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        nsl_out_char(s, digits[bytes[i] >> 4]);
        nsl_out_char(s, digits[bytes[i] & 15]);
    }
}

static void req_hello(request *rq)
{
    nsl_session *s = rq->s;
    const char *w, *v;
    size_t wlen, col, klen, vlen;
    while (next_word(rq, &w, &wlen, &col)) {
        if (!split_pair(w, wlen, &klen, &v, &vlen)) {
            nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected name=CLIENT or pid=PID", col);
            return;
        }
        if (word_is(w, klen, "name")) {
            /* printable UTF-8 only: it is shown in tables and in JSON */
            size_t n = 0;
            for (size_t i = 0; i < vlen;) {
                unsigned char c = (unsigned char)v[i];
                size_t clen = nsl_utf8_char_len(v + i, vlen - i);
                if (c < 0x20 || c == 0x7F || clen == 0) {
                    clen = 1;
                    if (n + 1 < sizeof s->client)
                        s->client[n++] = '?';
                } else if (n + clen < sizeof s->client) {
                    memcpy(s->client + n, v + i, clen);
                    n += clen;
                } else {
                    break;
                }
                i += clen;
            }
            s->client[n] = '\0';
        } else if (word_is(w, klen, "pid")) {
            uint64_t pid;
            if (!parse_u64(v, vlen, &pid) || pid == 0 || pid > INT32_MAX) {
                nsl_out_errf(s, NSL_SYNTAX, "column %zu: pid must be a process id", col + klen + 1);
                return;
            }
            if (s->tcp)          /* over the Unix socket the kernel's word wins */
                s->pid = (long)pid;
        }
        /* other keys: ignored, so newer clients can say more */
    }
    nsl_session_log_start(s);
    nsl_server *srv = s->srv;
    const nsl_namespace *ns =
        nsl_registry_namespace(srv->reg, nsl_engine_owner_namespace(srv->engine, s->owner));
    nsl_out_str(s, "OK nslock ");
    nsl_out_u64(s, PROTOCOL_VERSION);
    nsl_out_str(s, " session ");
    nsl_out_u64(s, s->owner);
    nsl_out_str(s, " namespace ");
    nsl_out_str(s, ns->name);
    nsl_out_str(s, " epoch ");
    nsl_out_u64(s, srv->state.epoch);
    nsl_out_str(s, " secret ");
    out_hex(s, s->secret, sizeof s->secret);
    nsl_out_str(s, " grace ");
    nsl_out_u64(s, srv->cfg->recovery_grace_s);
    if (s->tcp) {
        nsl_out_str(s, " timeout ");
        nsl_out_u64(s, srv->cfg->session_timeout_s);
    }
    if (nsl_recovery_active(srv))
        nsl_out_str(s, " recovering 1");
    if (srv->coord) {
        /* how long a standby may take to follow this leader, should it go */
        nsl_out_str(s, " takeover ");
        nsl_out_u64(s, (srv->cfg->ha_session_timeout_ms + 999) / 1000);
    }
    nsl_out_char(s, '\n');
}

/* Digests of equal size compared in constant time: the answer's timing
 * tells neither the token's content nor its length. */
static bool token_matches(const nsl_server *srv, const char *t, size_t len)
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    _Static_assert(sizeof srv->auth_digest == SHA256_DIGEST_SIZE, "a SHA-256 digest");
    sha256_init(&ctx);
    sha256_update(&ctx, len, (const uint8_t *)t);
    sha256_digest(&ctx, sizeof digest, digest);
    return memeql_sec(digest, srv->auth_digest, sizeof digest) != 0;
}

static void req_auth(request *rq)
{
    nsl_session *s = rq->s;
    const char *t;
    size_t len, col;
    rest_of_line(rq, &t, &len, &col);
    if (!s->tcp) {
        nsl_out_str(s, "OK\n");      /* the Unix socket trusts the kernel's credentials */
        return;
    }
    if (!token_matches(s->srv, t, len)) {
        /* logged once per episode by the guard, which may answer later;
         * a session that has authenticated already proved it knows the token */
        if (s->authenticated || nsl_guard_auth_failed(s) == 0) {
            nsl_out_err(s, NSL_PROTECT, "bad token");
            nsl_session_end(s, true);
        }
        return;
    }
    s->authenticated = true;
    nsl_guard_authenticated(s);
    nsl_out_str(s, "OK\n");
}

static void req_ns(request *rq)
{
    nsl_session *s = rq->s;
    const char *w;
    size_t wlen, col;
    if (!next_word(rq, &w, &wlen, &col)) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected a namespace name", rq->pos + 1);
        return;
    }
    char name[256];
    word_copy(w, wlen, name, sizeof name);
    const nsl_namespace *ns = nsl_registry_find_namespace(s->srv->reg, name);
    if (!ns) {
        nsl_out_errf(s, NSL_NAMESPACE, "unknown namespace '%s'", name);
        return;
    }
    if (!no_more_words(rq))
        return;
    nsl_engine_owner_set_namespace(s->srv->engine, s->owner, ns->id);
    nsl_out_str(s, "OK\n");
}

static void out_level(nsl_session *s, nsl_code rc, const char *what)
{
    if (rc == NSL_COMMAND) {
        nsl_out_errf(s, NSL_COMMAND, "%s with no transaction open", what);
    } else if (rc == NSL_LIMIT) {
        nsl_out_err(s, NSL_LIMIT, "too many nested transactions");
    } else if (rc != NSL_OK) {
        nsl_out_err(s, rc, NULL);
    } else {
        nsl_out_str(s, "OK ");
        nsl_out_u64(s, nsl_engine_tlevel(s->srv->engine, s->owner));
        nsl_out_char(s, '\n');
    }
}

static void req_tstart(request *rq)
{
    if (no_more_words(rq))
        out_level(rq->s, nsl_engine_tstart(rq->s->srv->engine, rq->s->owner), "TSTART");
}

static void req_tcommit(request *rq)
{
    nsl_server *srv = rq->s->srv;
    if (no_more_words(rq))
        out_level(rq->s, nsl_engine_tcommit(srv->engine, rq->s->owner, nsl_server_now(srv)),
                  "TCOMMIT");
}

static void req_trollback(request *rq)
{
    nsl_session *s = rq->s;
    nsl_server *srv = s->srv;
    const char *w;
    size_t wlen, col;
    unsigned levels = 0;                  /* all */
    if (next_word(rq, &w, &wlen, &col)) {
        if (!(wlen == 1 && w[0] == '1')) {
            nsl_out_errf(s, NSL_SYNTAX,
                         "column %zu: TROLLBACK takes no argument (all levels) or 1 (one level)",
                         col);
            return;
        }
        levels = 1;
        if (!no_more_words(rq))
            return;
    }
    out_level(s, nsl_engine_trollback(srv->engine, s->owner, levels, nsl_server_now(srv)),
              "TROLLBACK");
}

/* ---- RESOLVE ---------------------------------------------------------------------------- */

static void out_field(nsl_session *s, const char *text)
{
    if (!text || !*text)
        nsl_out_char(s, '-');
    else
        nsl_out_clean(s, text, strlen(text));
}

static void req_resolve(request *rq)
{
    nsl_session *s = rq->s;
    nsl_server *srv = s->srv;
    const char *text;
    size_t len, col;
    rest_of_line(rq, &text, &len, &col);
    if (!len) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected a lock name", col);
        return;
    }
    nsl_lockname name;
    nsl_error err;
    if (nsl_lockname_parse(text, len, NULL, &name, &err) != NSL_OK) {
        out_parse_error(s, &err, col - 1);
        return;
    }
    nsl_resolution res;
    uint32_t ns = nsl_engine_owner_namespace(srv->engine, s->owner);
    if (nsl_resolve(srv->resolver, ns, &name, &res, &err) != NSL_OK) {
        out_parse_error(s, &err, col - 1);
        return;
    }
    nsl_out_str(s, "DATA ");
    nsl_out_u64(s, res.count);
    nsl_out_char(s, '\n');
    for (uint32_t i = 0; i < res.count; i++) {
        const nsl_database *db = nsl_registry_database(srv->reg, res.dbs[i].db);
        out_field(s, db->name);
        nsl_out_char(s, '\t');
        out_field(s, db->directory);
        nsl_out_char(s, '\t');
        out_field(s, nsl_rule_kind_name(res.dbs[i].rule));
        nsl_out_char(s, '\t');
        out_field(s, res.dbs[i].mapping ? res.dbs[i].mapping->rule : NULL);
        nsl_out_char(s, '\n');
    }
}

/* ---- SHOW ------------------------------------------------------------------------------- */

static bool parse_database(request *rq, const char *v, size_t vlen, int64_t *db)
{
    char name[256];
    word_copy(v, vlen, name, sizeof name);
    const nsl_database *d = nsl_registry_find_database(rq->s->srv->reg, name);
    if (!d) {
        nsl_out_errf(rq->s, NSL_NAMESPACE, "unknown database '%s'", name);
        return false;
    }
    *db = d->id;
    return true;
}

/* columns=a,b,c: the JSON keys of each row, in that order. */
static bool parse_columns(request *rq, const char *v, size_t vlen, size_t col, nsl_show_query *q)
{
    q->ncolumns = 0;
    for (size_t i = 0; i <= vlen;) {
        size_t len = 0;
        while (i + len < vlen && v[i + len] != ',')
            len++;
        int c = nsl_show_column_find(v + i, len);
        if (c < 0 || q->ncolumns == NSL_SHOW_NCOLUMNS) {
            nsl_out_errf(rq->s, NSL_SYNTAX, "column %zu: unknown column '%.*s' in columns=",
                         col + i, (int)(len > 40 ? 40 : len), v + i);
            return false;
        }
        q->columns[q->ncolumns++] = (uint8_t)c;
        i += len + 1;
    }
    return true;
}

static void req_show(request *rq)
{
    nsl_session *s = rq->s;
    nsl_server *srv = s->srv;
    nsl_show_query q;
    nsl_show_query_init(&q);
    nsl_view_filter *f = &q.filter;
    char *prefix = NULL;
    const char *w, *v;
    size_t wlen, col, klen, vlen;
    while (next_word(rq, &w, &wlen, &col)) {
        uint64_t n;
        if (word_is(w, wlen, "nowaiters")) {
            f->no_waiters = true;
            continue;
        }
        if (word_is(w, wlen, "waiters")) {
            q.waiters_only = true;
            continue;
        }
        if (word_is(w, wlen, "json")) {
            q.format = NSL_SHOW_JSON;
            continue;
        }
        if (!split_pair(w, wlen, &klen, &v, &vlen)) {
            nsl_out_errf(s, NSL_SYNTAX,
                         "column %zu: expected database=, namespace=, owner=, pid=, name=, "
                         "sort=, columns=, nowaiters, waiters or json", col);
            goto out;
        }
        if (word_is(w, klen, "database")) {
            if (!parse_database(rq, v, vlen, &f->database))
                goto out;
        } else if (word_is(w, klen, "namespace")) {
            char name[256];
            word_copy(v, vlen, name, sizeof name);
            const nsl_namespace *ns = nsl_registry_find_namespace(srv->reg, name);
            if (!ns) {
                nsl_out_errf(s, NSL_NAMESPACE, "unknown namespace '%s'", name);
                goto out;
            }
            f->namespace_id = ns->id;
        } else if (word_is(w, klen, "owner")) {
            if (!parse_u64(v, vlen, &n) || n == 0 || n > UINT32_MAX) {
                nsl_out_errf(s, NSL_SYNTAX, "column %zu: owner must be a session id", col + klen + 1);
                goto out;
            }
            f->owner = (nsl_owner_id)n;
        } else if (word_is(w, klen, "pid")) {
            if (!parse_u64(v, vlen, &n) || n == 0 || n > INT32_MAX) {
                nsl_out_errf(s, NSL_SYNTAX, "column %zu: pid must be a process id", col + klen + 1);
                goto out;
            }
            q.pid = (int64_t)n;
        } else if (word_is(w, klen, "sort")) {
            q.sort = nsl_show_column_find(v, vlen);
            if (q.sort < 0) {
                nsl_out_errf(s, NSL_SYNTAX, "column %zu: unknown column '%.*s' in sort=",
                             col + klen + 1, (int)(vlen > 40 ? 40 : vlen), v);
                goto out;
            }
        } else if (word_is(w, klen, "columns")) {
            if (!parse_columns(rq, v, vlen, col + klen + 1, &q))
                goto out;
        } else if (word_is(w, klen, "name")) {
            free(prefix);
            prefix = strndup(v, vlen);
            if (!prefix) {
                nsl_out_err(s, NSL_NOMEM, NULL);
                goto out;
            }
            f->name_prefix = prefix;
        } else {
            nsl_out_errf(s, NSL_SYNTAX, "column %zu: unknown filter '%.*s'", col,
                         (int)(klen > 40 ? 40 : klen), w);
            goto out;
        }
    }
    if (q.ncolumns && q.format != NSL_SHOW_JSON) {
        nsl_out_err(s, NSL_SYNTAX, "columns= goes with json only (TSV rows have every field)");
        goto out;
    }
    nsl_show_start(s, &q);
out:
    free(prefix);
}

/* ---- STATS ------------------------------------------------------------------------------ */

/* STATS: `DATA 15` and NAME<TAB>VALUE lines; STATS json: the lines of
 * the JSON document /api/stats serves too (metrics.c). */
static void req_stats(request *rq)
{
    nsl_session *s = rq->s;
    const char *w;
    size_t wlen, col;
    bool json = false;
    if (next_word(rq, &w, &wlen, &col)) {
        if (!word_is(w, wlen, "json")) {
            nsl_out_errf(s, NSL_SYNTAX, "column %zu: unexpected '%.*s' (STATS takes only json)",
                         col, (int)(wlen > 40 ? 40 : wlen), w);
            return;
        }
        json = true;
        if (!no_more_words(rq))
            return;
    }
    nsl_server *srv = s->srv;
    if (json) {
        nsl_text t = {0};
        size_t lines = nsl_stats_json(srv, &t);
        if (t.failed) {
            nsl_text_free(&t);
            nsl_out_err(s, NSL_NOMEM, NULL);
            return;
        }
        nsl_out_str(s, "DATA ");
        nsl_out_u64(s, lines);
        nsl_out_char(s, '\n');
        nsl_out_put(s, t.p, t.len);
        nsl_text_free(&t);
        return;
    }
    nsl_stat_item items[NSL_STATS_COUNT];
    size_t n = nsl_stats_collect(srv, items);
    nsl_out_str(s, "DATA ");
    nsl_out_u64(s, n);
    nsl_out_char(s, '\n');
    for (size_t i = 0; i < n; i++) {
        nsl_out_str(s, items[i].name);
        nsl_out_char(s, '\t');
        nsl_out_u64(s, items[i].value);
        nsl_out_char(s, '\n');
    }
}

/* ---- REMOVE ----------------------------------------------------------------------------- */

/* Whether the peer process is in group gid, from the groups the kernel
 * recorded for its socket (SO_PEERGROUPS): 1 yes, 0 no, -1 unknown (then
 * the user database decides). A process that dropped a group is not in it. */
static int peer_in_group(const nsl_session *s, gid_t gid)
{
#ifdef SO_PEERGROUPS
    uv_os_fd_t fd;
    if (uv_fileno(&s->h.handle, &fd) != 0)
        return -1;
    gid_t groups[256];
    socklen_t len = sizeof groups;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
        return -1;
    for (size_t i = 0; i < len / sizeof groups[0]; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
#else
    (void)s;
    (void)gid;
    return -1;
#endif
}

/* Root, the server's own uid, or a member of server.admin_group.
 * TCP peers have no uid the server can trust, so they are never admins. */
static bool is_admin(nsl_session *s)
{
    if (s->admin >= 0)
        return s->admin;
    nsl_server *srv = s->srv;
    bool admin = false;
    const char *group = srv->cfg->admin_group;
    if (s->tcp || !s->have_uid) {
        admin = false;
    } else if (s->uid == 0 || s->uid == srv->self_uid) {
        admin = true;
    } else if (group) {
        struct group *g = getgrnam(group);
        if (!g) {
            nsl_log(NSL_LOG_WARN, "server.admin_group '%s' does not exist", group);
        } else {
            gid_t admin_gid = g->gr_gid;
            int peer = peer_in_group(s, admin_gid);
            admin = s->gid == admin_gid || peer == 1;
            struct passwd *pw = peer < 0 ? getpwuid(s->uid) : NULL;
            if (!admin && pw) {
                int n = 64;
                gid_t *groups = malloc((size_t)n * sizeof *groups);
                if (groups && getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0) {
                    gid_t *more = realloc(groups, (size_t)n * sizeof *groups);
                    if (more) {
                        groups = more;
                        if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
                            n = 0;
                    } else {
                        n = 0;
                    }
                }
                for (int i = 0; groups && i < n; i++)
                    admin |= groups[i] == admin_gid;
                free(groups);
            }
        }
    }
    s->admin = admin;
    return admin;
}

typedef struct remove_args {
    nsl_owner_id owner;          /* 0: any */
    int64_t pid;                 /* < 0: any */
    int64_t db;                  /* < 0: any */
    bool has_key;
    nsl_key key;
} remove_args;

static bool parse_remove(request *rq, remove_args *a)
{
    nsl_session *s = rq->s;
    const char *w, *v;
    size_t wlen, col, klen, vlen;
    bool any = false;
    *a = (remove_args){.pid = -1, .db = -1};
    while (next_word(rq, &w, &wlen, &col)) {
        uint64_t n;
        if (!split_pair(w, wlen, &klen, &v, &vlen)) {
            nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected owner=, pid=, database= or name=", col);
            return false;
        }
        any = true;
        if (word_is(w, klen, "owner")) {
            if (!parse_u64(v, vlen, &n) || n == 0 || n > UINT32_MAX) {
                nsl_out_errf(s, NSL_SYNTAX, "column %zu: owner must be a session id", col + klen + 1);
                return false;
            }
            a->owner = (nsl_owner_id)n;
        } else if (word_is(w, klen, "pid")) {
            if (!parse_u64(v, vlen, &n) || n == 0 || n > INT32_MAX) {
                nsl_out_errf(s, NSL_SYNTAX, "column %zu: pid must be a process id", col + klen + 1);
                return false;
            }
            a->pid = (int64_t)n;
        } else if (word_is(w, klen, "database")) {
            if (!parse_database(rq, v, vlen, &a->db))
                return false;
        } else if (word_is(w, klen, "name")) {
            nsl_lockname name;
            nsl_error err;
            if (nsl_lockname_parse(v, vlen, NULL, &name, &err) != NSL_OK) {
                out_parse_error(s, &err, col + klen);
                return false;
            }
            if (name.ref != NSL_REF_PLAIN) {
                nsl_out_errf(s, NSL_SYNTAX,
                             "column %zu: name= takes a name as the table shows it, "
                             "without a namespace; use database= to choose the database",
                             col + klen + 1);
                return false;
            }
            a->has_key = true;
            a->key = name.key;
        } else {
            nsl_out_errf(s, NSL_SYNTAX, "column %zu: unknown criterion '%.*s'", col,
                         (int)(klen > 40 ? 40 : klen), w);
            return false;
        }
    }
    if (!any)
        nsl_out_err(s, NSL_SYNTAX, "REMOVE needs at least one of owner=, pid=, database=, name=");
    return any;
}

/* True when some other owner holds an entry the criteria match. */
static bool touches_others(nsl_session *s, const remove_args *a)
{
    nsl_view_filter f;
    nsl_view_filter_init(&f);
    f.database = a->db;
    f.no_waiters = true;
    nsl_view view;
    if (nsl_engine_view(s->srv->engine, &f, &view) != NSL_OK)
        return true;
    bool others = false;
    for (size_t i = 0; i < view.count && !others; i++) {
        const nsl_view_row *r = &view.rows[i];
        if (r->owner == s->owner)
            continue;
        others = !a->has_key ||
                 (r->key_len == a->key.len && !memcmp(r->key, a->key.bytes, a->key.len));
    }
    nsl_view_free(&view);
    return others;
}

/* "session 3 (uid 0, pid 4242, client nslock)": who, for the log and for
 * the owners told of a REMOVE. */
static void describe_session(const nsl_session *s, char *buf, size_t cap)
{
    char uid[24];
    if (s->tcp)
        snprintf(uid, sizeof uid, "TCP");
    else if (s->have_uid)
        snprintf(uid, sizeof uid, "uid %lu", (unsigned long)s->uid);
    else
        snprintf(uid, sizeof uid, "uid unknown");
    snprintf(buf, cap, "session %u (%s, pid %ld, client %s)", s->owner, uid, s->pid,
             s->client[0] ? s->client : "-");
}

/* The criteria as given, for the log: "owner=1 database=USERDB". */
static void describe_criteria(const nsl_server *srv, const remove_args *a, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    if (a->owner)
        n += (size_t)snprintf(buf + n, cap - n, " owner=%u", a->owner);
    if (a->pid >= 0 && n < cap)
        n += (size_t)snprintf(buf + n, cap - n, " pid=%" PRId64, a->pid);
    if (a->db >= 0 && n < cap)
        n += (size_t)snprintf(buf + n, cap - n, " database=%s",
                              nsl_registry_database(srv->reg, (uint32_t)a->db)->name);
    if (a->has_key && n < cap) {
        char name[600], shown[800];
        size_t len = nsl_key_format(&a->key, name, sizeof name);
        nsl_mtext_escape(name, len < sizeof name ? len : sizeof name - 1, shown, sizeof shown);
        snprintf(buf + n, cap - n, " name=%s", shown);
    }
}

#define REMOVE_LOG_OWNERS 8

/* What one REMOVE took, owner by owner (the engine reports an owner's
 * entries one after another). */
typedef struct removal {
    nsl_session *by;
    char who[128];
    nsl_owner_id last_owner;
    nsl_session *target;         /* last_owner's session when it must be told */
    size_t owners;
    struct {
        nsl_owner_id owner;
        size_t entries;
    } shown[REMOVE_LOG_OWNERS];
} removal;

static void entry_removed(void *ctx, nsl_owner_id owner, uint32_t db, const uint8_t *key,
                          size_t key_len)
{
    removal *r = ctx;
    nsl_server *srv = r->by->srv;
    if (owner != r->last_owner || !r->owners) {
        r->last_owner = owner;
        if (r->owners < REMOVE_LOG_OWNERS)
            r->shown[r->owners].owner = owner, r->shown[r->owners].entries = 0;
        r->owners++;
        nsl_session *t = nsl_session_by_owner(srv, owner);
        /* the remover has its answer; others learn it on their next request */
        r->target = t && t != r->by && !t->ended ? t : NULL;
        if (r->target) {
            r->target->removals++;
            snprintf(r->target->removed_by, sizeof r->target->removed_by, "%s", r->who);
        }
    }
    if (r->owners <= REMOVE_LOG_OWNERS)
        r->shown[r->owners - 1].entries++;
    nsl_session *t = r->target;
    if (!t)
        return;
    if (!t->removed_entries) {
        char name[600], shown[160];
        size_t len = nsl_key_format_bytes(key, key_len, name, sizeof name);
        nsl_mtext_escape(name, len < sizeof name ? len : sizeof name - 1, shown, sizeof shown);
        snprintf(t->removed_example, sizeof t->removed_example, "%s in %s", shown,
                 nsl_registry_database(srv->reg, db)->name);
    }
    t->removed_entries++;
}

/* The answer a session gets to its first request after a REMOVE took some
 * of its entries; the request itself is not run. */
static void out_removed(nsl_session *s)
{
    char others[40] = "";
    if (s->removals > 1)
        snprintf(others, sizeof others, " and %u other REMOVE%s", s->removals - 1,
                 s->removals > 2 ? "s" : "");
    nsl_out_errf(s, NSL_LOST, "removed by %s%s: %" PRIu64 " %s of this session, e.g. %s; "
                 "request not run", s->removed_by, others, s->removed_entries,
                 s->removed_entries == 1 ? "entry" : "entries", s->removed_example);
    s->removed_entries = 0;
    s->removals = 0;
}

static void log_removal(const removal *r, const char *criteria, size_t removed)
{
    char owners[512];
    size_t n = 0;
    owners[0] = '\0';
    for (size_t i = 0; i < r->owners && i < REMOVE_LOG_OWNERS && n < sizeof owners; i++)
        n += (size_t)snprintf(owners + n, sizeof owners - n, "%ssession %u (%zu)", i ? ", " : "",
                              r->shown[i].owner, r->shown[i].entries);
    if (r->owners > REMOVE_LOG_OWNERS && n < sizeof owners)
        snprintf(owners + n, sizeof owners - n, " and %zu more owners",
                 r->owners - REMOVE_LOG_OWNERS);
    nsl_log(NSL_LOG_INFO, "REMOVE by %s [%s]: removed %zu %s of %s", r->who, criteria + 1,
            removed, removed == 1 ? "entry" : "entries", owners);
}

static void req_remove(request *rq)
{
    nsl_session *s = rq->s;
    nsl_server *srv = s->srv;
    remove_args a;
    if (!parse_remove(rq, &a))
        return;
    const nsl_key *key = a.has_key ? &a.key : NULL;
    uint64_t now = nsl_server_now(srv);

    /* The sessions the criteria select: one owner, a pid's, or everyone. */
    size_t targets = 0;
    bool only_self = true;
    for (nsl_session *t = srv->sessions; t; t = t->next) {
        if (t->ended || (a.owner && t->owner != a.owner) || (a.pid >= 0 && t->pid != a.pid))
            continue;
        targets++;
        only_self &= t == s;
    }
    bool everyone = !a.owner && a.pid < 0;
    if (!everyone && !targets) {
        if (a.owner)
            nsl_out_errf(s, NSL_NOTFOUND, "no session %u%s", a.owner,
                         a.pid >= 0 ? " with that pid" : "");
        else
            nsl_out_errf(s, NSL_NOTFOUND, "no session with pid %" PRId64, a.pid);
        return;
    }
    removal r = {.by = s};
    char criteria[900];
    describe_session(s, r.who, sizeof r.who);
    describe_criteria(srv, &a, criteria, sizeof criteria);
    if (!is_admin(s)) {
        if (everyone ? touches_others(s, &a) : !only_self) {
            nsl_log(NSL_LOG_WARN, "REMOVE by %s [%s] refused: other owners' entries need an admin",
                    r.who, criteria + 1);
            srv->metrics.removals_refused++;
            if (srv->cfg->admin_group)
                nsl_out_errf(s, NSL_PROTECT,
                             "removing another owner's locks needs root, the server's user "
                             "or group %s", srv->cfg->admin_group);
            else
                nsl_out_err(s, NSL_PROTECT,
                            "removing another owner's locks needs root or the server's user");
            return;
        }
        if (everyone) {
            everyone = false;
            a.owner = s->owner;
        }
    }

    size_t removed = 0;
    if (everyone) {
        removed = nsl_engine_remove_each(srv->engine, 0, a.db, key, now, entry_removed, &r);
    } else {
        /* Collect first: removing serves waiters, whose sessions may change. */
        nsl_owner_id stack[64], *ids = stack;
        if (targets > 64 && !(ids = malloc(targets * sizeof *ids))) {
            nsl_out_err(s, NSL_NOMEM, NULL);
            return;
        }
        size_t k = 0;
        for (nsl_session *t = srv->sessions; t && k < targets; t = t->next)
            if (!t->ended && (!a.owner || t->owner == a.owner) && (a.pid < 0 || t->pid == a.pid))
                ids[k++] = t->owner;
        for (size_t i = 0; i < k; i++)
            removed += nsl_engine_remove_each(srv->engine, ids[i], a.db, key, now,
                                              entry_removed, &r);
        if (ids != stack)
            free(ids);
    }
    if (!removed) {
        nsl_out_err(s, NSL_NOTFOUND, "no entry matched");
        return;
    }
    log_removal(&r, criteria, removed);
    srv->metrics.removals++;
    srv->metrics.removed_entries += removed;
    nsl_out_str(s, "OK ");
    nsl_out_u64(s, removed);
    nsl_out_char(s, '\n');
}

/* ---- dispatch --------------------------------------------------------------------------- */

static bool parse_secret(const char *w, size_t wlen, uint8_t secret[NSL_SECRET_BYTES]);

/* RECLAIM SESSION ID SECRET [TLEVEL] | RECLAIM DONE | RECLAIM TOKEN ... (one lock) */
static void req_reclaim(request *rq)
{
    nsl_session *s = rq->s;
    const char *w;
    size_t wlen, col;
    size_t after_keyword = rq->pos;
    if (!next_word(rq, &w, &wlen, &col)) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected SESSION, DONE or a lock to reclaim",
                     rq->pos + 1);
        return;
    }
    if (word_is(w, wlen, "DONE")) {
        if (no_more_words(rq))
            nsl_recovery_reclaim_done(s);
        return;
    }
    if (!word_is(w, wlen, "SESSION")) {
        const char *text;
        size_t len;
        rq->pos = after_keyword;
        rest_of_line(rq, &text, &len, &col);
        nsl_recovery_reclaim_lock(s, text, len, col);
        return;
    }
    uint64_t id, tlevel = 0;
    uint8_t secret[NSL_SECRET_BYTES];
    if (!next_word(rq, &w, &wlen, &col) || !parse_u64(w, wlen, &id) || id == 0 || id > UINT32_MAX) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected RECLAIM SESSION ID SECRET [TLEVEL]", col);
        return;
    }
    if (!next_word(rq, &w, &wlen, &col) || !parse_secret(w, wlen, secret)) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: the secret is %zu hex digits", col,
                     2 * sizeof secret);
        return;
    }
    if (next_word(rq, &w, &wlen, &col) && (!parse_u64(w, wlen, &tlevel) || tlevel > 127)) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: a transaction level, 0 to 127", col);
        return;
    }
    if (no_more_words(rq))
        nsl_recovery_reclaim_session(s, (nsl_owner_id)id, secret, (unsigned)tlevel);
}

static bool parse_secret(const char *w, size_t wlen, uint8_t secret[NSL_SECRET_BYTES])
{
    if (wlen != 2 * NSL_SECRET_BYTES)
        return false;
    for (size_t i = 0; i < wlen; i++) {
        char c = w[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        secret[i / 2] = (uint8_t)(i % 2 ? (secret[i / 2] | v) : v << 4);
    }
    return true;
}

/* RESUME ID SECRET ANSWERED (TCP) */
static void req_resume(request *rq)
{
    nsl_session *s = rq->s;
    const char *w;
    size_t wlen, col;
    uint64_t id, answered;
    uint8_t secret[NSL_SECRET_BYTES];
    if (!next_word(rq, &w, &wlen, &col) || !parse_u64(w, wlen, &id) || id == 0 ||
        id > UINT32_MAX || !next_word(rq, &w, &wlen, &col) || !parse_secret(w, wlen, secret) ||
        !next_word(rq, &w, &wlen, &col) || !parse_u64(w, wlen, &answered)) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: expected RESUME ID SECRET ANSWERED", rq->pos + 1);
        return;
    }
    if (no_more_words(rq))
        nsl_recovery_resume(s, (nsl_owner_id)id, secret, answered);
}

static void req_ping(request *rq)
{
    nsl_out_str(rq->s, "OK PONG\n");
}

static void req_quit(request *rq)
{
    nsl_out_str(rq->s, "OK bye\n");
    nsl_session_end(rq->s, true);
}

typedef struct command {
    const char *keyword;
    void (*run)(request *rq);
} command;

static const command commands[] = {
    {"PING", req_ping},       {"HELLO", req_hello},         {"AUTH", req_auth},
    {"NS", req_ns},           {"TSTART", req_tstart},       {"TCOMMIT", req_tcommit},
    {"TROLLBACK", req_trollback}, {"RESOLVE", req_resolve}, {"SHOW", req_show},
    {"STATS", req_stats},     {"REMOVE", req_remove},       {"QUIT", req_quit},
    {"RECLAIM", req_reclaim},  {"RESUME", req_resume},
    {"CANCEL", req_cancel},    {"NAMESPACES", req_namespaces},
    {"CONFIG", req_config},    {"CLUSTER", req_cluster},
};

void nsl_protocol_handle(nsl_session *s, const char *line, size_t len)
{
    size_t kw = 0;
    while (kw < len && line[kw] == ' ')
        kw++;
    size_t kwend = kw;
    while (kwend < len && line[kwend] != ' ')
        kwend++;
    const char *k = line + kw;
    size_t klen = kwend - kw;
    request rq = {.s = s, .line = line, .len = len, .pos = kwend};

    /* A wrong token's answer is delayed: nothing behind it may answer first. */
    if (s->auth_answer_due)
        return;
    if (!s->authenticated && !word_is(k, klen, "AUTH")) {
        nsl_out_err(s, NSL_PROTECT, "authenticate first: AUTH <token>");
        nsl_session_end(s, true);
        return;
    }
    /* A standby serves no locks: clients go to the leader it names. */
    if (!nsl_ha_allows(s->srv, k, klen)) {
        nsl_ha_refuse(s);
        return;
    }
    /* A NUL would cut names short wherever they are shown as C strings. */
    const char *nul = memchr(line, '\0', len);
    if (nul) {
        nsl_out_errf(s, NSL_SYNTAX, "column %zu: a NUL byte", (size_t)(nul - line) + 1);
        return;
    }
    /* A REMOVE took entries of this session: it is told before anything
     * else is run, so it does not go on as if it held them. */
    if (s->removed_entries && !word_is(k, klen, "QUIT") && !word_is(k, klen, "PING") &&
        !word_is(k, klen, "CANCEL")) {
        out_removed(s);
        return;
    }
    /* LOCK first: it is nearly all the traffic. */
    if (word_is(k, klen, "LOCK") || word_is(k, klen, "L")) {
        req_lock(&rq, kw);
        return;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (word_is(k, klen, commands[i].keyword)) {
            commands[i].run(&rq);
            return;
        }
    }
    if (!klen)
        nsl_out_err(s, NSL_COMMAND, "empty request");
    else
        nsl_out_errf(s, NSL_COMMAND, "unknown request '%.*s'", (int)(klen > 40 ? 40 : klen), k);
}
