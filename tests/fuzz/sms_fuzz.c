/*
 * tests/fuzz/sms_fuzz.c — the pure helpers behind a send, on any bytes:
 * GSM-7 / UCS-2 segmenting (actors/sms/text.c), E.164 numbers, countries
 * and sender IDs (actors/sms/phone.c), RFC 3339 sendAt (bus/util.c) and
 * templates (actors/sms/template.c: placeholders of any body, as POST
 * /v1/templates takes it, and rendering). send_fuzz reaches these only
 * through a JSON body and the store's fixed templates; here every byte is
 * theirs.
 */
#include <string.h>

#include "actors/sms/phone.h"
#include "actors/sms/template.h"
#include "actors/sms/text.h"
#include "bus/util.h"
#include "tests/fuzz/fuzz.h"

static void text(const char *s, size_t n)
{
    sgw_text_info ti;
    if (sgw_text_analyze(s, n, &ti) != SGW_OK)
        return;
    FUZZ_CHECK(ti.code_points >= 0 && (size_t)ti.code_points <= n);
    if (ti.code_points == 0) {
        FUZZ_CHECK(ti.units == 0 && ti.segments == 0);
        return;
    }
    int single = ti.encoding == SGW_ENC_GSM7 ? 160 : 70;
    int part = ti.encoding == SGW_ENC_GSM7 ? 153 : 67;
    /* GSM-7: 1 or 2 septets a character; UCS-2: 1 or 2 UTF-16 units */
    FUZZ_CHECK(ti.units >= ti.code_points && ti.units <= 2 * ti.code_points);
    if (ti.units <= single) {
        FUZZ_CHECK(ti.segments == 1);
    } else {
        /* full parts, less one unit where a pair did not fit */
        FUZZ_CHECK(ti.segments >= (ti.units + part - 1) / part);
        FUZZ_CHECK(ti.segments <= (ti.units + part - 2) / (part - 1));
    }
}

static void phone(const char *s)
{
    if (sgw_phone_is_e164(s)) {
        size_t n = strlen(s);
        FUZZ_CHECK(n >= 9 && n <= 16 && s[0] == '+');
        const char *cc = sgw_phone_country(s);
        if (cc) {
            FUZZ_CHECK(sgw_country_valid(cc));
            const char *code = sgw_country_calling_code(cc);
            FUZZ_CHECK(code && strncmp(s + 1, code, strlen(code)) == 0);
        }
    } else {
        FUZZ_CHECK(sgw_phone_country(s) == NULL);
    }
    if (sgw_sender_id_valid(s))
        FUZZ_CHECK(strlen(s) >= 1 && strlen(s) <= 11 && !sgw_phone_is_e164(s));
    if (sgw_country_valid(s))
        FUZZ_CHECK(strlen(s) == 2);
}

static void when(const char *s)
{
    int64_t ms, again;
    if (sgw_time_parse(s, &ms) != SGW_OK)
        return;
    /* years 0000-9999 and a zone of at most 23:59 */
    FUZZ_CHECK(ms >= -62167219200000LL - 86400000LL && ms <= 253402300800000LL + 86400000LL);
    if (ms < 0 || ms >= 253402300800000LL) /* formatted as 0001-9999 only */
        return;
    char out[32];
    sgw_time_format(out, ms);
    FUZZ_CHECK(sgw_time_parse(out, &again) == SGW_OK);
    FUZZ_CHECK(again == ms);
}

static void template(const char *s)
{
    json_t *names = NULL;
    char why[128], bad[SGW_TEMPLATE_NAME_MAX + 1];
    char *out = NULL;
    json_t *vars = json_object();
    FUZZ_CHECK(vars != NULL);
    if (sgw_template_variables(s, &names, why, sizeof why) != SGW_OK) {
        /* a stored body never has these; render keeps them as text */
        sgw_err rv = sgw_template_render(s, vars, &out, bad);
        FUZZ_CHECK(rv == SGW_OK || rv == SGW_ENOENT);
        free(out);
        json_decref(vars);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        FUZZ_CHECK(name && name[0] && strlen(name) <= SGW_TEMPLATE_NAME_MAX);
        json_object_set_new(vars, name, i % 2 ? json_integer((json_int_t)i) : json_string("v"));
    }
    FUZZ_CHECK(sgw_template_render(s, vars, &out, bad) == SGW_OK);
    FUZZ_CHECK(out != NULL);
    free(out);
    out = NULL;
    if (json_array_size(names) > 0) {
        /* without the first variable: that one is named missing */
        const char *first = json_string_value(json_array_get(names, 0));
        json_object_del(vars, first);
        FUZZ_CHECK(sgw_template_render(s, vars, &out, bad) == SGW_ENOENT);
        FUZZ_CHECK(strcmp(bad, json_string_value(json_array_get(names, 0))) == 0);
        FUZZ_CHECK(out == NULL);
        /* a value that is neither string nor number */
        json_object_set_new(vars, json_string_value(json_array_get(names, 0)), json_true());
        FUZZ_CHECK(sgw_template_render(s, vars, &out, bad) == SGW_EINVAL);
    }
    json_decref(names);
    json_decref(vars);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    text((const char *)data, size);
    char *s = malloc(size + 1); /* the C-string helpers: cut at the first NUL */
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    phone(s);
    when(s);
    template(s);
    free(s);
    return 0;
}
