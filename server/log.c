/* server/log.c — leveled logging to stderr.
 *
 * Text (the default): under systemd (JOURNAL_STREAM set) each line starts
 * with a syslog priority prefix (<3>, <4>, ...) and no time, since the
 * journal adds its own; on a terminal or in a file each line carries a UTC
 * timestamp. JSON (--log-format json): one object a line, {"time", "level",
 * "msg"} and the event's fields, for a log shipper. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/server_internal.h"

static nsl_log_level current_level = NSL_LOG_INFO;
static nsl_log_format current_format = NSL_LOG_TEXT;

static const struct {
    const char *name;
    int syslog_priority;
} levels[] = {
    [NSL_LOG_ERROR] = {"error", 3},
    [NSL_LOG_WARN] = {"warning", 4},
    [NSL_LOG_INFO] = {"info", 6},
    [NSL_LOG_DEBUG] = {"debug", 7},
};

bool nsl_log_level_parse(const char *text, nsl_log_level *out)
{
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (!strcasecmp(text, levels[i].name)) {
            *out = (nsl_log_level)i;
            return true;
        }
    }
    if (!strcasecmp(text, "warn")) {
        *out = NSL_LOG_WARN;
        return true;
    }
    return false;
}

bool nsl_log_format_parse(const char *text, nsl_log_format *out)
{
    if (!strcasecmp(text, "text"))
        *out = NSL_LOG_TEXT;
    else if (!strcasecmp(text, "json"))
        *out = NSL_LOG_JSON;
    else
        return false;
    return true;
}

void nsl_log_set_level(nsl_log_level level)
{
    current_level = level;
}

void nsl_log_set_format(nsl_log_format format)
{
    current_format = format;
}

bool nsl_log_enabled(nsl_log_level level)
{
    return level <= current_level;
}

/* A JSON string into out (snprintf-like, always terminated). */
static size_t json_string(char *out, size_t cap, size_t at, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (at < cap)
        out[at] = '"';
    at++;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7] = {0};
        if (*p == '"' || *p == '\\')
            esc[0] = '\\', esc[1] = (char)*p;
        else if (*p < 0x20)
            memcpy(esc, "\\u00", 4), esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15];
        else
            esc[0] = (char)*p;
        for (const char *e = esc; *e; e++, at++)
            if (at < cap)
                out[at] = *e;
    }
    if (at < cap)
        out[at] = '"';
    at++;
    return at;
}

static void emit(nsl_log_level level, const nsl_log_field *fields, size_t count,
                 const char *msg)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[80];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (current_format == NSL_LOG_JSON) {
        char line[4096];
        size_t cap = sizeof line - 2, at = 0;
        at += (size_t)snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", stamp,
                               levels[level].name);
        at = json_string(line, cap, at, msg);
        for (size_t i = 0; i < count && at < cap; i++) {
            at += (size_t)snprintf(line + at, cap - at, ",");
            at = json_string(line, cap, at, fields[i].key);
            if (at < cap)
                at += (size_t)snprintf(line + at, cap - at, ":");
            if (fields[i].text && at < cap)
                at = json_string(line, cap, at, fields[i].text);
            else if (at < cap)
                at += (size_t)snprintf(line + at, cap - at, "%lld", (long long)fields[i].number);
        }
        if (at >= cap)               /* too long: the message alone, still one object */
            at = (size_t)snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"(a log "
                                  "line too long to show)\"", stamp, levels[level].name);
        line[at++] = '}';
        line[at++] = '\n';
        fwrite(line, 1, at, stderr);
    } else if (getenv("JOURNAL_STREAM")) {
        fprintf(stderr, "<%d>%s: %s\n", levels[level].syslog_priority, levels[level].name, msg);
    } else {
        fprintf(stderr, "%s nslock: %s: %s\n", stamp, levels[level].name, msg);
    }
    fflush(stderr);
}

static void vlog(nsl_log_level level, const nsl_log_field *fields, size_t count,
                 const char *fmt, va_list ap)
{
    if (!nsl_log_enabled(level))
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    emit(level, fields, count, msg);
}

void nsl_log(nsl_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void nsl_log_fields(nsl_log_level level, const nsl_log_field *fields, size_t count,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fields, count, fmt, ap);
    va_end(ap);
}
