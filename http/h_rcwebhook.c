/*
 * http/h_rcwebhook.c — POST /v1/webhooks/ringcentral (SPEC section 10):
 * where RingCentral posts the notifications of the subscriptions the
 * rcwebhook actor (actors/rcwebhook.c) makes for each connected tenant.
 *
 *   Validation-Token: T   (RingCentral's handshake when a subscription is
 *                          made: an empty POST) -> 200 with the same
 *                          Validation-Token header, an empty body
 *   Verification-Token: V (every notification) -> the tenant whose
 *                          subscription carries V (the meta document
 *                          "rcwh/<sha256(V)>" names it, and its connection
 *                          must hold V); none, or a wrong one -> 401
 *
 * A notification is checked whole before anything happens: a JSON object
 * with the string `event` and the object `body` (`uuid`, `subscriptionId`,
 * `ownerId`, `timestamp` strings when present; transport/README.md 7.6);
 * anything else is 400 (413 over http.max_body_bytes) and changes nothing.
 *   .../message-store/instant  an inbound SMS (`id`, `from.phoneNumber`,
 *                          `to[0].phoneNumber`, `subject`): handed to the
 *                          actor, which stores it (once per RingCentral id)
 *                          before this answers 200;
 *   .../message-store      a change of the mailbox (counts only): the actor
 *                          notes that the tenant's sent messages are to be
 *                          looked up, then this answers 200;
 *   anything else          200, ignored (counted).
 * No answer from the actor within http.request_timeout_ms: 503, and
 * RingCentral may post again (an inbound SMS is still stored once).
 *
 * Also here: what the connection handlers call when a tenant's RingCentral
 * connection is stored, replaced or removed (the actor subscribes, or
 * deletes the old subscription with the old credentials), and the
 * subscription's public facts for GET .../connections/ringcentral.
 */
#include <ctype.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

#define TOKEN_MAX 256

static sgw_webhook_peer rcwh_peer =
    SGW_WEBHOOK_PEER(SGW_RCWH_REQ_URL, "rcwebhook", "RingCentral notification", "rcn_");

/* The webhook handlers' way to their actor: RingCentral's (here) and
 * Twilio's (http/h_twwebhook.c) alike. */
static int peer_socket(sgw_webhook_peer *p, nng_socket *out)
{
    pthread_mutex_lock(&p->lock);
    if (!p->open) {
        nng_socket s;
        if (nng_req0_open(&s) == 0) {
            if (nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) == 0 &&
                nng_dial(s, p->url, NULL, NNG_FLAG_NONBLOCK) == 0) {
                p->sock = s;
                p->open = 1;
            } else {
                nng_close(s);
            }
        }
    }
    *out = p->sock;
    int ok = p->open;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

int sgw_webhook_ask(sgw_req *r, sgw_webhook_peer *p, int code, const char *tenant,
                    const void *body, size_t len, nng_msg **reply, sgw_msg *ans)
{
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_RESULT, "");
    sgw_random_id(m.id, sizeof m.id, p->id_prefix, 16);
    m.code = code;
    snprintf(m.tenant, sizeof m.tenant, "%s", tenant);
    m.body = body;
    m.body_len = len;
    nng_socket s;
    int rv = peer_socket(p, &s) ? sgw_http_ask(s, &m, (int)r->srv->request_timeout_ms, reply, ans)
                                : NNG_ECLOSED;
    if (rv != 0) {
        sgw_log(SGW_LOG_WARN, "http", "%s for %s: no answer from the %s actor: %s", p->what,
                tenant, p->actor, rv > 0 ? nng_strerror(rv) : "malformed");
        sgw_reply_error(r, 503, "unavailable", "Server overloaded, try again");
        return -1;
    }
    return 0;
}

#define BUMP(r, field) \
    atomic_fetch_add_explicit(&(r)->srv->deps.app->rcwh.field, 1, memory_order_relaxed)

static void rcwh_invalid(sgw_req *r, const char *msg)
{
    BUMP(r, invalid);
    sgw_reply_error(r, 400, "validation_error", msg);
}

