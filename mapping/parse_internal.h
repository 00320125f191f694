/* Private to mapping/: helpers shared by the parsers for error reports. */
#ifndef NSL_PARSE_INTERNAL_H
#define NSL_PARSE_INTERNAL_H

#include <stddef.h>

/* 1-based column of a byte offset, saturating for absurdly long input. */
int nsl_column_of(size_t offset);

/* "'x'" for a printable byte, "byte 0xNN" otherwise, at_end past the text. */
const char *nsl_describe_byte(const unsigned char *s, size_t len, size_t i,
                              const char *at_end, char buf[16]);

#endif
