/*
 * tests/fuzz/send_fuzz.c — POST /v1/sms/send bodies, as the gateway takes
 * them: the HTTP side wraps the raw body in a SUBMIT envelope
 * (http/h_sms.c), the validator decodes it and checks the JSON
 * (actors/validator.c validator_check: fields, E.164, sender IDs, GSM-7 /
 * UCS-2 segments, sendAt, templates rendered from the store), and answers
 * 202 JSON or an error. Each input is checked as a live key's request and
 * as a test key's.
 *
 * The validator's state and validator_check are file-private: this target
 * compiles actors/validator.c itself (the library's copy is then not
 * linked), so it runs the exact code without exposing it. The store is a
 * real one in a temporary folder with one tenant's templates and sender
 * IDs (see setup()). Batch bodies have their own target (batch_fuzz.c).
 */
#include "actors/validator.c"

#include <unistd.h>

#include "actors/sms/phone.h"

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define TENANT "tenant_0123456789abcdef"

static char store_dir[64];
static sgw_store *store;
static sgw_app app;
static validator live, test; /* live: a RingCentral route; test: a test key */
static struct sgw_price prices[2] = { { "US", 79 }, { "GB", 40 } };

static void cleanup(void)
{
    sgw_tmpstore_remove(store_dir, &store);
}

static void put(sgw_doc_kind kind, const char *id, const char *json)
{
    fuzz_put(store, kind, id, json);
}