/* Hand a checked notification to the actor and answer what it answers. */
static void rcwh_ask(sgw_req *r, int code, const char *tenant, const void *body, size_t len)
{
    nng_msg *reply = NULL;
    sgw_msg ans;
    if (sgw_webhook_ask(r, &rcwh_peer, code, tenant, body, len, &reply, &ans) == 0)
        sgw_reply_raw(r, ans.code, ans.body, ans.body_len);
    if (reply)
        nng_msg_free(reply);
}

/* A header token: 1 to TOKEN_MAX visible ASCII characters. */
static int token_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return 0;
    return 1;
}

/* The tenant whose subscription carries this verification token: its meta
 * document names it, and its RingCentral connection must hold the token
 * (so a token of a replaced or removed connection is refused). */
static int rcwh_tenant_of(sgw_req *r, const char *vtoken, char tenant[32])
{
    sgw_store *st = r->srv->deps.store;
    char hex[65], key[80], *doc = NULL, *secret = NULL;
    sgw_sha256_hex(hex, vtoken, strlen(vtoken));
    snprintf(key, sizeof key, "rcwh/%s", hex);
    if (sgw_store_doc_get(st, SGW_DOC_META, key, &doc) != SGW_OK)
        return 0;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    const char *t = json_string_value(json_object_get(o, "tenantId"));
    int ok = t && strlen(t) < 32;
    if (ok)
        snprintf(tenant, 32, "%s", t);
    json_decref(o);
    if (!ok || sgw_store_conn_get(st, tenant, "ringcentral", NULL, &secret, NULL) != SGW_OK)
        return 0;
    json_t *sec = json_loads(secret, 0, NULL);
    memset(secret, 0, strlen(secret));
    free(secret);
    const char *have = json_string_value(json_object_get(sec, "webhookToken"));
    ok = have && strlen(have) == strlen(vtoken) && sgw_ct_equal(have, vtoken, strlen(vtoken));
    json_decref(sec);
    return ok;
}

/* A field that must be a string when present (required: must be present). */
static int opt_string(sgw_req *r, json_t *o, const char *name, int required, size_t max,
                      const char *where)
{
    json_t *v = json_object_get(o, name);
    if (!v && !required)
        return 1;
    if (!json_is_string(v) || json_string_length(v) > max || (required && !json_string_length(v))) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s%s must be a %sstring of at most %zu characters", where,
                 name, required ? "non-empty " : "", max);
        rcwh_invalid(r, msg);
        return 0;
    }
    return 1;
}

/* A phone number of a message: from.phoneNumber or to[i].phoneNumber
 * (E.164, or a short code or sender name: + letters digits and spaces). */
static const char *phone_of(json_t *o)
{
    const char *p = json_string_value(json_object_get(o, "phoneNumber"));
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > 23)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '+' && p[i] != ' ')
            return NULL;
    return p;
}

static void rcwh_ignored(sgw_req *r, const char *why)
{
    BUMP(r, ignored);
    sgw_reply_json(r, 200, json_pack("{s:b, s:s}", "ignored", 1, "reason", why));
}

