/*
 * tests/fuzz/msg_fuzz.c — the bus's msgpack decoders on any bytes: the
 * envelope (bus/msg.c sgw_msg_decode), a list body (actors/pipeline.c
 * sgw_list_next) and its items as message records (store/sms.c
 * sgw_sms_decode, also what the store reads back) and provider outcomes
 * (sgw_outcome_decode). Everything decoded must encode again and decode to
 * the same values.
 */
#include <string.h>

#include "actors/actors.h"
#include "bus/msg.h"
#include "store/sms.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static void envelope(const void *data, size_t size, sgw_msg *m)
{
    if (sgw_msg_decode(data, size, m) != SGW_OK)
        return;
    FUZZ_CHECK((unsigned)m->type < SGW_MSG_TYPE_MAX);
    FUZZ_CHECK(memchr(m->id, '\0', sizeof m->id) && memchr(m->tenant, '\0', sizeof m->tenant) &&
               memchr(m->app, '\0', sizeof m->app));
    FUZZ_CHECK(!m->body || ((const char *)m->body >= (const char *)data &&
                            (const char *)m->body + m->body_len <= (const char *)data + size));
    FUZZ_CHECK(!m->reply || ((const char *)m->reply >= (const char *)data &&
                             (const char *)m->reply + m->reply_len <= (const char *)data + size));
    void *buf;
    size_t len;
    sgw_msg d;
    FUZZ_CHECK(sgw_msg_encode(m, &buf, &len) == SGW_OK);
    FUZZ_CHECK(sgw_msg_decode(buf, len, &d) == SGW_OK);
    FUZZ_CHECK(d.type == m->type && strcmp(d.id, m->id) == 0 &&
               strcmp(d.tenant, m->tenant) == 0 && strcmp(d.app, m->app) == 0 &&
               d.attempt == m->attempt && d.code == m->code && d.flags == m->flags &&
               d.created_ms == m->created_ms && d.sent_ms == m->sent_ms &&
               d.due_ms == m->due_ms && d.body_len == m->body_len &&
               d.reply_len == m->reply_len && (!d.body) == (!m->body) &&
               (!d.reply) == (!m->reply));
    FUZZ_CHECK(!m->body_len || memcmp(d.body, m->body, m->body_len) == 0);
    FUZZ_CHECK(!m->reply_len || memcmp(d.reply, m->reply, m->reply_len) == 0);
    free(buf);
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void record(const void *data, size_t size)
{
    sgw_sms s, d;
    if (sgw_sms_decode(data, size, &s) != SGW_OK)
        return;
    FUZZ_CHECK(s.nattempts >= 0 && s.nevents >= 0);
    void *buf;
    size_t len;
    FUZZ_CHECK(sgw_sms_encode(&s, &buf, &len) == SGW_OK);
    FUZZ_CHECK(sgw_sms_decode(buf, len, &d) == SGW_OK);
    FUZZ_CHECK(strcmp(d.id, s.id) == 0 && strcmp(d.to, s.to) == 0 &&
               strcmp(d.from, s.from) == 0 && d.status == s.status &&
               d.segments == s.segments && d.nattempts == s.nattempts &&
               d.nevents == s.nevents && d.due_ms == s.due_ms &&
               d.charge_wallet == s.charge_wallet && d.refunded == s.refunded);
    /* a string with a NUL inside is cut there: compare as C strings */
    FUZZ_CHECK(same_str(d.body, s.body) && same_str(d.user_id, s.user_id) &&
               same_str(d.error, s.error));
    for (int i = 0; i < s.nattempts; i++)
        FUZZ_CHECK(same_str(d.attempts[i].error_message, s.attempts[i].error_message) &&
                   d.attempts[i].finished_ms == s.attempts[i].finished_ms);
    /* what the record feeds: the event JSON and the route index */
    char *ev = sgw_event_json(&s);
    free(ev);
    sgw_route r = { .n = 3, .name = { "sim", "ringcentral", "twilio" } };
    int k = sgw_route_start(&s, &r);
    FUZZ_CHECK(k >= 0 && k <= 2);
    free(buf);
    sgw_sms_clear(&d);
    sgw_sms_clear(&s);
}

static void outcome(const void *data, size_t size)
{
    sgw_tr_outcome o, d;
    char prov[24], prov2[24];
    if (sgw_outcome_decode(data, size, &o, prov) != SGW_OK) {
        FUZZ_CHECK(o.body == NULL);
        return;
    }
    FUZZ_CHECK(o.result >= SGW_SEND_OK && o.result <= SGW_SEND_REJECTED);
    FUZZ_CHECK(memchr(prov, '\0', sizeof prov) != NULL);
    void *buf;
    size_t len;
    FUZZ_CHECK(sgw_outcome_encode(&o, prov, &buf, &len) == SGW_OK);
    FUZZ_CHECK(sgw_outcome_decode(buf, len, &d, prov2) == SGW_OK);
    FUZZ_CHECK(d.kind == o.kind && d.result == o.result && d.attempt == o.attempt &&
               strcmp(d.id, o.id) == 0 && strcmp(prov, prov2) == 0 &&
               d.retry_after_ms == o.retry_after_ms && strcmp(d.from, o.from) == 0 &&
               d.flags == o.flags);
    FUZZ_CHECK(same_str(d.body, o.body));
    free(buf);
    free(d.body);
    free(o.body);
}

/* A list body: each item as a record and as an outcome. */
static void list(const void *body, size_t len)
{
    size_t off = 0, ilen, total = 0;
    const void *item;
    int n = 0;
    while (sgw_list_next(body, len, &off, &item, &ilen)) {
        FUZZ_CHECK((const char *)item >= (const char *)body &&
                   (const char *)item + ilen <= (const char *)body + len && off <= len);
        total += ilen + 5;
        record(item, ilen);
        outcome(item, ilen);
        n++;
    }
    FUZZ_CHECK(n == 0 || total + 5 == off);
}

/* ---------------------------------------------------------------- seeds */

/* SGW_FUZZ_SEEDS=dir ./msg_fuzz writes the seed corpus (what the encoders
 * make: tests/fuzz/corpus/msg) into dir and exits. */
static void seed(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "msg_fuzz: cannot write %s\n", path);
        exit(1);
    }
}

