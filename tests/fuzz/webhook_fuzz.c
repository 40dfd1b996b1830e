/*
 * tests/fuzz/webhook_fuzz.c — the bodies the providers post to smsgw's
 * webhooks, as the handlers read them. Every input is given to both:
 *
 * Twilio (http/h_twwebhook.c): the application/x-www-form-urlencoded body
 * of a status callback or an inbound SMS, parsed by form_parse /
 * form_decode and looked up with form_get; the parsed form is signed with
 * sgw_twilio_signature (transport/twilio.c) with a fixed token and URL and
 * checked as h_tw_webhook checks X-Twilio-Signature. A form with a valid
 * MessageSid then goes to twwh_inbound (Body) or twwh_status
 * (MessageStatus / SmsStatus), as h_tw_webhook dispatches it.
 *
 * RingCentral (http/h_rcwebhook.c): a notification body, parsed as
 * h_rc_webhook parses it (json_loadb with JSON_REJECT_DUPLICATES, an
 * object), then given to rcwh_notification, the handler's part after its
 * Verification-Token and tenant look-up (which need a live civetweb
 * connection and a stored subscription): the envelope's checks, then
 * rcwh_inbound or rcwh_store_event by the event filter.
 *
 * Both files are compiled here (their statics are then reachable; the
 * library's copies are not linked). The handlers answer through a request
 * without a connection (civetweb's mg_write drops what it is given; the
 * status is still recorded in r->status), and their actors are never
 * reached: both webhook peers are marked open on an invalid socket, so a
 * request that passes every check is answered 503 at once.
 */
#include "http/h_rcwebhook.c"
#include "http/h_twwebhook.c"

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define TOKEN "0123456789abcdef0123456789abcdef"
#define URL "https://gw.example.com/v1/webhooks/twilio/tenant_0123456789abcdef"
#define TENANT "tenant_0123456789abcdef"

static sgw_app app;
static sgw_http srv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sgw_log_setup(SGW_LOG_ERROR, 0); /* the 503s' warnings, once per input */
    srv.deps.app = &app;
    srv.request_timeout_ms = 100;
    nng_socket none = NNG_SOCKET_INITIALIZER; /* id 0: never a socket */
    rcwh_peer.sock = none;
    rcwh_peer.open = 1;
    twwh_peer.sock = none;
    twwh_peer.open = 1;
    return 0;
}

static void req_init(sgw_req *r, char *body, size_t len)
{
    memset(r, 0, sizeof *r);
    r->srv = &srv;
    r->method = "POST";
    r->path = "/v1/webhooks";
    r->body = body;
    r->body_len = len;
}

/* ---------------------------------------------------------------- Twilio */

static int sig_matches(const char *sig, const char *want)
{
    return strlen(sig) == strlen(want) && sgw_ct_equal(sig, want, strlen(want));
}

static int sign(const twwh_form *f, char out[64])
{
    return sgw_twilio_signature(TOKEN, URL, (const char *const *)f->name,
                                (const char *const *)f->value, f->n, out);
}

/* A form as a client would encode it: every byte of names and values
 * %-escaped (or "+" for a space). Heap. */
static char *form_encode(const twwh_form *f)
{
    size_t cap = 1;
    for (int i = 0; i < f->n; i++)
        cap += 3 * (strlen(f->name[i]) + strlen(f->value[i])) + 2;
    char *out = malloc(cap), *p = out;
    FUZZ_CHECK(out != NULL);
    for (int i = 0; i < f->n; i++) {
        if (i)
            *p++ = '&';
        for (int part = 0; part < 2; part++) {
            const char *s = part ? f->value[i] : f->name[i];
            if (part)
                *p++ = '=';
            for (; *s; s++) {
                if (*s == ' ')
                    *p++ = '+';
                else
                    p += sprintf(p, "%%%02X", (unsigned char)*s);
            }
        }
    }
    *p = '\0';
    FUZZ_CHECK((size_t)(p - out) < cap);
    return out;
}

