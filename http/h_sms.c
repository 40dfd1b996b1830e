/*
 * http/h_sms.c — sending and reading messages (SPEC section 4).
 *
 * POST /v1/sms/send hands the request to the pipeline (ingress, over the
 * bus, req0 with one context per request) and answers what the validator
 * answers: 202 only after the message is durable. No answer within
 * http.request_timeout_ms: 503, and the validator will not store it.
 */
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

void h_sms_send(sgw_req *r)
{
    sgw_http *srv = r->srv;
    if (atomic_load(&srv->deps.app->draining)) {
        sgw_reply_error(r, 503, "unavailable", "Server is shutting down");
        return;
    }
    if (r->auth.role != SGW_ROLE_APP) {
        sgw_reply_error(r, 403, "forbidden", "Sending needs an app key");
        return;
    }
    sgw_idem *idem; /* Idempotency-Key: from here every answer goes through it */
    if (!sgw_idem_begin(r, sgw_idem_orphan_sms, &idem))
        return;
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_SUBMIT, "");
    sgw_random_id(m.id, sizeof m.id, "req_", 16);
    snprintf(m.tenant, sizeof m.tenant, "%s", r->auth.tenant);
    snprintf(m.app, sizeof m.app, "%s", r->auth.app);
    m.flags = r->auth.test ? SGW_SUBMIT_TEST : 0;
    m.created_ms = m.sent_ms = sgw_now_ms();
    m.body = r->body ? r->body : "";
    m.body_len = r->body_len;
    nng_msg *reply;
    sgw_msg ans;
    int rv = sgw_http_ask(srv->req, &m, (int)srv->request_timeout_ms, &reply, &ans);
    if (rv != 0) {
        if (rv > 0)
            sgw_log(SGW_LOG_WARN, "http", "send: no answer from the pipeline: %s",
                    nng_strerror(rv));
        sgw_idem_reply_error(r, idem, 503, "unavailable", "Server overloaded, try again");
    } else {
        sgw_idem_reply(r, idem, ans.code, ans.body, ans.body_len);
    }
    if (reply)
        nng_msg_free(reply);
}

/* Load a message the caller may see, or answer 400/404 and return 0. */
static int load_visible(sgw_req *r, sgw_sms *m)
{
    const char *id = r->param[0];
    if (!sgw_id_valid(id, "msg_", 12)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid messageId format");
        return 0;
    }
    sgw_err rv = sgw_store_sms_get(r->srv->deps.store, id, m);
    if (rv == SGW_OK && r->auth.role == SGW_ROLE_APP &&
        (strcmp(m->tenant, r->auth.tenant) != 0 ||
         (m->direction == SGW_DIR_OUTBOUND && strcmp(m->app, r->auth.app) != 0))) {
        sgw_sms_clear(m);
        rv = SGW_ENOENT; /* another tenant's or app's: it does not exist for you */
    }
    if (rv == SGW_ENOENT) {
        sgw_reply_error(r, 404, "not_found", "Message not found");
        return 0;
    }
    if (rv != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return 0;
    }
    return 1;
}

void h_sms_status(sgw_req *r)
{
    sgw_sms m;
    if (!load_visible(r, &m))
        return;
    sgw_reply_json(r, 200, sgw_render_status(&m));
    sgw_sms_clear(&m);
}

void h_sms_get(sgw_req *r)
{
    sgw_sms m;
    if (!load_visible(r, &m))
        return;
    sgw_reply_json(r, 200, sgw_render_message(&m));
    sgw_sms_clear(&m);
}

typedef struct cancel_ctx {
    int outcome;      /* 1 cancelled (now or before), 2 not scheduled */
    sgw_list changed; /* the record, when this request cancelled it */
} cancel_ctx;

static int cancel_mutate(sgw_sms *m, void *ctx, int i)
{
    cancel_ctx *c = ctx;
    (void)i;
    if (m->status == SGW_ST_CANCELLED) {
        c->outcome = 1;
        return 0;
    }
    if (m->status != SGW_ST_SCHEDULED) {
        c->outcome = 2;
        return 0;
    }
    sgw_sms_set_status(m, SGW_ST_CANCELLED, sgw_now_ms());
    m->due_kind = SGW_DUE_NONE;
    m->due_ms = 0;
    c->outcome = 1;
    void *buf;
    size_t len;
    if (sgw_sms_encode(m, &buf, &len) == SGW_OK) {
        c->changed.len = 0;
        c->changed.n = 0;
        sgw_list_add(&c->changed, buf, len);
        free(buf);
    }
    return 1;
}

