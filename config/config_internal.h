/* config_internal.h — private to config/: allocation that does not fail.
 *
 * Out of memory while loading a configuration is not a condition nslock can
 * report usefully or recover from, so, as Redis does, it stops there. */
#ifndef NSL_CONFIG_INTERNAL_H
#define NSL_CONFIG_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static inline void nsl_cfg_oom(void)
{
    fputs("nslock: out of memory\n", stderr);
    abort();
}

static inline void *nsl_cfg_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        nsl_cfg_oom();
    return p;
}

static inline void *nsl_cfg_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        nsl_cfg_oom();
    return p;
}

static inline void *nsl_cfg_realloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p)
        nsl_cfg_oom();
    return p;
}

static inline char *nsl_cfg_strndup(const char *s, size_t n)
{
    char *p = nsl_cfg_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static inline char *nsl_cfg_strdup(const char *s)
{
    return nsl_cfg_strndup(s, strlen(s));
}

/* A configuration with every default of config.h set and nothing else:
 * no databases, no namespaces. */
nsl_config *nsl_cfg_new(const char *file);

#endif