static void seed_msg(const char *dir, const char *name, sgw_msg *m)
{
    void *buf;
    size_t len;
    if (sgw_msg_encode(m, &buf, &len) != SGW_OK)
        exit(1);
    seed(dir, name, buf, len);
    free(buf);
}

static void write_seeds(const char *dir)
{
    static const char json[] = "{\"to\":\"+15559876543\",\"from\":\"+15551234567\","
                               "\"body\":\"Your verification code is 123456\"}";
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_SUBMIT, "req_0123456789abcdef");
    snprintf(m.tenant, sizeof m.tenant, "tenant_0123456789abcdef");
    snprintf(m.app, sizeof m.app, "app_0123456789abcdef");
    m.flags = SGW_SUBMIT_TEST;
    m.created_ms = m.sent_ms = 1795500000000LL;
    m.body = json;
    m.body_len = sizeof json - 1;
    m.reply = "\x80\x00\x00\x01";
    m.reply_len = 4;
    seed_msg(dir, "submit", &m);
    sgw_msg_init(&m, SGW_MSG_REPLY, "req_0123456789abcdef");
    m.code = 202;
    m.created_ms = 1795500000001LL;
    m.body = "{\"messageId\":\"msg_0123456789ab\",\"status\":\"queued\"}";
    m.body_len = strlen(m.body);
    seed_msg(dir, "reply", &m);

    /* records: a plain queued one, and one with every part */
    sgw_sms a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    snprintf(a.id, sizeof a.id, "msg_0123456789ab");
    snprintf(a.tenant, sizeof a.tenant, "tenant_0123456789abcdef");
    snprintf(a.to, sizeof a.to, "+15559876543");
    snprintf(a.from, sizeof a.from, "+15551234567");
    sgw_sms_set_str(&a.body, "Your verification code is 123456");
    a.segments = 1;
    sgw_sms_set_status(&a, SGW_ST_QUEUED, 1795500000000LL);
    a.due_kind = SGW_DUE_LEASE;
    a.due_ms = 1795500030000LL;
    sgw_sms_copy(&b, &a);
    snprintf(b.id, sizeof b.id, "msg_ba9876543210");
    sgw_sms_set_str(&b.body, "\xc2\xa1Hola \xf0\x9f\x98\x80 \xe2\x82\xac" "5");
    sgw_sms_set_str(&b.user_id, "user-42");
    sgw_sms_set_str(&b.error, "RingCentral reports DeliveryFailed: SMS-CAR-411");
    snprintf(b.error_code, sizeof b.error_code, "undelivered");
    b.encoding = 1;
    b.test = 1;
    b.cost_amount = 79;
    snprintf(b.currency, sizeof b.currency, "USD");
    snprintf(b.provider, sizeof b.provider, "ringcentral");
    snprintf(b.provider_msg_id, sizeof b.provider_msg_id, "320270670010");
    b.charge_quota = 1;
    b.charge_month = 202611;
    sgw_attempt at = { .provider = "sim", .started_ms = 1, .finished_ms = 2, .ok = 0,
                       .error_code = "provider_error", .error_message = "HTTP 503" };
    sgw_sms_add_attempt(&b, &at);
    at.ok = 1;
    at.error_message = NULL;
    snprintf(at.provider, sizeof at.provider, "ringcentral");
    sgw_sms_add_attempt(&b, &at);
    sgw_sms_set_status(&b, SGW_ST_SENDING, 1795500000100LL);
    sgw_sms_set_status(&b, SGW_ST_FAILED, 1795500000200LL);
    void *buf;
    size_t len;
    sgw_list l = { 0 };
    sgw_sms *recs[2] = { &a, &b };
    for (int i = 0; i < 2; i++) {
        if (sgw_sms_encode(recs[i], &buf, &len) != SGW_OK)
            exit(1);
        seed(dir, i ? "record_full" : "record", buf, len);
        sgw_list_add(&l, buf, len);
        free(buf);
    }
    /* a list body as sgw_list_send frames it: array 32 of bin 32 items */
    char *body = malloc(l.len + 5);
    if (!body)
        exit(1);
    memcpy(body, "\xdd\x00\x00\x00\x02", 5);
    memcpy(body + 5, l.buf, l.len);
    sgw_msg_init(&m, SGW_MSG_DISPATCH, "");
    m.attempt = 2;
    m.created_ms = 1795500000002LL;
    m.body = body;
    m.body_len = l.len + 5;
    seed_msg(dir, "dispatch_list", &m);
    free(body);
    sgw_list_free(&l);
    sgw_sms_clear(&a);
    sgw_sms_clear(&b);

    /* outcomes: a send, and an inbound SMS */
    sgw_tr_outcome o;
    memset(&o, 0, sizeof o);
    o.kind = SGW_TR_SEND_DONE;
    snprintf(o.id, sizeof o.id, "msg_0123456789ab");
    o.result = SGW_SEND_RETRY;
    snprintf(o.error_code, sizeof o.error_code, "provider_rate_limited");
    snprintf(o.error_message, sizeof o.error_message, "RingCentral rate limit reached");
    o.retry_after_ms = 60000;
    o.attempt = 2;
    if (sgw_outcome_encode(&o, "ringcentral", &buf, &len) != SGW_OK)
        exit(1);
    seed(dir, "outcome", buf, len);
    sgw_list_add(&l, buf, len);
    free(buf);
    memset(&o, 0, sizeof o);
    o.kind = SGW_TR_INBOUND;
    snprintf(o.provider_msg_id, sizeof o.provider_msg_id, "606090030016");
    snprintf(o.tenant, sizeof o.tenant, "tenant_0123456789abcdef");
    snprintf(o.from, sizeof o.from, "+14157809227");
    snprintf(o.to, sizeof o.to, "+16508974563");
    o.body = "STOP";
    if (sgw_outcome_encode(&o, "ringcentral", &buf, &len) != SGW_OK)
        exit(1);
    seed(dir, "outcome_inbound", buf, len);
    sgw_list_add(&l, buf, len);
    free(buf);
    body = malloc(l.len + 5);
    if (!body)
        exit(1);
    memcpy(body, "\xdd\x00\x00\x00\x02", 5);
    memcpy(body + 5, l.buf, l.len);
    sgw_msg_init(&m, SGW_MSG_RESULT, "");
    m.code = SGW_RES_OUTCOME;
    m.attempt = 2;
    m.created_ms = 1795500000003LL;
    m.body = body;
    m.body_len = l.len + 5;
    seed_msg(dir, "result_list", &m);
    free(body);
    sgw_list_free(&l);
    sgw_msg_init(&m, SGW_MSG_EVENT, "msg_0123456789ab");
    m.created_ms = 1795500000004LL;
    m.due_ms = -1;
    m.body = "{\"type\":\"sms_status\",\"status\":\"delivered\"}";
    m.body_len = strlen(m.body);
    seed_msg(dir, "event", &m);
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("SGW_FUZZ_SEEDS");
    if (dir)
        write_seeds(dir);
    return 0;
}

/* ---------------------------------------------------------------- target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sgw_msg m;
    envelope(data, size, &m);
    if (m.body)
        list(m.body, m.body_len);
    list(data, size);
    record(data, size);
    outcome(data, size);
    return 0;
}
