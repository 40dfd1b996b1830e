/*
 * tests/fuzz/rc_fuzz.c — RingCentral's answers as the adapter reads them
 * (transport/rc_parse.c, called by transport/ringcentral.c): any body as an
 * error, a token answer, a phone-number page, a send's answer and a
 * message-store record. The RingCentral notification (webhook) body and
 * Twilio's callbacks are fuzzed by webhook_fuzz.c.
 */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "transport/rc_parse.h"

static int numbers_seen;

static int number(void *ctx, const char *phone, const char *ext, unsigned feat)
{
    (void)ctx;
    FUZZ_CHECK(phone && ext && ext[0] && strlen(ext) < 24);
    FUZZ_CHECK((feat & ~(unsigned)(SGW_RC_FEAT_SMS | SGW_RC_FEAT_A2P)) == 0);
    return ++numbers_seen < 1000; /* the adapter stops when memory does */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1); /* the adapter's answers are NUL-terminated */
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';

    char code[64], msg[200];
    sgw_rc_error_text(body, code, sizeof code, msg, sizeof msg);
    FUZZ_CHECK(strlen(code) < sizeof code && msg[0]);

    const int64_t now = 1795500000000LL; /* 2026-11-24 */
    sgw_rc_token t;
    if (sgw_rc_token_parse(body, now, &t)) {
        const int64_t last = now + SGW_RC_TTL_MAX_S * 1000;
        FUZZ_CHECK(t.access && t.exp_ms > now && t.exp_ms <= last);
        FUZZ_CHECK(t.refresh_exp_ms == 0 ||
                   (t.refresh && t.refresh_exp_ms > now && t.refresh_exp_ms <= last));
    } else {
        FUZZ_CHECK(!t.access && !t.refresh);
    }
    FUZZ_CHECK(strlen(t.owner) < sizeof t.owner && (t.has_owner || !t.owner[0]));
    sgw_rc_token_wipe(&t);
    FUZZ_CHECK(!t.access && !t.refresh);

    numbers_seen = 0;
    (void)sgw_rc_numbers_page(body, number, NULL);

    char pmid[64];
    sgw_rc_message_id(body, pmid);
    FUZZ_CHECK(strlen(pmid) < sizeof pmid);

    char why[160] = "";
    int v = sgw_rc_message_status(body, why, sizeof why);
    FUZZ_CHECK(v >= -1 && v <= 1);
    FUZZ_CHECK(v >= 0 || strncmp(why, "RingCentral reports ", 20) == 0);

    free(body);
    return 0;
}
