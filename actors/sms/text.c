#include "actors/sms/text.h"

#include <stdint.h>

const char *sgw_encoding_name(sgw_encoding e) { return e == SGW_ENC_UCS2 ? "UCS2" : "GSM7"; }

/* Decode one code point at s (n bytes left); returns its length, 0 if invalid. */
static int text_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int len;
    uint32_t c, min;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, c = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, c = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)len > n)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Septets a code point costs in GSM-7: 1 basic, 2 extension, 0 neither. */
static int text_gsm_cost(uint32_t c)
{
    if (c == '\n' || c == '\r')
        return 1;
    if (c >= 0x20 && c <= 0x7e) {
        switch (c) {
        case '^': case '{': case '}': case '\\': case '[': case '~': case ']': case '|':
            return 2;
        case '`':
            return 0;
        default:
            return 1;
        }
    }
    switch (c) {
    case 0x0c:  /* form feed */
    case 0x20ac: /* euro sign */
        return 2;
    case 0xa1: case 0xa3: case 0xa4: case 0xa5: case 0xa7: case 0xbf: /* ¡ £ ¤ ¥ § ¿ */
    case 0xc4: case 0xc5: case 0xc6: case 0xc7: case 0xc9: case 0xd1: /* Ä Å Æ Ç É Ñ */
    case 0xd6: case 0xd8: case 0xdc: case 0xdf: /* Ö Ø Ü ß */
    case 0xe0: case 0xe4: case 0xe5: case 0xe6: case 0xe8: case 0xe9: /* à ä å æ è é */
    case 0xec: case 0xf1: case 0xf2: case 0xf6: case 0xf8: case 0xf9: case 0xfc: /* ì ñ ò ö ø ù ü */
    case 0x393: case 0x394: case 0x398: case 0x39b: case 0x39e: case 0x3a0: /* Γ Δ Θ Λ Ξ Π */
    case 0x3a3: case 0x3a6: case 0x3a8: case 0x3a9: /* Σ Φ Ψ Ω */
        return 1;
    default:
        return 0;
    }
}

sgw_err sgw_text_analyze(const char *utf8, size_t len, sgw_text_info *out)
{
    const unsigned char *s = (const unsigned char *)utf8;
    int cps = 0, septets = 0, utf16 = 0, gsm = 1;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int n = text_decode(s + i, len - i, &c);
        if (!n)
            return SGW_EINVAL;
        i += (size_t)n;
        cps++;
        int cost = text_gsm_cost(c);
        if (!cost)
            gsm = 0;
        septets += cost;
        utf16 += c >= 0x10000 ? 2 : 1;
    }
    out->code_points = cps;
    out->encoding = gsm ? SGW_ENC_GSM7 : SGW_ENC_UCS2;
    out->units = gsm ? septets : utf16;
    int single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    if (out->units == 0) {
        out->segments = 0;
        return SGW_OK;
    }
    if (out->units <= single) {
        out->segments = 1;
        return SGW_OK;
    }
    /* fill segments; a 2-unit character that does not fit starts the next */
    int segs = 1, fill = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c = 0;
        int k = text_decode(s + i, len - i, &c);
        if (k <= 0)
            break; /* validated before; never loop on a bad byte */
        i += (size_t)k;
        int cost = gsm ? text_gsm_cost(c) : (c >= 0x10000 ? 2 : 1);
        if (fill + cost > part) {
            segs++;
            fill = 0;
        }
        fill += cost;
    }
    out->segments = segs;
    return SGW_OK;
}