/* An instant-message event: one inbound SMS. */
static void rcwh_inbound(sgw_req *r, const char *tenant, json_t *b)
{
    if (!opt_string(r, b, "type", 0, 32, "body.") ||
        !opt_string(r, b, "direction", 0, 32, "body.") ||
        !opt_string(r, b, "messageStatus", 0, 32, "body.") ||
        !opt_string(r, b, "subject", 0, 16000, "body."))
        return;
    sgw_tr_outcome o = { .kind = SGW_TR_INBOUND, .result = SGW_SEND_OK, .attempt = 1 };
    json_t *idv = json_object_get(b, "id");
    if (json_is_integer(idv) && json_integer_value(idv) >= 0) {
        snprintf(o.provider_msg_id, sizeof o.provider_msg_id, "%lld",
                 (long long)json_integer_value(idv));
    } else if (json_is_string(idv) && json_string_length(idv) > 0 &&
               json_string_length(idv) < sizeof o.provider_msg_id) {
        const char *s = json_string_value(idv);
        for (const char *p = s; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') {
                rcwh_invalid(r, "body.id must be a string of letters, digits, - and _ or a "
                                "non-negative integer");
                return;
            }
        snprintf(o.provider_msg_id, sizeof o.provider_msg_id, "%s", s);
    } else {
        rcwh_invalid(r, "body.id must be a non-empty string (at most 63 characters) or a "
                        "non-negative integer");
        return;
    }
    json_t *from = json_object_get(b, "from"), *to = json_object_get(b, "to");
    const char *fp = json_is_object(from) ? phone_of(from) : NULL;
    if (!fp) {
        rcwh_invalid(r, "body.from.phoneNumber must be a phone number (a string of at most 23 "
                        "characters)");
        return;
    }
    const char *tp = json_is_array(to) && json_array_size(to) > 0 &&
                             json_is_object(json_array_get(to, 0))
                         ? phone_of(json_array_get(to, 0))
                         : NULL;
    if (!tp) {
        rcwh_invalid(r, "body.to must be a non-empty array of {phoneNumber} objects");
        return;
    }
    const char *type = json_string_value(json_object_get(b, "type"));
    const char *dir = json_string_value(json_object_get(b, "direction"));
    if (type && strcmp(type, "SMS") != 0) {
        rcwh_ignored(r, "not an SMS");
        return;
    }
    if (dir && strcmp(dir, "Inbound") != 0) {
        rcwh_ignored(r, "not an inbound message");
        return;
    }
    snprintf(o.tenant, sizeof o.tenant, "%s", tenant);
    snprintf(o.from, sizeof o.from, "%s", fp);
    snprintf(o.to, sizeof o.to, "%s", tp);
    const char *text = json_string_value(json_object_get(b, "subject"));
    o.body = (char *)(text ? text : "");
    o.started_ms = o.finished_ms = sgw_now_ms();
    void *buf;
    size_t len;
    if (sgw_outcome_encode(&o, "ringcentral", &buf, &len) != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Server overloaded, try again");
        return;
    }
    rcwh_ask(r, SGW_RCWH_INBOUND, tenant, buf, len);
    free(buf);
}

/* A message-store event: counts of new and changed messages. */
static void rcwh_store_event(sgw_req *r, const char *tenant, json_t *b)
{
    if (!opt_string(r, b, "extensionId", 0, 64, "body.") ||
        !opt_string(r, b, "accountId", 0, 64, "body.") ||
        !opt_string(r, b, "lastUpdated", 0, 64, "body."))
        return;
    json_t *changes = json_object_get(b, "changes");
    int relevant = changes == NULL;
    if (changes && !json_is_array(changes)) {
        rcwh_invalid(r, "body.changes must be an array");
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c)
    {
        json_t *type = json_object_get(c, "type"), *nc = json_object_get(c, "newCount"),
               *uc = json_object_get(c, "updatedCount");
        if (!json_is_object(c) || (type && !json_is_string(type)) ||
            (nc && (!json_is_integer(nc) || json_integer_value(nc) < 0)) ||
            (uc && (!json_is_integer(uc) || json_integer_value(uc) < 0))) {
            rcwh_invalid(r, "body.changes must hold objects {type: string, newCount: integer, "
                            "updatedCount: integer}");
            return;
        }
        int sms = !type || strcmp(json_string_value(type), "SMS") == 0;
        if (sms && (json_integer_value(uc) > 0 || (!nc && !uc)))
            relevant = 1;
    }
    if (!relevant) {
        rcwh_ignored(r, "no SMS changed");
        return;
    }
    rcwh_ask(r, SGW_RCWH_SYNC, tenant, "", 0);
}

/* A notification (a JSON object) of the tenant's subscription: its envelope
 * checked, then its body handed to the handler of its event filter. */
