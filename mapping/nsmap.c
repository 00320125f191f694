/* Compiling a namespace's `map:` rules (docs/CONFIG.md) into sorted segments of the
 * key space (see nsmap_internal.h), with the diagnostics of docs/CONFIG.md.
 *
 * Each rule becomes an interval [lo, hi) of encoded keys:
 *   G                [^G, ^G‖FF)            the global and its whole tree
 *   G(s…)            [^G(s…), ^G(s…)‖FF)    one node and its subtree
 *   G(a…):(b…)       [^G(a…), ^G(b…))       subtrees of the bounds' side included
 *   (BEGIN), (END)   ^G("") (the first possible child), ^G‖FF
 *   P*               [^P, 0x02 P‖FF)        every name that starts with P
 * (^P is 0x02 P 0x00, and every longer name continues with a name character
 * above 0x00, so the wildcard interval holds exactly the names P….)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mapping/key_internal.h"
#include "mapping/nsmap_internal.h"

#define BOUND_MAX (NSL_MAX_KEY_BYTES + 1)   /* a key and one 0xFF */

typedef struct bound {
    uint8_t bytes[BOUND_MAX];
    uint16_t len;
    uint8_t kind;                           /* nsl_bound_kind */
} bound;

/* A rule after parsing; lo/hi point into the arena once it stops growing. */
typedef struct rule {
    const nsl_cfg_mapping *cfg;
    uint32_t db;
    uint32_t lo_off, hi_off;
    uint16_t lo_len, hi_len;
    uint8_t lo_kind, hi_kind;
    const uint8_t *lo, *hi;
    int32_t parent;                         /* index in the sorted array, -1 top level */
    /* Shadow check: how far the children cover [lo, hi) without a gap. */
    const uint8_t *covered;
    uint16_t covered_len;
    bool gap;
    bool has_children;
} rule;

typedef struct compile_ctx {
    const nsl_registry *reg;
    const nsl_namespace *ns;
    const char *file;
    nsl_diags *diags;
    bool failed;                             /* an error diagnostic was added */
    bool nomem;
    uint8_t *arena;
    size_t arena_len, arena_cap;
} compile_ctx;

/* ---- small helpers -------------------------------------------------------- */

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void *grow(compile_ctx *c, void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    if (q == NULL) {
        c->nomem = true;
        return p;
    }
    *cap = n;
    return q;
}

static uint32_t arena_put(compile_ctx *c, const uint8_t *bytes, size_t len)
{
    c->arena = grow(c, c->arena, &c->arena_cap, c->arena_len + len + 1, 1);
    if (c->nomem)
        return 0;
    uint32_t off = (uint32_t)c->arena_len;
    memcpy(c->arena + off, bytes, len);
    c->arena_len += len;
    return off;
}

