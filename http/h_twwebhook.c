/*
 * http/h_twwebhook.c — POST /v1/webhooks/twilio/:tenantId (SPEC section
 * 10): where Twilio posts the status callbacks of the messages smsgw sent
 * for the tenant (the StatusCallback transport/twilio.c gives) and the
 * inbound SMS of the tenant's numbers (their SMS webhook, set by the
 * operator to the webhookUrl that GET .../connections/twilio shows).
 *
 * Checks, in order; a request that fails one changes nothing:
 *   body over TWWH_BODY_MAX                         413 payload_too_large
 *   no X-Twilio-Signature                            401 unauthorized
 *   the tenant unknown, without a Twilio connection,
 *   no public address configured, or the signature
 *   is not base64(HMAC-SHA1(the tenant's auth token,
 *   public base + this path [+ ? query] + the form's
 *   names and values sorted by name))                401 "Invalid X-Twilio-Signature"
 *     (the same answer for all: it does not tell which tenants exist)
 *   not application/x-www-form-urlencoded, a bad
 *   %-escape, a NUL, too many or too long fields     400 validation_error
 *   AccountSid not the connection's, MessageSid not
 *   SM/MM + 32 hex, bad From/To/ErrorCode            400 validation_error
 * Then:
 *   Body present: an inbound SMS. Handed to the twwebhook actor, which
 *     stores it once per MessageSid (`received`, sms_inbound); answered
 *     200 with an empty TwiML <Response/> (text/xml): no reply is sent.
 *   else MessageStatus (or SmsStatus): a status callback. delivered ->
 *     the message becomes delivered; undelivered / failed -> failed with
 *     Twilio's ErrorCode; other statuses change nothing. Answered 200
 *     {accepted, messageId?, reason?}; an unknown MessageSid is accepted:
 *     false (Twilio does not retry callbacks, and it is none of ours).
 * No answer from the actor within http.request_timeout_ms: 503.
 */
#include <ctype.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"
#include "transport/twilio.h"

#define TWWH_BODY_MAX 65536
#define TWWH_FIELDS_MAX 128
#define TWWH_NAME_MAX 64
#define TWWH_VALUE_MAX 8192

static sgw_webhook_peer twwh_peer =
    SGW_WEBHOOK_PEER(SGW_TWWH_REQ_URL, "twwebhook", "Twilio webhook", "twn_");

typedef struct twwh_form {
    int n;
    char *name[TWWH_FIELDS_MAX];
    char *value[TWWH_FIELDS_MAX];
} twwh_form;

static void form_free(twwh_form *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->name[i]);
        free(f->value[i]);
    }
    f->n = 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                            : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* application/x-www-form-urlencoded: "+" is a space, %XX a byte; heap,
 * or NULL if malformed (bad escape, a NUL) or longer than max. */
static char *form_decode(const char *s, size_t n, size_t max)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
                free(out);
                return NULL;
            }
            c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
            i += 2;
        }
        if (c == 0 || k >= max) {
            free(out);
            return NULL;
        }
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return out;
}

/* Parse body into f; 0, or -1 with why. */
static int form_parse(const char *body, size_t len, twwh_form *f, const char **why)
{
    f->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end > i) {
            const char *eq = memchr(body + i, '=', end - i);
            size_t nl = eq ? (size_t)(eq - (body + i)) : end - i;
            if (f->n == TWWH_FIELDS_MAX) {
                *why = "Too many form fields";
                return -1;
            }
            char *name = form_decode(body + i, nl, TWWH_NAME_MAX);
            char *value = eq ? form_decode(eq + 1, (size_t)(body + end - eq - 1), TWWH_VALUE_MAX)
                             : strdup("");
            if (!name || !value || !name[0]) {
                free(name);
                free(value);
                *why = "Malformed form body: every field must be name=value, %-escaped, without "
                       "NUL, names of at most 64 and values of at most 8192 bytes";
                return -1;
            }
            f->name[f->n] = name;
            f->value[f->n++] = value;
        }
        i = end + 1;
    }
    return 0;
}

static const char *form_get(const twwh_form *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    return NULL;
}

/* A phone number or sender: 1-23 of + letters digits and spaces. */
static int phone_ok(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > 23)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '+' && p[i] != ' ')
            return 0;
    return 1;
}

static void twwh_unauthorized(sgw_req *r, const char *tenant, const char *why)
{
    sgw_log(SGW_LOG_INFO, "http", "Twilio webhook for %.40s refused: %s", tenant, why);
    sgw_reply_error(r, 401, "unauthorized", "Invalid X-Twilio-Signature");
}

/* The tenant's Twilio account sid and auth token (heap, wipe the token);
 * 0 when it has no Twilio connection. */
