/*
 * actors/sms/text.h — what an SMS body costs: encoding and segments.
 *
 * GSM-7 (3GPP TS 23.038 default alphabet): each basic character is one
 * septet, each extension-table character (form feed ^ { } \ [ ~ ] | €) two
 * (an escape and the character). A text that fits in 160 septets is one
 * segment; a longer one is split into segments of at most 153 septets, and
 * an escape pair is never split across two segments. Any character outside
 * both tables makes the whole text UCS-2: 70 UTF-16 units in one segment,
 * else segments of at most 67 units, a surrogate pair never split.
 *
 * Pure functions; thread-safe. Used by the validator and template render.
 */
#ifndef SGW_SMS_TEXT_H
#define SGW_SMS_TEXT_H

#include <stddef.h>

#include "bus/err.h"

typedef enum { SGW_ENC_GSM7 = 0, SGW_ENC_UCS2 = 1 } sgw_encoding;

typedef struct sgw_text_info {
    sgw_encoding encoding;
    int code_points;   /* Unicode code points */
    int units;         /* GSM7: septets; UCS2: UTF-16 code units */
    int segments;      /* 0 for an empty text */
} sgw_text_info;

/* Analyse len bytes of UTF-8. SGW_EINVAL if they are not valid UTF-8
 * (overlong forms, surrogates, code points over U+10FFFF, truncation). */
sgw_err sgw_text_analyze(const char *utf8, size_t len, sgw_text_info *out);

/* "GSM7" or "UCS2". */
const char *sgw_encoding_name(sgw_encoding e);

#endif