static void diag(compile_ctx *c, nsl_diag_level level, const char *id, nsl_pos pos,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void diag(compile_ctx *c, nsl_diag_level level, const char *id, nsl_pos pos,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nsl_diags_vadd(c->diags, level, id, c->file, pos, fmt, ap);
    va_end(ap);
    if (level == NSL_DIAG_ERROR)
        c->failed = true;
}

/* The position of byte `offset` of a rule's text (rules are YAML keys,
 * normally plain scalars, so the text starts at the key's column). */
static nsl_pos rule_pos(const nsl_cfg_mapping *m, size_t offset)
{
    nsl_pos p = m->pos;
    if (p.col > 0)
        p.col += (int)offset;
    return p;
}

/* Long rule texts are cut in messages; the position says where. */
#define RULE_FMT "%.*s%s"
#define RULE_ARG(m) (strlen((m)->rule) > 80 ? 77 : (int)strlen((m)->rule)), (m)->rule, \
                    (strlen((m)->rule) > 80 ? "..." : "")

static void rule_error(compile_ctx *c, const nsl_cfg_mapping *m, size_t offset,
                       const char *what)
{
    diag(c, NSL_DIAG_ERROR, "malformed-mapping", rule_pos(m, offset), "malformed mapping `" RULE_FMT "`: %s",
         RULE_ARG(m), what);
}

/* ---- parsing one rule ---------------------------------------------------- */

static bool check_name(compile_ctx *c, const nsl_cfg_mapping *m, size_t len)
{
    const unsigned char *s = (const unsigned char *)m->rule;
    if (len == 0) {
        rule_error(c, m, 0, s[0] ? "missing global name" : "empty rule");
        return false;
    }
    const char *why = NULL;
    size_t at = 0;
    char buf[96];
    if (s[0] == '^') {
        why = "map rules name globals without the `^`";
    } else if (!nsl_name_start_char(s[0])) {
        why = "a name starts with a letter or `%`";
    } else {
        for (size_t i = 1; i < len && why == NULL; i++) {
            if (!nsl_name_char(s[i])) {
                at = i;
                if (s[i] >= 0x21 && s[i] < 0x7F)
                    snprintf(buf, sizeof buf, "`%c` is not allowed in a name", s[i]);
                else
                    snprintf(buf, sizeof buf, "byte 0x%02X is not allowed in a name", s[i]);
                strcat(buf, " (letters, digits and `.`)");
                why = buf;
            }
        }
        if (why == NULL && len > NSL_MAX_NAME_CHARS)
            why = "longer than 31 characters";
    }
    if (why == NULL)
        return true;
    diag(c, NSL_DIAG_ERROR, "invalid-global", rule_pos(m, at), "invalid global name `%.*s%s`: %s",
         len > 40 ? 37 : (int)len, m->rule, len > 40 ? "..." : "", why);
    return false;
}

/* Parses "^" name text[at…] with the public lock-name parser, so map rules
 * and lock names agree on every subscript. whole: the text must end there;
 * otherwise *end is where the bound stops in the rule. */
static bool parse_bound(compile_ctx *c, const nsl_cfg_mapping *m, size_t name_len,
                        size_t at, bool whole, size_t *end, bound *out)
{
    const char *r = m->rule;
    size_t tail = strlen(r + at);
    size_t tlen = 1 + name_len + tail;
    char *text = malloc(tlen + 1);
    if (text == NULL) {
        c->nomem = true;
        return false;
    }
    text[0] = '^';
    memcpy(text + 1, r, name_len);
    memcpy(text + 1 + name_len, r + at, tail + 1);

    nsl_lockname ln;
    nsl_error err = {0};
    size_t used = 0;
    nsl_code rc = nsl_lockname_parse(text, tlen, whole ? NULL : &used, &ln, &err);
    free(text);
    if (rc != NSL_OK) {
        /* Column err.column of text is byte err.column - 1; text is "^",
         * the name, then the rule from `at`. */
        size_t b = err.column > 0 ? (size_t)err.column - 1 : 0;
        size_t offset = b <= name_len ? (b ? b - 1 : 0) : at + (b - 1 - name_len);
        rule_error(c, m, offset, err.message);
        return false;
    }
    if (ln.ref != NSL_REF_PLAIN || !ln.key.global || (!whole && used <= 1 + name_len)) {
        /* Defensive: the name check above makes this unreachable. */
        rule_error(c, m, at, "expected subscripts in parentheses");
        return false;
    }
    memcpy(out->bytes, ln.key.bytes, ln.key.len);
    out->len = ln.key.len;
    out->kind = NSL_BOUND_KEY;
    if (end)
        *end = at + (used - 1 - name_len);
    return true;
}

/* "(BEGIN)" / "(END)" at s: returns the length matched, 0 if neither. */
static size_t special_bound(const char *s, bool *is_end)
{
    if (strncasecmp(s, "(BEGIN)", 7) == 0) {
        *is_end = false;
        return 7;
    }
    if (strncasecmp(s, "(END)", 5) == 0) {
        *is_end = true;
        return 5;
    }
    return 0;
}

/* BEGIN is the first possible child, ^G("") (0x01 is the smallest first
 * byte of a subscript part), so that it covers children only and a range
 * from (BEGIN) equals the same range from (""). END is ^G‖FF. */
static void special_bound_bytes(const bound *global, bool is_end, bound *out)
{
    memcpy(out->bytes, global->bytes, global->len);
    out->bytes[global->len] = is_end ? 0xFF : 0x01;
    out->len = (uint16_t)(global->len + 1);
    out->kind = is_end ? NSL_BOUND_SUBTREE_END : NSL_BOUND_KEY;
}

static void subtree_end(const bound *node, bound *out)
{
    memcpy(out->bytes, node->bytes, node->len);
    out->bytes[node->len] = 0xFF;
    out->len = (uint16_t)(node->len + 1);
    out->kind = NSL_BOUND_SUBTREE_END;
}

static size_t format_bound(const uint8_t *bytes, size_t len, uint8_t kind, char *buf, size_t cap);

/* Fills lo/hi from the rule text; false (with a diagnostic) if malformed. */
static bool parse_rule(compile_ctx *c, const nsl_cfg_mapping *m, bound *lo, bound *hi)
{
    const char *r = m->rule;
    size_t i = 0;
    while (r[i] && r[i] != '(' && r[i] != '*' && r[i] != ':')
        i++;
    if (!check_name(c, m, i))
        return false;

    bound global;   /* ^name alone: 0x02 name 0x00 */
    if (!parse_bound(c, m, i, strlen(r), true, NULL, &global))
        return false;

    if (r[i] == '\0') {
        *lo = global;
        subtree_end(&global, hi);
        return true;
    }
    if (r[i] == '*') {
        if (r[i + 1] != '\0') {
            rule_error(c, m, i + 1, "`*` must end the rule");
            return false;
        }
        *lo = global;
        memcpy(hi->bytes, global.bytes, global.len - 1);
        hi->bytes[global.len - 1] = 0xFF;
        hi->len = global.len;
        hi->kind = NSL_BOUND_PREFIX_END;
        return true;
    }
    if (r[i] == ':') {
        rule_error(c, m, i, "a range needs subscripts on both sides, as in `G(1):(10)`");
        return false;
    }

    /* r[i] == '(' */
    bool from_end = false, to_end = false;
    size_t j, n = special_bound(r + i, &from_end);
    if (n) {
        special_bound_bytes(&global, from_end, lo);
        j = i + n;
    } else if (!parse_bound(c, m, i, i, false, &j, lo)) {
        return false;
    }
    if (r[j] == '\0') {
        if (n) {
            rule_error(c, m, i, "(BEGIN) and (END) only bound a range, as in `G(BEGIN):(5)`");
            return false;
        }
        subtree_end(lo, hi);
        return true;
    }
    if (r[j] != ':') {
        rule_error(c, m, j, "expected `:` and a second bound, or the end of the rule");
        return false;
    }
    if (r[j + 1] != '(') {
        rule_error(c, m, j + 1, "expected `(` after `:`");
        return false;
    }
    size_t k = special_bound(r + j + 1, &to_end);
    if (k) {
        if (r[j + 1 + k] != '\0') {
            rule_error(c, m, j + 1 + k, "unexpected text after the range");
            return false;
        }
        special_bound_bytes(&global, to_end, hi);
    } else if (!parse_bound(c, m, i, j + 1, true, NULL, hi)) {
        return false;
    }

    int cmp = nsl_key_bytes_cmp(lo->bytes, lo->len, hi->bytes, hi->len);
    if (cmp >= 0) {
        /* An empty range shows the node both bounds denote; a reversed one
         * shows its bounds, (BEGIN) and (END) as written. */
        char a[640], b[640];
        format_bound(lo->bytes, lo->len, lo->kind, a, sizeof a);
        format_bound(hi->bytes, hi->len, hi->kind, b, sizeof b);
        if (cmp == 0) {
            diag(c, NSL_DIAG_ERROR, "empty-range", m->pos, "empty range `" RULE_FMT "`: both bounds are %s",
                 RULE_ARG(m), a);
            return false;
        }
        if (n)
            snprintf(a, sizeof a, "^%.*s(%s)", (int)i, r, from_end ? "END" : "BEGIN");
        if (k)
            snprintf(b, sizeof b, "^%.*s(%s)", (int)i, r, to_end ? "END" : "BEGIN");
        diag(c, NSL_DIAG_ERROR, "reversed-range", m->pos, "reversed range `" RULE_FMT "`: %s sorts after %s",
             RULE_ARG(m), a, b);
        return false;
    }
    return true;
}

/* ---- boundary texts (the effective map, and messages) --------------------- */

/* The next name after every name that starts with prefix, in collation
 * order of name characters (% . 0-9 A-Z a-z); false if there is none. */
static bool next_name(char *s, size_t len, size_t *out_len)
{
    while (len > 0) {
        char ch = s[len - 1];
        char next = ch == '%' ? 'A' : ch == '.' ? '0' : ch == '9' ? 'A'
                  : ch == 'Z' ? 'a' : ch == 'z' ? 0 : (char)(ch + 1);
        if (next) {
            s[len - 1] = next;
            *out_len = len;
            return true;
        }
        len--;
    }
    return false;
}

/* Boundary text: `^G(1)` a node; `^G(1,END)` just after ^G(1)'s subtree;
 * for a wildcard's end the next name (`^Loh` after `Log*`), `...` at the
 * end of the key space; `^%` the start. snprintf-like. */
static size_t format_bound(const uint8_t *bytes, size_t len, uint8_t kind, char *buf, size_t cap)
{
    switch (kind) {
    case NSL_BOUND_START:
        return (size_t)snprintf(buf, cap, "^%%");
    case NSL_BOUND_SUBTREE_END: {
        size_t n = nsl_key_format_bytes(bytes, len - 1, buf, cap);
        if (n + 6 >= cap)
            return n + 6;
        if (n > 0 && buf[n - 1] == ')')
            return n - 1 + (size_t)snprintf(buf + n - 1, cap - (n - 1), ",END)");
        return n + (size_t)snprintf(buf + n, cap - n, "(END)");
    }
    case NSL_BOUND_PREFIX_END: {
        char name[NSL_MAX_NAME_CHARS + 2];
        size_t n = len - 2 < sizeof name ? len - 2 : sizeof name - 1, out;
        memcpy(name, bytes + 1, n);
        if (!next_name(name, n, &out))
            return (size_t)snprintf(buf, cap, "...");
        return (size_t)snprintf(buf, cap, "^%.*s", (int)out, name);
    }
    default:
        return nsl_key_format_bytes(bytes, len, buf, cap);
    }
}

static char *bound_text(compile_ctx *c, const uint8_t *bytes, size_t len, uint8_t kind)
{
    char small[128];
    size_t n = format_bound(bytes, len, kind, small, sizeof small);
    char *s = malloc(n + 1);
    if (s == NULL) {
        c->nomem = true;
        return NULL;
    }
    if (n < sizeof small)
        memcpy(s, small, n + 1);
    else
        format_bound(bytes, len, kind, s, n + 1);
    return s;
}

/* ---- checking the rules together ------------------------------------------ */

static int rule_order(const void *pa, const void *pb)
{
    const rule *a = pa, *b = pb;
    int c = nsl_key_bytes_cmp(a->lo, a->lo_len, b->lo, b->lo_len);
    if (c)
        return c;
    c = nsl_key_bytes_cmp(b->hi, b->hi_len, a->hi, a->hi_len);   /* outer first */
    if (c)
        return c;
    return a->cfg < b->cfg ? -1 : a->cfg > b->cfg;        /* file order */
}

/* Of two conflicting rules, the one later in the file gets the message. */
static void conflict(compile_ctx *c, const rule *a, const rule *b, bool duplicate)
{
    const rule *later = a->cfg > b->cfg ? a : b, *earlier = later == a ? b : a;
    if (duplicate)
        diag(c, NSL_DIAG_ERROR, "duplicate-mapping", later->cfg->pos,
             "duplicate mapping: `" RULE_FMT "` covers the same nodes as `" RULE_FMT "` at %d:%d",
             RULE_ARG(later->cfg), RULE_ARG(earlier->cfg), earlier->cfg->pos.line,
             earlier->cfg->pos.col);
    else
        diag(c, NSL_DIAG_ERROR, "overlapping-mapping", later->cfg->pos, "mapping `" RULE_FMT "` overlaps `" RULE_FMT
             "` at %d:%d; mappings must be disjoint or nested",
             RULE_ARG(later->cfg), RULE_ARG(earlier->cfg), earlier->cfg->pos.line,
             earlier->cfg->pos.col);
}

/* Sets each rule's parent; drops (count shrinks) rules that partially
 * overlap or duplicate an earlier one in key order. rules are sorted. */
static size_t nest_rules(compile_ctx *c, rule *rules, size_t count, int32_t *stack)
{
    size_t sp = 0, kept = 0;
    for (size_t k = 0; k < count; k++) {
        rule r = rules[k];
        while (sp && nsl_key_bytes_cmp(rules[stack[sp - 1]].hi, rules[stack[sp - 1]].hi_len,
                                       r.lo, r.lo_len) <= 0)
            sp--;
        r.parent = -1;
        if (sp) {
            const rule *t = &rules[stack[sp - 1]];
            if (bytes_eq(t->lo, t->lo_len, r.lo, r.lo_len)
                && bytes_eq(t->hi, t->hi_len, r.hi, r.hi_len)) {
                conflict(c, t, &r, true);
                continue;
            }
            if (nsl_key_bytes_cmp(r.hi, r.hi_len, t->hi, t->hi_len) > 0) {
                conflict(c, t, &r, false);
                continue;
            }
            r.parent = stack[sp - 1];
        }
        rules[kept] = r;
        stack[sp++] = (int32_t)kept;
        kept++;
    }
    return kept;
}

static const char *db_name(compile_ctx *c, uint32_t id)
{
    const nsl_database *db = nsl_registry_database(c->reg, id);
    return db ? db->name : "?";
}

/* Warnings: a rule whose children leave no node of its own (shadowed), and
 * a rule that sends its nodes where they would go anyway (redundant). */
static void check_useless(compile_ctx *c, rule *rules, size_t count)
{
    for (size_t k = 0; k < count; k++) {
        rules[k].covered = rules[k].lo;
        rules[k].covered_len = rules[k].lo_len;
        rules[k].gap = false;
        rules[k].has_children = false;
    }
    /* Children come in key order, so coverage is checked by walking. */
    for (size_t k = 0; k < count; k++) {
        if (rules[k].parent < 0)
            continue;
        rule *p = &rules[rules[k].parent];
        p->has_children = true;
        if (!p->gap && bytes_eq(p->covered, p->covered_len, rules[k].lo, rules[k].lo_len)) {
            p->covered = rules[k].hi;
            p->covered_len = rules[k].hi_len;
        } else {
            p->gap = true;
        }
    }
    for (size_t k = 0; k < count; k++) {
        const rule *r = &rules[k];
        if (r->has_children && !r->gap && bytes_eq(r->covered, r->covered_len, r->hi, r->hi_len)) {
            diag(c, NSL_DIAG_WARNING, "mapping-never-applies", r->cfg->pos, "mapping `" RULE_FMT "` never applies: "
                 "more specific mappings cover every node it covers", RULE_ARG(r->cfg));
            continue;
        }
        if (r->parent >= 0) {
            const rule *p = &rules[r->parent];
            if (p->db == r->db)
                diag(c, NSL_DIAG_WARNING, "redundant-mapping", r->cfg->pos, "mapping `" RULE_FMT "` is redundant: `"
                     RULE_FMT "` at %d:%d already maps its nodes to %s", RULE_ARG(r->cfg),
                     RULE_ARG(p->cfg), p->cfg->pos.line, p->cfg->pos.col, db_name(c, r->db));
        } else if (r->db == c->ns->globals) {
            diag(c, NSL_DIAG_WARNING, "redundant-mapping", r->cfg->pos,
                 "mapping `" RULE_FMT "` is redundant: %s is the globals database of namespace %s",
                 RULE_ARG(r->cfg), db_name(c, r->db), c->ns->name);
        }
    }
}

/* ---- flattening ---------------------------------------------------------- */

typedef struct seg_list {
    nsl_segment *items;
    size_t count, cap;
} seg_list;

static const uint8_t *seg_lo(const compile_ctx *c, const nsl_segment *s)
{
    return c->arena + s->lo_off;
}

/* Appends a segment starting at (off,len); a later segment at the same
 * boundary replaces an empty one, and equal owners merge. */
static void seg_push(compile_ctx *c, seg_list *l, uint32_t off, uint16_t len, uint8_t kind,
                     uint32_t db, const nsl_cfg_mapping *mapping)
{
    if (l->count > 0) {
        nsl_segment *last = &l->items[l->count - 1];
        if (bytes_eq(seg_lo(c, last), last->lo_len, c->arena + off, len) && l->count > 1)
            l->count--;
    }
    if (l->count > 0) {
        nsl_segment *last = &l->items[l->count - 1];
        if (last->db == db && last->mapping == mapping)
            return;
    }
    l->items = grow(c, l->items, &l->cap, l->count + 1, sizeof *l->items);
    if (c->nomem)
        return;
    l->items[l->count++] = (nsl_segment){off, len, kind, (uint8_t)db, mapping};
}

static void flatten(compile_ctx *c, const rule *rules, size_t count, int32_t *stack,
                    seg_list *out)
{
    uint32_t globals = c->ns->globals;
    size_t sp = 0;
    seg_push(c, out, 0, 0, NSL_BOUND_START, globals, NULL);
    for (size_t k = 0; k <= count; k++) {
        /* Close the rules that end before this one starts (all at the end). */
        while (sp && (k == count
                      || nsl_key_bytes_cmp(rules[stack[sp - 1]].hi, rules[stack[sp - 1]].hi_len,
                                           rules[k].lo, rules[k].lo_len) <= 0)) {
            const rule *t = &rules[stack[--sp]];
            const rule *owner = sp ? &rules[stack[sp - 1]] : NULL;
            seg_push(c, out, t->hi_off, t->hi_len, t->hi_kind,
                     owner ? owner->db : globals, owner ? owner->cfg : NULL);
        }
        if (k == count)
            break;
        seg_push(c, out, rules[k].lo_off, rules[k].lo_len, rules[k].lo_kind,
                 rules[k].db, rules[k].cfg);
        stack[sp++] = (int32_t)k;
    }
}

static void index_databases(compile_ctx *c, nsl_nsmap *map)
{
    uint32_t per_db[NSL_MAX_DATABASES] = {0};
    for (size_t i = 0; i < map->seg_count; i++)
        per_db[map->segs[i].db]++;
    uint32_t used = 0;
    for (uint32_t d = 0; d < NSL_MAX_DATABASES; d++)
        used += per_db[d] > 0;
    map->db_ids = malloc(used ? used : 1);
    map->db_first = malloc((used + 1) * sizeof *map->db_first);
    map->db_segs = malloc((map->seg_count ? map->seg_count : 1) * sizeof *map->db_segs);
    if (!map->db_ids || !map->db_first || !map->db_segs) {
        c->nomem = true;
        return;
    }
    uint32_t slot[NSL_MAX_DATABASES], pos = 0;
    map->db_count = 0;
    for (uint32_t d = 0; d < NSL_MAX_DATABASES; d++) {
        if (per_db[d] == 0)
            continue;
        slot[d] = pos;
        map->db_ids[map->db_count] = (uint8_t)d;
        map->db_first[map->db_count++] = pos;
        pos += per_db[d];
    }
    map->db_first[map->db_count] = pos;
    for (size_t i = 0; i < map->seg_count; i++)
        map->db_segs[slot[map->segs[i].db]++] = (uint32_t)i;
}

/* The display ranges: one per segment that holds a key, with shared texts. */
static void build_ranges(compile_ctx *c, nsl_nsmap *map)
{
    size_t n = map->seg_count;
    map->texts = calloc(n + 1, sizeof *map->texts);
    map->ranges = calloc(n, sizeof *map->ranges);
    if (!map->texts || !map->ranges) {
        c->nomem = true;
        return;
    }
    map->text_count = n + 1;
    for (size_t i = 0; i < n && !c->nomem; i++)
        map->texts[i] = bound_text(c, map->arena + map->segs[i].lo_off, map->segs[i].lo_len,
                                   map->segs[i].lo_kind);
    map->texts[n] = malloc(4);
    if (c->nomem || map->texts[n] == NULL) {
        c->nomem = true;
        return;
    }
    memcpy(map->texts[n], "...", 4);
    for (size_t i = 0; i < n; i++) {
        char *from = map->texts[i], *to = map->texts[i + 1];
        /* Equal texts: no key falls between (e.g. before a rule at ^%). */
        if (strcmp(from, to) == 0)
            continue;
        map->ranges[map->range_count++] = (nsl_map_range){
            from, to, map->segs[i].db, map->segs[i].mapping};
    }
}

/* ---- entry points ------------------------------------------------------- */

bool nsl_nsmap_compile(nsl_nsmap *map, const nsl_registry *reg, const nsl_namespace *ns,
                       const char *file, nsl_diags *diags)
{
    memset(map, 0, sizeof *map);
    map->globals = ns->globals;
    compile_ctx c = {.reg = reg, .ns = ns, .file = file, .diags = diags};
    const nsl_cfg_namespace *cfg = ns->cfg;
    size_t nrules = cfg ? cfg->map_count : 0;
    rule *rules = calloc(nrules ? nrules : 1, sizeof *rules);
    int32_t *stack = calloc(nrules ? nrules : 1, sizeof *stack);
    bound *lo = malloc(sizeof *lo), *hi = malloc(sizeof *hi);
    seg_list segs = {0};
    size_t count = 0;
    /* Never NULL, so that segment 0 (no bytes) still points somewhere. */
    c.arena = grow(&c, c.arena, &c.arena_cap, 1, 1);
    if (!rules || !stack || !lo || !hi || c.nomem) {
        c.nomem = true;
        goto done;
    }

    for (size_t k = 0; k < nrules && !c.nomem; k++) {
        const nsl_cfg_mapping *m = &cfg->map[k];
        const nsl_database *db = nsl_registry_find_database(reg, m->database);
        bool ok = parse_rule(&c, m, lo, hi);
        if (db == NULL)      /* the registry has reported it */
            continue;
        if (!ok)
            continue;
        rule *r = &rules[count++];
        r->cfg = m;
        r->db = db->id;
        r->lo_off = arena_put(&c, lo->bytes, lo->len);
        r->lo_len = lo->len;
        r->lo_kind = lo->kind;
        r->hi_off = arena_put(&c, hi->bytes, hi->len);
        r->hi_len = hi->len;
        r->hi_kind = hi->kind;
    }
    if (c.nomem)
        goto done;
    for (size_t k = 0; k < count; k++) {
        rules[k].lo = c.arena + rules[k].lo_off;
        rules[k].hi = c.arena + rules[k].hi_off;
    }
    qsort(rules, count, sizeof *rules, rule_order);
    count = nest_rules(&c, rules, count, stack);
    check_useless(&c, rules, count);

    flatten(&c, rules, count, stack, &segs);
    if (c.nomem)
        goto done;
    map->arena = c.arena;
    c.arena = NULL;
    map->segs = segs.items;
    map->seg_count = segs.count;
    segs.items = NULL;
    index_databases(&c, map);
    if (!c.nomem)
        build_ranges(&c, map);

done:
    if (c.nomem)
        diag(&c, NSL_DIAG_ERROR, "out-of-memory", cfg ? cfg->pos : (nsl_pos){0, 0},
             "out of memory compiling the map of namespace %s", ns->name);
    free(segs.items);
    free(c.arena);
    free(rules);
    free(stack);
    free(lo);
    free(hi);
    return !c.failed;
}

void nsl_nsmap_free(nsl_nsmap *map)
{
    if (map == NULL)
        return;
    for (size_t i = 0; i < map->text_count; i++)
        free(map->texts[i]);
    free(map->texts);
    free(map->ranges);
    free(map->db_ids);
    free(map->db_first);
    free(map->db_segs);
    free(map->segs);
    free(map->arena);
    memset(map, 0, sizeof *map);
}

size_t nsl_nsmap_find(const nsl_nsmap *map, const nsl_key *key, size_t len)
{
    size_t lo = 0, hi = map->seg_count;   /* lo(0) is the empty string: <= key */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        const nsl_segment *s = &map->segs[mid];
        if (nsl_key_bytes_cmp(map->arena + s->lo_off, s->lo_len, key->bytes, len) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int nsl_nsmap_cmp_subtree_end(const nsl_nsmap *map, size_t i, const nsl_key *key, size_t len)
{
    const nsl_segment *s = &map->segs[i];
    const uint8_t *x = map->arena + s->lo_off;
    size_t n = s->lo_len < len ? s->lo_len : len;
    int c = n ? memcmp(x, key->bytes, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    if (s->lo_len <= len)
        return -1;              /* x is the key or a prefix of it: before key‖FF */
    if (x[len] != 0xFF)
        return -1;
    return s->lo_len == len + 1 ? 0 : 1;
}
