/*
 * actors/validator.c — checks a send request and makes it durable.
 *
 * Input:   SUBMIT from ingress: the request's JSON body, tenant, app, flags
 *          (test key), and the routing bytes of the waiting HTTP request.
 * Outputs: REPLY (the HTTP status and JSON body) straight onto ingress's
 *          rep0 socket (sgw_ingress_reply), and, for each message stored
 *          for immediate sending, DISPATCH to the rate limiter (the
 *          scheduler owns only delays: sendAt, backoff, leases).
 * Order:   a batch of requests is validated, then every valid message is
 *          written in ONE store write (one fsync: group commit), and only
 *          then is any of them answered 202. Invalid ones are answered 400
 *          at once and store nothing.
 * Restart: stateless. A stored message carries a schedule entry (a lease
 *          for immediate ones, its sendAt for scheduled ones), so the
 *          scheduler resumes it if the DISPATCH never arrived.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "actors/sms/accept.h"
#include "actors/sms/template.h"
#include "actors/sms/text.h"
#include "bus/log.h"
#include "bus/util.h"

typedef struct validator {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket to_ratelimit, to_status;
    int64_t lease_ms;
    int64_t request_timeout_ms;
    sgw_accept_rules rules; /* the live route and prices (actors/sms/accept.h) */
    int64_t *unit_price;  /* per record of a batch */
    int *paid;
    char **accepted;      /* per record of a batch: its 202 body, sent last */
    /* per batch */
    sgw_sms *recs;
    sgw_sms **ptrs;
    int *req_of; /* recs[i] answers msgs[req_of[i]] */
    int cap;
    sgw_list dispatch;
    sgw_list publish;   /* accepted records: sms_status queued or scheduled */
} validator;

static sgw_err validator_init(void *st, const sgw_actor_env *env)
{
    validator *self = st;
    self->env = env;
    self->app = env->app;
    self->lease_ms = sgw_cfg_int(env->cfg, "actors.scheduler.lease_ms");
    self->request_timeout_ms = sgw_cfg_int(env->cfg, "http.request_timeout_ms");
    sgw_err lr = sgw_accept_rules_load(env->cfg, &self->rules);
    if (lr != SGW_OK)
        return lr;
    self->cap = (int)sgw_cfg_int(env->cfg, "actors.validator.batch_max");
    if (self->cap <= 0)
        self->cap = 64;
    self->recs = calloc((size_t)self->cap, sizeof *self->recs);
    self->ptrs = calloc((size_t)self->cap, sizeof *self->ptrs);
    self->req_of = calloc((size_t)self->cap, sizeof *self->req_of);
    self->unit_price = calloc((size_t)self->cap, sizeof *self->unit_price);
    self->paid = calloc((size_t)self->cap, sizeof *self->paid);
    self->accepted = calloc((size_t)self->cap, sizeof *self->accepted);
    if (!self->recs || !self->ptrs || !self->req_of || !self->unit_price || !self->paid ||
        !self->accepted)
        return SGW_ENOMEM;
    sgw_err rv = sgw_actor_connect(env, "ratelimit", &self->to_ratelimit);
    if (rv == SGW_OK)
        rv = sgw_actor_connect(env, "status", &self->to_status);
    return rv;
}

static void validator_reply(validator *self, const sgw_msg *req, int code, const char *json)
{
    sgw_msg r;
    sgw_msg_init(&r, SGW_MSG_REPLY, req->id);
    r.code = code;
    r.reply = req->reply;
    r.reply_len = req->reply_len;
    r.body = json;
    r.body_len = strlen(json);
    if (sgw_ingress_reply(&r) != SGW_OK)
        sgw_log(SGW_LOG_WARN, "validator", "could not answer request %s", req->id);
}

static void validator_error(validator *self, const sgw_msg *req, int code, const char *error,
                            const char *kind)
{
    json_t *o = json_pack("{s:s, s:s}", "error", error, "code", kind);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    validator_reply(self, req, code, s ? s : "{\"error\":\"Internal error\",\"code\":\"internal\"}");
    free(s);
    json_decref(o);
}

/* Why a request is refused: HTTP status, message, code (actors/sms/accept.h). */
typedef sgw_verdict verdict;
#define refuse sgw_refuse

/* A string field: absent -> *out NULL (ok); present but not a string -> refuse. */
static int opt_string(json_t *req, const char *name, const char *alias, const char **out,
                      verdict *v)
{
    json_t *f = json_object_get(req, name);
    if (!f && alias)
        f = json_object_get(req, alias);
    *out = NULL;
    if (!f || json_is_null(f))
        return 1;
    if (!json_is_string(f))
        return refuse(v, 400, "validation_error", "%s must be a string", name);
    /* a NUL would cut the C string short: "+15551234567\u0000junk" is not a number */
    if (strlen(json_string_value(f)) != json_string_length(f))
        return refuse(v, 400, "validation_error", "%s must not contain NUL characters", name);
    *out = json_string_value(f);
    return 1;
}

