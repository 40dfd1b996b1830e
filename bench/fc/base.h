/*
 * bench/fc/base.h — fakecarrier: includes, constants, small utilities
 * (clocks, randomness, logging, ISO times, phone numbers, text lengths).
 *
 * The fake carrier is one program (bench/fakecarrier.c); its parts live in
 * the headers of bench/fc/ and are included once, in order, by that file
 * (CMake builds each C file of bench/ as its own program, so the parts are
 * headers). Every function here is static.
 */
#ifndef FC_BASE_H
#define FC_BASE_H

#include <arpa/inet.h>
#include <civetweb.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FC_PHONE 24          /* "+" and up to 15 digits, with room */
#define FC_ID 24             /* extension and account ids */
#define FC_MAX_TO 10         /* recipients of one SMS */
#define FC_MAX_TEXT 1000     /* UTF-16 units, as RingCentral counts them */
#define FC_MAX_BODY (1 << 20) /* request bodies we read */
#define FC_MSG_ID_BASE 1000000001LL
#define FC_MAX_SUBS_PER_EXT 30
#define FC_WEBHOOK_MAX_TTL 315360000LL /* 10 years, RingCentral's WebHook maximum */
#define FC_WEBHOOK_DEFAULT_TTL 604800LL
#define FC_CODE_TTL_S 60        /* authorization codes */

static int fc_verbose;

/* ------------------------------------------------------------ clocks */

static int64_t fc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t fc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2024-01-31T12:34:56.789Z" */
static void fc_iso(int64_t wall_ms, char out[32])
{
    time_t s = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(wall_ms % 1000));
}

/* Parse "2024-01-31T12:34:56[.789]Z" (or without the zone); -1 if bad. */
static int64_t fc_parse_iso(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        while (digits < 3) {
            ms *= 10;
            digits++;
        }
    }
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* ------------------------------------------------------------ logging */

static void fc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fc_log(const char *fmt, ...)
{
    char ts[32], line[1024];
    fc_iso(fc_wall_ms(), ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s fakecarrier: %s\n", ts, line);
}

/* ------------------------------------------------------------ randomness */

/* Identifiers come from OpenSSL; probabilities and jitter from a fast
 * per-thread generator seeded from OpenSSL. */
static void fc_random_bytes(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        /* never expected; fall back to something that still differs */
        unsigned char *b = buf;
        uint64_t x = (uint64_t)fc_wall_ms() ^ ((uint64_t)(uintptr_t)buf << 17);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
}

static void fc_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    fc_random_bytes(b, nbytes);
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * nbytes] = 0;
}

/* A version 4 UUID: 36 characters. */
static void fc_uuid(char out[40])
{
    unsigned char b[16];
    fc_random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static _Thread_local uint64_t fc_rng_state;

static uint64_t fc_rand64(void)
{
    if (fc_rng_state == 0) {
        while (fc_rng_state == 0)
            fc_random_bytes(&fc_rng_state, sizeof fc_rng_state);
    }
    uint64_t x = fc_rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    fc_rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, 1). */
static double fc_rand01(void)
{
    return (double)(fc_rand64() >> 11) / (double)(1ULL << 53);
}

/* ------------------------------------------------------------ text */

/* +, a non-zero digit, then 6 to 14 more digits. */
static int fc_is_e164(const char *s)
{
    if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
        return 0;
    size_t n = 0;
    for (const char *p = s + 1; *p; p++, n++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return n >= 7 && n <= 15;
}

/* Length in UTF-16 code units of valid UTF-8 (jansson has validated it). */
static size_t fc_utf16_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) == 0x80)
            continue;        /* continuation byte */
        n += (*p >= 0xf0) ? 2 : 1; /* 4-byte sequences are surrogate pairs */
    }
    return n;
}

/* SMS segments: GSM-7 when the text is plain ASCII (an approximation),
 * otherwise UCS-2. */
static int fc_segments(const char *s)
{
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80) {
            ascii = 0;
            break;
        }
    size_t n = fc_utf16_len(s);
    if (ascii)
        return n <= 160 ? 1 : (int)((n + 152) / 153);
    return n <= 70 ? 1 : (int)((n + 66) / 67);
}

static uint64_t fc_fnv1a(uint64_t h, const char *s)
{
    if (!h)
        h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Copy with truncation; always terminated. */
static void fc_copy(char *dst, size_t cap, const char *src)
{
    if (!cap)
        return;
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
}

/* Base64 decode (standard alphabet); returns the length or -1. */
static int fc_b64decode(const char *in, unsigned char *out, size_t cap)
{
    size_t n = strlen(in);
    if (n == 0 || n % 4 != 0 || (n / 4) * 3 > cap)
        return -1;
    int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (len < 0)
        return -1;
    if (in[n - 1] == '=')
        len--;
    if (in[n - 2] == '=')
        len--;
    return len;
}

/* Strict non-negative integer; -1 when it is not one. */
static long long fc_parse_uint(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0 || !isdigit((unsigned char)s[0]))
        return -1;
    return v;
}

#endif
