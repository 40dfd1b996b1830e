#include "bus/util.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t sgw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sgw_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sgw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sgw_hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

sgw_err sgw_random_id(char *out, size_t outsz, const char *prefix, int nhex)
{
    size_t plen = strlen(prefix);
    unsigned char raw[64];
    if (nhex <= 0 || nhex > 128 || plen + (size_t)nhex + 1 > outsz)
        return SGW_EINVAL;
    if (RAND_bytes(raw, (nhex + 1) / 2) != 1)
        return SGW_EIO;
    char hex[130];
    sgw_hex(hex, raw, (size_t)(nhex + 1) / 2);
    memcpy(out, prefix, plen);
    memcpy(out + plen, hex, (size_t)nhex);
    out[plen + (size_t)nhex] = '\0';
    return SGW_OK;
}

void sgw_sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    sgw_hex(out, md, 32);
}

int sgw_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int sgw_id_valid(const char *s, const char *prefix, int nhex)
{
    size_t plen = strlen(prefix);
    if (!s || strncmp(s, prefix, plen) != 0)
        return 0;
    s += plen;
    for (int i = 0; i < nhex; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[nhex] == '\0';
}

void sgw_time_format(char out[32], int64_t ms)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

sgw_err sgw_time_parse(const char *s, int64_t *ms_out)
{
    int Y, M, D, h, m, sec, ms = 0;
    if (!s || strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' ||
        !digits(s + 5, 2, &M) || s[7] != '-' || !digits(s + 8, 2, &D) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' || !digits(s + 17, 2, &sec))
        return SGW_EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        int n = 0, scale = 100;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (n < 3) { ms += (*p - '0') * scale; scale /= 10; }
            n++, p++;
        }
        if (n == 0)
            return SGW_EINVAL;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return SGW_EINVAL;
        off = (oh * 60 + om) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return SGW_EINVAL;
    }
    if (*p != '\0' || M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || sec > 60)
        return SGW_EINVAL;
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (D > mdays[M - 1] + (M == 2 && leap))
        return SGW_EINVAL;
    /* days from civil (Howard Hinnant's algorithm) */
    int y = Y - (M <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t t = ((days * 24 + h) * 60 + m) * 60 + (sec > 59 ? 59 : sec);
    *ms_out = (t - (int64_t)off * 60) * 1000 + ms;
    return SGW_OK;
}
