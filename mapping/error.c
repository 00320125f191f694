/* The one table of status codes (mapping.h NSL_CODE_MAP) and error setting. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mapping/mapping.h"
#include "mapping/parse_internal.h"

static const char *const code_names[] = {
#define NSL_CODE_NAME(name, text) #name,
    NSL_CODE_MAP(NSL_CODE_NAME)
#undef NSL_CODE_NAME
};

static const char *const code_texts[] = {
#define NSL_CODE_TEXT(name, text) text,
    NSL_CODE_MAP(NSL_CODE_TEXT)
#undef NSL_CODE_TEXT
};

const char *nsl_code_name(nsl_code code)
{
    if ((unsigned)code >= NSL_CODE_COUNT)
        return "UNKNOWN";
    return code_names[code];
}

const char *nsl_code_text(nsl_code code)
{
    if ((unsigned)code >= NSL_CODE_COUNT)
        return "unknown status code";
    return code_texts[code];
}

nsl_code nsl_code_from_name(const char *name, size_t len)
{
    if (name == NULL)
        return NSL_CODE_COUNT;
    for (unsigned i = 0; i < NSL_CODE_COUNT; i++) {
        if (strlen(code_names[i]) == len && memcmp(code_names[i], name, len) == 0)
            return (nsl_code)i;
    }
    return NSL_CODE_COUNT;
}

nsl_code nsl_error_set(nsl_error *err, nsl_code code, int column,
                       const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->column = column;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

int nsl_column_of(size_t offset)
{
    return offset >= (size_t)INT_MAX ? INT_MAX : (int)offset + 1;
}

const char *nsl_describe_byte(const unsigned char *s, size_t len, size_t i,
                              const char *at_end, char buf[16])
{
    if (i >= len)
        return at_end;
    if (s[i] >= 0x20 && s[i] < 0x7F)
        snprintf(buf, 16, "'%c'", s[i]);
    else
        snprintf(buf, 16, "byte 0x%02X", s[i]);
    return buf;
}