static void twilio_dispatch(const twwh_form *f, char *body, size_t size)
{
    const char *msid = form_get(f, "MessageSid");
    if (!sgw_twilio_sid_ok(msid, "SM") && !sgw_twilio_sid_ok(msid, "MM"))
        return;
    FUZZ_CHECK(strlen(msid) == 34);
    const char *status = form_get(f, "MessageStatus");
    if (!status)
        status = form_get(f, "SmsStatus");
    const char *text = form_get(f, "Body");
    sgw_req r;
    req_init(&r, body, size);
    if (text) {
        twwh_inbound(&r, TENANT, f, msid);
        int ok = phone_ok(form_get(f, "From")) && phone_ok(form_get(f, "To")) &&
                 strlen(text) <= 6400;
        /* valid: handed to the actor (here: none, 503) */
        FUZZ_CHECK(r.status == (ok ? 503 : 400));
    } else if (status) {
        twwh_status(&r, TENANT, f, msid, status);
        const char *ec = form_get(f, "ErrorCode");
        int final = strcmp(status, "delivered") == 0 || strcmp(status, "undelivered") == 0 ||
                    strcmp(status, "failed") == 0;
        FUZZ_CHECK(r.status == 400 || r.status == 200 || r.status == 503);
        FUZZ_CHECK(r.status != 503 || final);
        FUZZ_CHECK(r.status == 400 || !ec || strspn(ec, "0123456789") == strlen(ec));
        FUZZ_CHECK(!final || r.status != 200);
    }
}

static void twilio(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1); /* the handler's body is a NUL-terminated copy */
    FUZZ_CHECK(body != NULL);
    memcpy(body, data, size);
    body[size] = '\0';

    twwh_form f = { 0 };
    const char *why = NULL;
    int rv = form_parse(body, size, &f, &why);
    FUZZ_CHECK(rv == 0 || rv == -1);
    FUZZ_CHECK(f.n >= 0 && f.n <= TWWH_FIELDS_MAX);
    size_t total = 0;
    for (int i = 0; i < f.n; i++) {
        size_t nl = strlen(f.name[i]), vl = strlen(f.value[i]);
        FUZZ_CHECK(nl >= 1 && nl <= TWWH_NAME_MAX && vl <= TWWH_VALUE_MAX);
        total += nl + vl;
        /* form_get finds the first field of a name */
        int first = 0;
        while (strcmp(f.name[first], f.name[i]) != 0)
            first++;
        FUZZ_CHECK(form_get(&f, f.name[i]) == f.value[first]);
    }
    FUZZ_CHECK(total <= size);
    if (rv != 0) {
        FUZZ_CHECK(why != NULL && why[0]);
        form_free(&f); /* as h_tw_webhook: the fields parsed before the bad one */
        FUZZ_CHECK(f.n == 0);
        free(body);
        return;
    }
    FUZZ_CHECK(form_get(&f, "") == NULL);

    /* the signature h_tw_webhook checks, over the parsed form */
    char want[64], again[64];
    FUZZ_CHECK(sign(&f, want) == 0);
    FUZZ_CHECK(strlen(want) == 28 && want[27] == '=');
    FUZZ_CHECK(sign(&f, again) == 0 && sig_matches(again, want));
    char bad[64];
    memcpy(bad, want, sizeof bad);
    bad[size % 27] = bad[size % 27] == 'A' ? 'B' : 'A';
    FUZZ_CHECK(!sig_matches(bad, want));
    bad[27] = '\0';
    FUZZ_CHECK(!sig_matches(bad, want)); /* a prefix */
    FUZZ_CHECK(!sig_matches("", want));

    /* the same fields re-encoded by a client parse to the same form,
     * which carries the same signature */
    char *enc = form_encode(&f);
    twwh_form g = { 0 };
    const char *why2 = NULL;
    FUZZ_CHECK(form_parse(enc, strlen(enc), &g, &why2) == 0);
    FUZZ_CHECK(g.n == f.n);
    for (int i = 0; i < f.n; i++)
        FUZZ_CHECK(strcmp(g.name[i], f.name[i]) == 0 && strcmp(g.value[i], f.value[i]) == 0);
    FUZZ_CHECK(sign(&g, again) == 0 && sig_matches(again, want));
    form_free(&g);
    free(enc);

    if (f.n > 0) {
        /* a changed value, or the fields in another order when names are
         * distinct (sorted by name: the same) */
        char *old = f.value[0];
        size_t ol = strlen(old);
        char *changed = malloc(ol + 2);
        FUZZ_CHECK(changed != NULL);
        memcpy(changed, old, ol);
        changed[ol] = 'x';
        changed[ol + 1] = '\0';
        f.value[0] = changed;
        FUZZ_CHECK(sign(&f, again) == 0 && !sig_matches(again, want));
        f.value[0] = old;
        free(changed);

        int distinct = 1;
        for (int i = 0; i < f.n && distinct; i++)
            for (int j = i + 1; j < f.n && distinct; j++)
                distinct = strcmp(f.name[i], f.name[j]) != 0;
        if (distinct) {
            twwh_form rev = { .n = f.n };
            for (int i = 0; i < f.n; i++) {
                rev.name[i] = f.name[f.n - 1 - i];
                rev.value[i] = f.value[f.n - 1 - i];
            }
            FUZZ_CHECK(sign(&rev, again) == 0 && sig_matches(again, want));
        }
    }

    twilio_dispatch(&f, body, size);
    form_free(&f);
    FUZZ_CHECK(f.n == 0);
    free(body);
}