void h_sms_cancel(sgw_req *r)
{
    sgw_sms m;
    if (!load_visible(r, &m))
        return;
    sgw_sms_clear(&m);
    const char *ids[1] = { r->param[0] };
    cancel_ctx c = { 0 };
    if (sgw_store_sms_update(r->srv->deps.store, ids, 1, cancel_mutate, &c, NULL) != SGW_OK) {
        sgw_list_free(&c.changed);
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    /* stored: the status actor publishes it (sms_status cancelled) */
    if (c.changed.n &&
        sgw_http_tell_list("status", SGW_MSG_RESULT, SGW_RES_PUBLISH, &c.changed, 1000) != SGW_OK)
        sgw_log(SGW_LOG_WARN, "http", "cancelled %s: event not published", r->param[0]);
    sgw_list_free(&c.changed);
    int outcome = c.outcome;
    if (outcome == 1)
        sgw_reply_json(r, 200, json_pack("{s:s, s:s}", "messageId", r->param[0], "status",
                                         "cancelled"));
    else
        sgw_reply_error(r, 409, "conflict", "Only a scheduled message can be cancelled");
}

void h_sms_list(sgw_req *r)
{
    char tenant[64] = "", dir[16], status[16], user[160], from[32], to[32], lim[16],
         cursor[128];
    sgw_sms_query q = { .direction = -1, .status = -1, .limit = 50 };
    if (r->auth.role == SGW_ROLE_ADMIN) {
        if (!sgw_req_query(r, "tenantId", tenant, sizeof tenant)) {
            sgw_reply_error(r, 400, "validation_error", "tenantId is required with an admin key");
            return;
        }
        q.tenant = tenant;
    } else {
        q.tenant = r->auth.tenant;
        q.app = r->auth.app;
    }
    if (sgw_req_query(r, "direction", dir, sizeof dir)) {
        if (strcmp(dir, "outbound") == 0)
            q.direction = SGW_DIR_OUTBOUND;
        else if (strcmp(dir, "inbound") == 0)
            q.direction = SGW_DIR_INBOUND;
        else {
            sgw_reply_error(r, 400, "validation_error", "direction must be inbound or outbound");
            return;
        }
    }
    if (sgw_req_query(r, "status", status, sizeof status) &&
        (q.status = sgw_status_parse(status)) < 0) {
        sgw_reply_error(r, 400, "validation_error", "Unknown status");
        return;
    }
    if (sgw_req_query(r, "userId", user, sizeof user))
        q.user_id = user;
    if (sgw_req_query(r, "from", from, sizeof from))
        q.from = from;
    if (sgw_req_query(r, "to", to, sizeof to))
        q.to = to;
    if (sgw_req_query(r, "limit", lim, sizeof lim)) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (!lim[0] || *end || v < 1 || v > 200) {
            sgw_reply_error(r, 400, "validation_error", "limit must be an integer from 1 to 200");
            return;
        }
        q.limit = (int)v;
    }
    if (sgw_req_query(r, "cursor", cursor, sizeof cursor) && cursor[0])
        q.cursor = cursor;
    sgw_sms *v = NULL;
    int n = 0;
    char next[SGW_CURSOR_LEN + 1];
    sgw_err rv = sgw_store_sms_list(r->srv->deps.store, &q, &v, &n, next);
    if (rv == SGW_EINVAL) {
        sgw_reply_error(r, 400, "validation_error", "Invalid cursor");
        return;
    }
    if (rv != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    json_t *data = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(data, sgw_render_message(&v[i]));
        sgw_sms_clear(&v[i]);
    }
    free(v);
    sgw_reply_json(r, 200, json_pack("{s:o, s:o}", "data", data, "nextCursor",
                                     next[0] ? json_string(next) : json_null()));
}