static int twwh_creds(sgw_req *r, const char *tenant, char sid[40], char **token, int *store_err)
{
    char *pub = NULL, *sec = NULL;
    *token = NULL;
    *store_err = 0;
    sgw_err rv = sgw_store_conn_get(r->srv->deps.store, tenant, "twilio", &pub, &sec, NULL);
    if (rv != SGW_OK) {
        *store_err = rv != SGW_ENOENT && rv != SGW_EPROTO;
        return 0;
    }
    json_t *p = json_loads(pub, 0, NULL), *s = json_loads(sec, 0, NULL);
    memset(sec, 0, strlen(sec));
    free(sec);
    free(pub);
    const char *a = json_string_value(json_object_get(p, "accountSid"));
    const char *t = json_string_value(json_object_get(s, "authToken"));
    int ok = a && t && strlen(a) < 40;
    if (ok) {
        snprintf(sid, 40, "%s", a);
        *token = strdup(t);
        ok = *token != NULL;
    }
    json_decref(p);
    json_decref(s);
    return ok;
}

static void twwh_twiml(sgw_req *r)
{
    static const char xml[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
    r->status = 200;
    mg_printf(r->conn,
              "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\n%s\r\n",
              sizeof xml - 1, r->extra_headers);
    mg_write(r->conn, xml, sizeof xml - 1);
}

static void twwh_inbound(sgw_req *r, const char *tenant, const twwh_form *f, const char *sid)
{
    const char *from = form_get(f, "From"), *to = form_get(f, "To"), *text = form_get(f, "Body");
    if (!phone_ok(from) || !phone_ok(to)) {
        sgw_reply_error(r, 400, "validation_error",
                        "From and To must be phone numbers (at most 23 of + letters digits "
                        "spaces)");
        return;
    }
    if (strlen(text) > 6400) {
        sgw_reply_error(r, 400, "validation_error", "Body must be at most 1600 characters");
        return;
    }
    sgw_tr_outcome o = { .kind = SGW_TR_INBOUND, .result = SGW_SEND_OK, .attempt = 1 };
    snprintf(o.provider_msg_id, sizeof o.provider_msg_id, "%s", sid);
    snprintf(o.tenant, sizeof o.tenant, "%s", tenant);
    snprintf(o.from, sizeof o.from, "%s", from);
    snprintf(o.to, sizeof o.to, "%s", to);
    o.body = (char *)text;
    o.started_ms = o.finished_ms = sgw_now_ms();
    void *buf;
    size_t len;
    if (sgw_outcome_encode(&o, "twilio", &buf, &len) != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Server overloaded, try again");
        return;
    }
    nng_msg *reply = NULL;
    sgw_msg ans;
    if (sgw_webhook_ask(r, &twwh_peer, SGW_TWWH_INBOUND, tenant, buf, len, &reply, &ans) == 0) {
        if (ans.code == 200)
            twwh_twiml(r);
        else
            sgw_reply_raw(r, ans.code, ans.body, ans.body_len);
    }
    free(buf);
    if (reply)
        nng_msg_free(reply);
}

static void twwh_status(sgw_req *r, const char *tenant, const twwh_form *f, const char *sid,
                        const char *status)
{
    static const char *const known[] = { "accepted", "scheduled", "queued",    "sending",
                                         "sent",     "delivered", "undelivered", "failed",
                                         "receiving", "received", "read",      "canceled",
                                         "partially_delivered", NULL };
    int ok = 0;
    for (int i = 0; known[i]; i++)
        ok |= strcmp(known[i], status) == 0;
    const char *ec = form_get(f, "ErrorCode");
    int ec_ok = !ec || (strlen(ec) <= 10 && strspn(ec, "0123456789") == strlen(ec));
    if (!ok || !ec_ok) {
        sgw_reply_error(r, 400, "validation_error",
                        !ok ? "MessageStatus is not one of Twilio's message statuses"
                            : "ErrorCode must be a number");
        return;
    }
    int delivered = strcmp(status, "delivered") == 0;
    int failed = strcmp(status, "undelivered") == 0 || strcmp(status, "failed") == 0;
    if (!delivered && !failed) {
        /* queued, sending, sent...: nothing new for smsgw */
        sgw_reply_json(r, 200, json_pack("{s:b, s:s}", "accepted", 0, "reason", "not final"));
        return;
    }
    sgw_tr_outcome o = { .kind = SGW_TR_REPORT, .result = delivered ? SGW_SEND_OK
                                                                     : SGW_SEND_PERMANENT,
                         .attempt = 1 };
    o.started_ms = o.finished_ms = sgw_now_ms();
    snprintf(o.provider_msg_id, sizeof o.provider_msg_id, "%s", sid);
    snprintf(o.tenant, sizeof o.tenant, "%s", tenant);
    if (failed) {
        snprintf(o.error_code, sizeof o.error_code, "undelivered");
        snprintf(o.error_message, sizeof o.error_message, "Twilio reports %s%s%s", status,
                 ec && ec[0] ? ": error " : "", ec && ec[0] ? ec : "");
    }
    void *buf;
    size_t len;
    if (sgw_outcome_encode(&o, "twilio", &buf, &len) != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Server overloaded, try again");
        return;
    }
    nng_msg *reply = NULL;
    sgw_msg ans;
    if (sgw_webhook_ask(r, &twwh_peer, SGW_TWWH_REPORT, tenant, buf, len, &reply, &ans) == 0)
        sgw_reply_raw(r, ans.code, ans.body, ans.body_len);
    free(buf);
    if (reply)
        nng_msg_free(reply);
}

void h_tw_webhook(sgw_req *r)
{
    if (atomic_load(&r->srv->deps.app->draining)) {
        sgw_reply_error(r, 503, "unavailable", "Server is shutting down");
        return;
    }
    const char *tenant = r->param[0];
    if (r->body_len > TWWH_BODY_MAX) {
        sgw_reply_error(r, 413, "payload_too_large", "A Twilio webhook body is at most 64 KB");
        return;
    }
    const char *sig = mg_get_header(r->conn, "X-Twilio-Signature");
    if (!sig || !sig[0]) {
        sgw_log(SGW_LOG_INFO, "http", "Twilio webhook for %.40s without a signature refused",
                tenant);
        sgw_reply_error(r, 401, "unauthorized", "Missing X-Twilio-Signature");
        return;
    }
    char base[512];
    if (!sgw_id_valid(tenant, "tenant_", 16)) {
        twwh_unauthorized(r, tenant, "not a tenant id");
        return;
    }
    if (!sgw_twilio_public_base(r->srv->deps.cfg, base, sizeof base)) {
        twwh_unauthorized(r, tenant, "no public address (transport.twilio.public_url) is "
                          "configured to check signatures against");
        return;
    }
    char sid[40], *token = NULL;
    int store_err;
    if (!twwh_creds(r, tenant, sid, &token, &store_err)) {
        if (store_err)
            sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        else
            twwh_unauthorized(r, tenant, "no Twilio connection");
        return;
    }
    const char *ct = mg_get_header(r->conn, "Content-Type");
    twwh_form f = { 0 };
    const char *why = NULL;
    int form_ok = ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 &&
                  (ct[33] == '\0' || ct[33] == ';' || ct[33] == ' ');
    if (form_ok && form_parse(r->body ? r->body : "", r->body_len, &f, &why) != 0)
        form_ok = 0;
    /* the signature first: an unsigned request learns nothing about its body */
    char url[2600], want[64];
    const char *path = r->ri->local_uri_raw ? r->ri->local_uri_raw : r->path;
    snprintf(url, sizeof url, "%s%s%s%s", base, path, r->ri->query_string ? "?" : "",
             r->ri->query_string ? r->ri->query_string : "");
    int sig_ok = sgw_twilio_signature(token, url, (const char *const *)f.name,
                                      (const char *const *)f.value, f.n, want) == 0 &&
                 strlen(sig) == strlen(want) && sgw_ct_equal(sig, want, strlen(want));
    memset(token, 0, strlen(token));
    free(token);
    if (!sig_ok) {
        form_free(&f);
        twwh_unauthorized(r, tenant, "wrong signature");
        return;
    }
    if (!form_ok) {
        form_free(&f);
        sgw_reply_error(r, 400, "validation_error",
                        why ? why : "Content-Type must be application/x-www-form-urlencoded");
        return;
    }
    const char *acct = form_get(&f, "AccountSid"), *msid = form_get(&f, "MessageSid");
    const char *status = form_get(&f, "MessageStatus");
    if (!status)
        status = form_get(&f, "SmsStatus");
    if (!acct || strcmp(acct, sid) != 0)
        sgw_reply_error(r, 400, "validation_error",
                        "AccountSid is not the tenant's Twilio account");
    else if (!sgw_twilio_sid_ok(msid, "SM") && !sgw_twilio_sid_ok(msid, "MM"))
        sgw_reply_error(r, 400, "validation_error",
                        "MessageSid must be SM or MM followed by 32 hex digits");
    else if (form_get(&f, "Body"))
        twwh_inbound(r, tenant, &f, msid);
    else if (status)
        twwh_status(r, tenant, &f, msid, status);
    else
        sgw_reply_error(r, 400, "validation_error",
                        "Neither an inbound SMS (Body) nor a status callback (MessageStatus)");
    form_free(&f);
}
