#ifndef PGREFLEX_CRE2_H
#define PGREFLEX_CRE2_H

// A C face on RE2 for Swift: compile a pattern once, match it linearly in the input.
// Only PGReflexRouter uses it.

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pgreflex_re2 pgreflex_re2;

/// Compiles `pattern` (UTF-8, `length` bytes) with RE2's default syntax and a bounded program
/// size. On failure returns NULL and writes RE2's message, NUL-terminated and cut to fit, into
/// `error` (`error_capacity` bytes).
pgreflex_re2 *pgreflex_re2_compile(const char *pattern, size_t length, char *error, size_t error_capacity);

/// 1 when the pattern matches anywhere in `text` (CEL's `matches`), 0 otherwise.
int pgreflex_re2_partial_match(const pgreflex_re2 *re, const char *text, size_t length);

void pgreflex_re2_free(pgreflex_re2 *re);

#ifdef __cplusplus
}
#endif

#endif
