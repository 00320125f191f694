/* server/log.c — leveled logging to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a syslog
 * priority prefix (<3>, <4>, ...) and no time, since the journal adds its
 * own; on a terminal or in a file each line carries a UTC timestamp. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server/server_internal.h"

static nsl_log_level current_level = NSL_LOG_INFO;

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

void nsl_log_set_level(nsl_log_level level)
{
    current_level = level;
}

bool nsl_log_enabled(nsl_log_level level)
{
    return level <= current_level;
}

void nsl_log(nsl_log_level level, const char *fmt, ...)
{
    if (!nsl_log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    if (getenv("JOURNAL_STREAM")) {
        fprintf(stderr, "<%d>%s: %s\n", levels[level].syslog_priority, levels[level].name, msg);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ nslock: %s: %s\n",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, ts.tv_nsec / 1000000, levels[level].name, msg);
    }
    fflush(stderr);
}