/* Validate one request and fill rec. Returns 1 if valid. */
static int validator_check(validator *self, const sgw_msg *m, sgw_sms *rec, int64_t *unit_price,
                           verdict *v)
{
    json_error_t jerr;
    char *rendered = NULL; /* a template's text (freed at out) */
    json_t *req = json_loadb(m->body, m->body_len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                             &jerr);
    int ok = 0;
    if (!req) {
        refuse(v, 400, "validation_error", "Invalid JSON", NULL);
        goto out;
    }
    if (!json_is_object(req)) {
        refuse(v, 400, "validation_error", "Request body must be a JSON object", NULL);
        goto out;
    }
    const char *to, *from, *body, *user_id, *country, *send_at, *tmpl;
    if (!opt_string(req, "to", NULL, &to, v) || !opt_string(req, "from", NULL, &from, v) ||
        !opt_string(req, "template", NULL, &tmpl, v) ||
        !opt_string(req, "userId", "user_id", &user_id, v) ||
        !opt_string(req, "country", NULL, &country, v) ||
        !opt_string(req, "sendAt", "send_at", &send_at, v))
        goto out;
    if (tmpl) {
        /* the tenant's template, rendered with variables; body is ignored */
        char *doc = NULL, bad[SGW_TEMPLATE_NAME_MAX + 1];
        json_t *vars = json_object_get(req, "variables");
        if (vars && !json_is_null(vars) && !json_is_object(vars)) {
            refuse(v, 400, "validation_error", "variables must be an object", NULL);
            goto out;
        }
        if (sgw_store_template_find(self->app->store, m->tenant, tmpl, &doc) != SGW_OK) {
            refuse(v, 400, "validation_error", "Template not found: %s", tmpl);
            goto out;
        }
        json_t *t = json_loads(doc, 0, NULL);
        free(doc);
        sgw_err rv = sgw_template_render(json_string_value(json_object_get(t, "body")), vars,
                                         &rendered, bad);
        json_decref(t);
        if (rv == SGW_ENOENT || rv == SGW_EINVAL) {
            refuse(v, 400, "validation_error",
                   rv == SGW_ENOENT ? "Missing variable: %s"
                                    : "Variable %s must be a string or number", bad);
            goto out;
        }
        if (rv != SGW_OK) {
            refuse(v, 500, "internal", "Could not render the template", NULL);
            goto out;
        }
        body = rendered;
    } else if (!opt_string(req, "body", NULL, &body, v)) {
        goto out;
    }
    if (!to || !from || !body) {
        refuse(v, 400, "validation_error", "to, from, and body are required", NULL);
        goto out;
    }
    int test = (m->flags & SGW_SUBMIT_TEST) != 0;
    sgw_text_info ti;
    int64_t now = sgw_now_ms(), send_at_ms = 0;
    if (!sgw_accept_to(to, v) ||
        !sgw_accept_from(&self->rules, self->app->store, m->tenant, test, from, v) ||
        !sgw_accept_body(body, strlen(body), &ti, v) || !sgw_accept_user_id(user_id, v) ||
        !sgw_accept_country(country, v) || !sgw_accept_send_at(send_at, now, &send_at_ms, v))
        goto out;
    sgw_accept_in in = { .tenant = m->tenant, .app = m->app, .test = test, .to = to,
                         .from = from, .body = body, .ti = &ti, .user_id = user_id,
                         .country = country, .now = now, .send_at_ms = send_at_ms };
    if (sgw_accept_fill(&self->rules, &in, rec, unit_price) != SGW_OK) {
        refuse(v, 500, "internal", "Out of memory", NULL);
        goto out;
    }
    if (send_at_ms) {
        rec->due_ms = send_at_ms;
        rec->due_kind = SGW_DUE_SEND;
    } else {
        rec->due_ms = now + self->lease_ms;
        rec->due_kind = SGW_DUE_LEASE;
    }
    ok = 1;
out:
    free(rendered);
    json_decref(req);
    return ok;
}

/* A fresh id not stored and not used earlier in this batch. */
static sgw_err validator_new_id(validator *self, sgw_sms *rec, int nbatch)
{
    for (int tries = 0; tries < 8; tries++) {
        sgw_err rv = sgw_random_id(rec->id, sizeof rec->id, "msg_", 12);
        if (rv != SGW_OK)
            return rv;
        int dup = sgw_store_sms_exists(self->app->store, rec->id);
        for (int j = 0; j < nbatch && !dup; j++)
            dup = strcmp(self->recs[j].id, rec->id) == 0;
        if (!dup)
            return SGW_OK;
    }
    return SGW_EEXIST;
}