static void setup(void)
{
    sgw_cfg *cfg = NULL;
    fuzz_store_open(store_dir, sizeof store_dir, "send_fuzz", &cfg, &store);
    atexit(cleanup);
    put(SGW_DOC_TEMPLATE, TENANT "/tpl_00000000000000000000000000000001",
        "{\"id\":\"tpl_00000000000000000000000000000001\",\"tenantId\":\"" TENANT "\","
        "\"slug\":\"otp\",\"body\":\"Your code is {{code}}, {{ name }}. {single} {{code}}\"}");
    put(SGW_DOC_TEMPLATE, TENANT "/tpl_00000000000000000000000000000002",
        "{\"id\":\"tpl_00000000000000000000000000000002\",\"tenantId\":\"" TENANT "\","
        "\"slug\":\"hello\",\"body\":\"\\u00a1Hola {{first_name}} \\ud83d\\ude00 \\u20ac{{amount}}\"}");
    put(SGW_DOC_TEMPLATE, TENANT "/tpl_00000000000000000000000000000003",
        "{\"id\":\"tpl_00000000000000000000000000000003\",\"tenantId\":\"" TENANT "\","
        "\"slug\":\"empty\",\"body\":\"{{x}}\"}");
    fuzz_put_sender_ids(store, TENANT);
    app.store = store;
    app.cfg = cfg;
    validator *vs[2] = { &live, &test };
    for (int i = 0; i < 2; i++) {
        vs[i]->app = &app;
        vs[i]->lease_ms = 30000;
        vs[i]->request_timeout_ms = 10000;
        sgw_accept_rules *r = &vs[i]->rules;
        snprintf(r->live_route, sizeof r->live_route, "%s", i ? "sim" : "ringcentral");
        r->prices = prices;
        r->nprices = 2;
        r->default_price = 5;
        snprintf(r->currency, sizeof r->currency, "USD");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup();
    return 0;
}

/* The HTTP side's envelope, as the validator receives it. */
static void one(validator *self, const uint8_t *data, size_t size, uint32_t flags)
{
    sgw_msg m, d;
    sgw_msg_init(&m, SGW_MSG_SUBMIT, "req_0123456789abcdef");
    snprintf(m.tenant, sizeof m.tenant, "%s", TENANT);
    snprintf(m.app, sizeof m.app, "app_0123456789abcdef");
    m.flags = flags;
    m.created_ms = m.sent_ms = sgw_now_ms();
    m.body = size ? (const void *)data : "";
    m.body_len = size;
    m.reply = "\x80\x00\x00\x01";
    m.reply_len = 4;
    void *buf;
    size_t len;
    FUZZ_CHECK(sgw_msg_encode(&m, &buf, &len) == SGW_OK);
    FUZZ_CHECK(sgw_msg_decode(buf, len, &d) == SGW_OK);
    FUZZ_CHECK(d.type == SGW_MSG_SUBMIT && d.flags == flags && d.body_len == size);
    FUZZ_CHECK(size == 0 || memcmp(d.body, data, size) == 0);

    verdict v = { 0 };
    sgw_sms rec;
    memset(&rec, 0, sizeof rec);
    int64_t unit = -1;
    if (!validator_check(self, &d, &rec, &unit, &v)) {
        FUZZ_CHECK(v.status == 400 || v.status == 500);
        FUZZ_CHECK(v.code && v.code[0]);
        FUZZ_CHECK(memchr(v.error, '\0', sizeof v.error) != NULL && v.error[0]);
        /* the answer the validator sends (validator_error) */
        json_t *o = json_pack("{s:s, s:s}", "error", v.error, "code", v.code);
        FUZZ_CHECK(o != NULL);
        json_decref(o);
        sgw_sms_clear(&rec);
        free(buf);
        return;
    }
    /* accepted: what is stored and answered */
    FUZZ_CHECK(sgw_phone_is_e164(rec.to));
    FUZZ_CHECK(sgw_phone_is_e164(rec.from) || sgw_sender_id_valid(rec.from));
    FUZZ_CHECK(rec.body != NULL);
    sgw_text_info ti;
    FUZZ_CHECK(sgw_text_analyze(rec.body, strlen(rec.body), &ti) == SGW_OK);
    FUZZ_CHECK(ti.code_points >= 1 && ti.code_points <= SGW_ACCEPT_BODY_MAX);
    FUZZ_CHECK(rec.segments == ti.segments && rec.segments >= 1 && rec.encoding == (int)ti.encoding);
    FUZZ_CHECK(!rec.user_id || strlen(rec.user_id) <= SGW_ACCEPT_USER_ID_MAX);
    FUZZ_CHECK(rec.status == (rec.send_at_ms ? SGW_ST_SCHEDULED : SGW_ST_QUEUED));
    FUZZ_CHECK(rec.test == ((flags & SGW_SUBMIT_TEST) != 0));
    FUZZ_CHECK(rec.test ? unit == 0 && rec.cost_amount == 0
                        : unit >= 0 && rec.cost_amount == unit * rec.segments);
    snprintf(rec.id, sizeof rec.id, "msg_0123456789ab");
    char *json = validator_accepted_json(&rec);
    FUZZ_CHECK(json != NULL);
    json_t *o = json_loads(json, 0, NULL);
    FUZZ_CHECK(json_integer_value(json_object_get(o, "segments")) == rec.segments);
    json_decref(o);
    free(json);
    /* the stored record round-trips */
    void *enc;
    size_t enclen;
    sgw_sms back;
    FUZZ_CHECK(sgw_sms_encode(&rec, &enc, &enclen) == SGW_OK);
    FUZZ_CHECK(sgw_sms_decode(enc, enclen, &back) == SGW_OK);
    FUZZ_CHECK(strcmp(back.body, rec.body) == 0 && strcmp(back.to, rec.to) == 0 &&
               strcmp(back.from, rec.from) == 0 && back.segments == rec.segments &&
               back.send_at_ms == rec.send_at_ms && back.cost_amount == rec.cost_amount);
    FUZZ_CHECK((back.user_id == NULL) == (rec.user_id == NULL));
    sgw_sms_clear(&back);
    free(enc);
    sgw_sms_clear(&rec);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 110 * 1024) /* http.max_body_bytes answers 413 before this */
        return 0;
    one(&live, data, size, 0);
    one(&test, data, size, SGW_SUBMIT_TEST);
    return 0;
}