static void rcwh_notification(sgw_req *r, const char *tenant, json_t *n)
{
    if (!opt_string(r, n, "event", 1, 1024, "") || !opt_string(r, n, "uuid", 0, 128, "") ||
        !opt_string(r, n, "subscriptionId", 0, 128, "") ||
        !opt_string(r, n, "ownerId", 0, 64, "") || !opt_string(r, n, "timestamp", 0, 64, ""))
        return;
    json_t *b = json_object_get(n, "body");
    if (!json_is_object(b)) {
        rcwh_invalid(r, "body must be an object");
        return;
    }
    /* the event filter it matched, without its query */
    const char *ev = json_string_value(json_object_get(n, "event"));
    size_t plen = strcspn(ev, "?");
    static const char instant[] = "/message-store/instant", store[] = "/message-store";
    int is_instant = plen >= sizeof instant - 1 &&
                     memcmp(ev + plen - (sizeof instant - 1), instant, sizeof instant - 1) == 0;
    int is_store = !is_instant && plen >= sizeof store - 1 &&
                   memcmp(ev + plen - (sizeof store - 1), store, sizeof store - 1) == 0;
    if (strncmp(ev, "/restapi/", 9) != 0) {
        rcwh_invalid(r, "event must be a RingCentral event filter (/restapi/...)");
        return;
    }
    if (is_instant)
        rcwh_inbound(r, tenant, b);
    else if (is_store)
        rcwh_store_event(r, tenant, b);
    else
        rcwh_ignored(r, "not an event smsgw subscribes to");
}

void h_rc_webhook(sgw_req *r)
{
    if (atomic_load(&r->srv->deps.app->draining)) {
        sgw_reply_error(r, 503, "unavailable", "Server is shutting down");
        return;
    }
    /* the handshake of a new subscription: echo the token, nothing else */
    const char *vt = mg_get_header(r->conn, "Validation-Token");
    if (vt) {
        if (!token_ok(vt)) {
            rcwh_invalid(r, "Invalid Validation-Token");
            return;
        }
        size_t used = strlen(r->extra_headers);
        snprintf(r->extra_headers + used, sizeof r->extra_headers - used,
                 "Validation-Token: %s\r\n", vt);
        sgw_reply_raw(r, 200, "{\"validated\":true}", 18);
        return;
    }
    const char *token = mg_get_header(r->conn, "Verification-Token");
    char tenant[32];
    if (!token || !token[0]) {
        BUMP(r, rejected);
        sgw_reply_error(r, 401, "unauthorized", "Missing Verification-Token");
        return;
    }
    if (!token_ok(token) || !rcwh_tenant_of(r, token, tenant)) {
        BUMP(r, rejected);
        sgw_log(SGW_LOG_INFO, "http", "RingCentral notification with an unknown "
                "Verification-Token refused");
        sgw_reply_error(r, 401, "unauthorized", "Invalid Verification-Token");
        return;
    }
    json_error_t jerr;
    json_t *n = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!n) {
        rcwh_invalid(r, "Invalid JSON");
        return;
    }
    if (!json_is_object(n)) {
        json_decref(n);
        rcwh_invalid(r, "A notification must be a JSON object");
        return;
    }
    rcwh_notification(r, tenant, n);
    json_decref(n);
}

/* ---------------------------------------------------------------- connection changes */

char *sgw_rcwh_conn_before(sgw_req *r, const char *tenant)
{
    char *account = NULL;
    if (sgw_store_conn_account(r->srv->deps.store, tenant, "ringcentral", &account, NULL) !=
        SGW_OK)
        return NULL;
    return account;
}

static void rcwh_tell(const char *tenant, int code, const char *body)
{
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_EVENT, "");
    snprintf(m.tenant, sizeof m.tenant, "%s", tenant);
    m.code = code;
    m.body = body;
    m.body_len = body ? strlen(body) : 0;
    if (sgw_http_tell("rcwebhook", &m, 1000) != SGW_OK)
        sgw_log(SGW_LOG_WARN, "http", "%s: the RingCentral subscription keeper was not told of "
                "the connection change (its rescan finds it)", tenant);
}

void sgw_rcwh_conn_after(sgw_req *r, const char *tenant, char *old, int stored, int connected)
{
    (void)r;
    if (stored) {
        if (old)
            rcwh_tell(tenant, SGW_RCWH_DISCONNECTED, old);
        if (connected)
            rcwh_tell(tenant, SGW_RCWH_CONNECTED, NULL);
    }
    if (old) {
        memset(old, 0, strlen(old));
        free(old);
    }
}