static char *validator_accepted_json(const sgw_sms *rec)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:b}", "messageId", rec->id, "status",
                          sgw_status_name(rec->status), "segments", rec->segments, "encoding",
                          sgw_encoding_name(rec->encoding), "test", rec->test);
    if (o && rec->send_at_ms) {
        char ts[32];
        sgw_time_format(ts, rec->send_at_ms);
        json_object_set_new(o, "sendAt", json_string(ts));
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static void validator_handle(void *st, const sgw_msg *msgs, int n)
{
    validator *self = st;
    int nrec = 0;
    int64_t now = sgw_now_ms();
    for (int i = 0; i < n; i++) {
        const sgw_msg *m = &msgs[i];
        if (m->type != SGW_MSG_SUBMIT || !m->reply)
            continue;
        /* the HTTP side gives up (503) after request_timeout_ms: never store
         * a request it may already have refused */
        if (m->created_ms && now - m->created_ms > self->request_timeout_ms / 2) {
            sgw_log(SGW_LOG_WARN, "validator", "request %s too old (%lld ms): dropped", m->id,
                    (long long)(now - m->created_ms));
            continue;
        }
        verdict v = { 0 };
        sgw_sms *rec = &self->recs[nrec];
        if (!validator_check(self, m, rec, &self->unit_price[nrec], &v)) {
            sgw_sms_clear(rec);
            validator_error(self, m, v.status, v.error, v.code);
            continue;
        }
        if (validator_new_id(self, rec, nrec) != SGW_OK) {
            sgw_sms_clear(rec);
            validator_error(self, m, 503, "Could not allocate a message id", "unavailable");
            continue;
        }
        self->ptrs[nrec] = rec;
        self->req_of[nrec] = i;
        nrec++;
    }
    if (nrec == 0)
        return;
    sgw_err rv = sgw_store_sms_insert_charged(self->app->store, self->ptrs, self->unit_price, nrec,
                                              self->paid);
    for (int k = 0; k < nrec; k++) {
        const sgw_msg *req = &msgs[self->req_of[k]];
        sgw_sms *rec = &self->recs[k];
        if (rv != SGW_OK) {
            validator_error(self, req, 503, "Could not store the message", "unavailable");
            sgw_sms_clear(rec);
            continue;
        }
        if (!self->paid[k]) {
            validator_error(self, req, 402, "Monthly SMS quota and wallet are exhausted",
                            "sms_quota_exceeded");
            sgw_sms_clear(rec);
            continue;
        }
        self->accepted[k] = validator_accepted_json(rec);
        if (!self->accepted[k])
            self->accepted[k] = strdup("{}");
        void *buf;
        size_t len;
        if (sgw_sms_encode(rec, &buf, &len) == SGW_OK) {
            sgw_list_add(&self->publish, buf, len);
            if (rec->status == SGW_ST_QUEUED)
                sgw_list_add(&self->dispatch, buf, len);
            free(buf);
        }
        sgw_sms_clear(rec);
    }
    /* stored: sms_status queued (or scheduled), before the dispatch whose
     * later changes the status actor publishes after it; an event lost to a
     * full queue is only an event (the record is stored) */
    if (sgw_list_send(self->env, self->to_status, SGW_MSG_RESULT, SGW_RES_PUBLISH, &self->publish,
                      1000) != SGW_OK)
        sgw_log(SGW_LOG_WARN, "validator", "status queue full: acceptance events not published");
    /* if the rate limiter is full, the leases bring them back later */
    sgw_list_send(self->env, self->to_ratelimit, SGW_MSG_DISPATCH, 0, &self->dispatch, 1000);
    /* the 202s last: a client that sends its next message after this 202
     * (from any validator thread) has it dispatched after this one, so
     * one client's messages from one number leave in the order sent */
    for (int k = 0; k < nrec; k++) {
        if (!self->accepted[k])
            continue; /* refused above, or no memory for even "{}" */
        validator_reply(self, &msgs[self->req_of[k]], 202, self->accepted[k]);
        free(self->accepted[k]);
        self->accepted[k] = NULL;
    }
}

static void validator_fini(void *st)
{
    validator *self = st;
    free(self->recs);
    free(self->ptrs);
    free(self->req_of);
    free(self->unit_price);
    free(self->paid);
    free(self->accepted);
    sgw_accept_rules_fini(&self->rules);
    sgw_list_free(&self->dispatch);
    sgw_list_free(&self->publish);
}

const struct sgw_actor_ops sgw_actor_validator = {
    .name = "validator",
    .state_size = sizeof(validator),
    .init = validator_init,
    .handle = validator_handle,
    .fini = validator_fini,
    .drain_input = 1,
};