/* ---------------------------------------------------------------- RingCentral */

static uint64_t counter(atomic_uint_fast64_t *c) { return (uint64_t)atomic_load(c); }

/* Does the event filter ev (without its query) end with tail? */
static int event_is(const char *ev, const char *tail)
{
    size_t plen = strcspn(ev, "?"), tlen = strlen(tail);
    return plen >= tlen && strncmp(ev + plen - tlen, tail, tlen) == 0;
}

/* What h_rc_webhook does with a notification object (rcwh_notification):
 * the answer's status, with checks of what it was answered for. */
static int rc_notification(json_t *n, char *body, size_t size)
{
    sgw_req r;
    req_init(&r, body, size);
    uint64_t inv = counter(&app.rcwh.invalid), ign = counter(&app.rcwh.ignored);
    rcwh_notification(&r, TENANT, n);
    int st = r.status;
    FUZZ_CHECK(st == 400 || st == 200 || st == 503);
    FUZZ_CHECK((st == 400) == (counter(&app.rcwh.invalid) == inv + 1));
    FUZZ_CHECK((st == 200) == (counter(&app.rcwh.ignored) == ign + 1));
    if (st == 400)
        return st;
    /* past the envelope: string fields of bounded length, a body object, an
     * event filter of the REST API */
    static const char *const fields[] = { "uuid", "subscriptionId", "ownerId", "timestamp" };
    static const size_t maxlen[] = { 128, 128, 64, 64 };
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(n, fields[i]);
        FUZZ_CHECK(!v || (json_is_string(v) && json_string_length(v) <= maxlen[i]));
    }
    const char *ev = json_string_value(json_object_get(n, "event"));
    FUZZ_CHECK(ev && ev[0] && strlen(ev) <= 1024 && strncmp(ev, "/restapi/", 9) == 0);
    json_t *b = json_object_get(n, "body");
    FUZZ_CHECK(json_is_object(b));
    if (event_is(ev, "/message-store/instant")) {
        /* an inbound SMS: a sender, a recipient, a usable id */
        FUZZ_CHECK(phone_of(json_object_get(b, "from")) != NULL);
        FUZZ_CHECK(phone_of(json_array_get(json_object_get(b, "to"), 0)) != NULL);
        json_t *id = json_object_get(b, "id");
        FUZZ_CHECK((json_is_integer(id) && json_integer_value(id) >= 0) ||
                   (json_is_string(id) && json_string_length(id) > 0 &&
                    json_string_length(id) < 64 &&
                    strlen(json_string_value(id)) == json_string_length(id)));
        json_t *s = json_object_get(b, "subject");
        FUZZ_CHECK(!s || (json_is_string(s) && json_string_length(s) <= 16000));
        if (st == 503) {
            const char *t = json_string_value(json_object_get(b, "type"));
            const char *d = json_string_value(json_object_get(b, "direction"));
            FUZZ_CHECK(!t || strcmp(t, "SMS") == 0);
            FUZZ_CHECK(!d || strcmp(d, "Inbound") == 0);
        }
    } else if (event_is(ev, "/message-store")) {
        json_t *c = json_object_get(b, "changes");
        FUZZ_CHECK(!c || json_is_array(c));
    } else {
        FUZZ_CHECK(st == 200); /* ignored: not an event smsgw subscribes to */
    }
    return st;
}

static void ringcentral(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, data, size);
    body[size] = '\0';
    json_error_t jerr;
    json_t *n = json_loadb(body, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!n || !json_is_object(n)) {
        json_decref(n);
        free(body);
        return;
    }
    int st = rc_notification(n, body, size);
    /* the same notification as RingCentral might serialize it: the same answer */
    char *again = json_dumps(n, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(again != NULL);
    json_t *m = json_loads(again, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(m != NULL && json_equal(m, n));
    FUZZ_CHECK(rc_notification(m, again, strlen(again)) == st);
    json_decref(m);
    free(again);
    json_decref(n);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > TWWH_BODY_MAX) /* h_tw_webhook answers 413; http.max_body_bytes is less */
        return 0;
    twilio(data, size);
    ringcentral(data, size);
    return 0;
}
