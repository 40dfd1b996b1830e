/*
 * bus/util.h — small shared helpers: clocks, random ids, hex, hashing,
 * RFC 3339 time. No business here. All functions are thread-safe.
 */
#ifndef SGW_UTIL_H
#define SGW_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "bus/err.h"

/* Wall clock and monotonic clock, in milliseconds. */
int64_t sgw_now_ms(void);
int64_t sgw_mono_ms(void);
int64_t sgw_mono_us(void);  /* monotonic microseconds */

/* Fill out with prefix + nhex random lowercase hex digits (CSPRNG), NUL
 * terminated. out must hold strlen(prefix) + nhex + 1 bytes. */
sgw_err sgw_random_id(char *out, size_t outsz, const char *prefix, int nhex);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void sgw_hex(char *out, const unsigned char *in, size_t n);

/* Hex SHA-256 of data (65 bytes out). */
void sgw_sha256_hex(char out[65], const void *data, size_t len);

/* Constant-time equality of two buffers of the same length. */
int sgw_ct_equal(const void *a, const void *b, size_t len);

/* Does s start with prefix and continue with exactly nhex lowercase hex
 * digits and nothing more? */
int sgw_id_valid(const char *s, const char *prefix, int nhex);

/* ms since the epoch -> "2026-03-01T10:00:00.000Z" (25 bytes out). */
void sgw_time_format(char out[32], int64_t ms);
/* Parse an RFC 3339 time with a zone (Z or +hh:mm); SGW_EINVAL if not. */
sgw_err sgw_time_parse(const char *s, int64_t *ms_out);

#endif