void sgw_rcwh_describe(sgw_req *r, const char *tenant, json_t *answer)
{
    char *secret = NULL;
    if (sgw_store_conn_get(r->srv->deps.store, tenant, "ringcentral", NULL, &secret, NULL) !=
        SGW_OK)
        return;
    json_t *sec = json_loads(secret, 0, NULL);
    memset(secret, 0, strlen(secret));
    free(secret);
    const char *id = json_string_value(json_object_get(sec, "subscriptionId"));
    json_int_t exp = json_integer_value(json_object_get(sec, "subscriptionExpiresAt"));
    json_t *w = json_object();
    int live = id && id[0] && exp > sgw_now_ms();
    json_object_set_new(w, "subscribed", json_boolean(live));
    json_object_set_new(w, "subscriptionId", live ? json_string(id) : json_null());
    if (live) {
        char ts[32];
        sgw_time_format(ts, (int64_t)exp);
        json_object_set_new(w, "expiresAt", json_string(ts));
    } else {
        json_object_set_new(w, "expiresAt", json_null());
    }
    json_object_set_new(answer, "webhook", w);
    json_decref(sec);
}

char *sgw_rcwh_metrics(const sgw_app *app)
{
    const struct sgw_rcwh_stats *s = &app->rcwh;
    char *out = NULL;
    if (asprintf(&out,
                 "# HELP smsgw_rc_webhook_notifications_total RingCentral notifications by "
                 "result.\n# TYPE smsgw_rc_webhook_notifications_total counter\n"
                 "smsgw_rc_webhook_notifications_total{result=\"accepted\"} %llu\n"
                 "smsgw_rc_webhook_notifications_total{result=\"rejected\"} %llu\n"
                 "smsgw_rc_webhook_notifications_total{result=\"invalid\"} %llu\n"
                 "smsgw_rc_webhook_notifications_total{result=\"ignored\"} %llu\n"
                 "# HELP smsgw_rc_webhook_inbound_total Inbound SMS from RingCentral: stored, "
                 "or heard again.\n# TYPE smsgw_rc_webhook_inbound_total counter\n"
                 "smsgw_rc_webhook_inbound_total{result=\"stored\"} %llu\n"
                 "smsgw_rc_webhook_inbound_total{result=\"duplicate\"} %llu\n"
                 "# HELP smsgw_rc_webhook_syncs_total Message-store look-ups after RingCentral "
                 "notifications.\n# TYPE smsgw_rc_webhook_syncs_total counter\n"
                 "smsgw_rc_webhook_syncs_total %llu\n"
                 "# HELP smsgw_rc_webhook_reports_total Delivery outcomes found by look-ups.\n"
                 "# TYPE smsgw_rc_webhook_reports_total counter\n"
                 "smsgw_rc_webhook_reports_total %llu\n"
                 "# HELP smsgw_rc_webhook_unknown_total Message-store records that are none of "
                 "the tenant's messages (ignored).\n"
                 "# TYPE smsgw_rc_webhook_unknown_total counter\n"
                 "smsgw_rc_webhook_unknown_total %llu\n"
                 "# HELP smsgw_rc_subscriptions_total RingCentral subscription calls that "
                 "succeeded, and failures.\n# TYPE smsgw_rc_subscriptions_total counter\n"
                 "smsgw_rc_subscriptions_total{op=\"created\"} %llu\n"
                 "smsgw_rc_subscriptions_total{op=\"renewed\"} %llu\n"
                 "smsgw_rc_subscriptions_total{op=\"deleted\"} %llu\n"
                 "smsgw_rc_subscriptions_total{op=\"failed\"} %llu\n",
                 (unsigned long long)atomic_load(&s->notifications),
                 (unsigned long long)atomic_load(&s->rejected),
                 (unsigned long long)atomic_load(&s->invalid),
                 (unsigned long long)atomic_load(&s->ignored),
                 (unsigned long long)atomic_load(&s->inbound),
                 (unsigned long long)atomic_load(&s->duplicates),
                 (unsigned long long)atomic_load(&s->syncs),
                 (unsigned long long)atomic_load(&s->reports),
                 (unsigned long long)atomic_load(&s->unknown),
                 (unsigned long long)atomic_load(&s->subs_created),
                 (unsigned long long)atomic_load(&s->subs_renewed),
                 (unsigned long long)atomic_load(&s->subs_deleted),
                 (unsigned long long)atomic_load(&s->sub_errors)) < 0)
        return NULL;
    return out;
}
