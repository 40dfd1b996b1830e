/*
 * actors/twwebhook.c — Twilio webhooks (SPEC section 10): what
 * POST /v1/webhooks/twilio/:tenantId (http/h_twwebhook.c) hands on once it
 * has checked the request's X-Twilio-Signature and shape.
 *
 * Inputs:  a raw rep0 socket on SGW_TWWH_REQ_URL, dialed with req0 (one
 *          context per request) by the handler:
 *            RESULT SGW_TWWH_INBOUND  an inbound SMS (an encoded INBOUND
 *                                     outcome, provider "twilio"): answered
 *                                     {messageId, duplicate} once stored;
 *            RESULT SGW_TWWH_REPORT   a status callback's final status (an
 *                                     encoded REPORT outcome whose
 *                                     provider_msg_id is Twilio's
 *                                     MessageSid, tenant set, id empty):
 *                                     answered {accepted, messageId?,
 *                                     reason?} once handed to status.
 * Outputs: the store (inbound messages); RESULT to the status actor
 *          (PUBLISH of a stored inbound SMS: sms_inbound; OUTCOME of a
 *          report: delivered / failed).
 * Inbound: stored as a `received` message whose id is the one every
 *          inbound SMS gets (sgw_inbound_id: tenant, "twilio", MessageSid),
 *          so an SMS posted twice is stored once; the answer (and so
 *          Twilio's 200) comes after the write; sms_inbound is published
 *          after it.
 * Reports: the MessageSid is looked up in the provider-id index
 *          ("twilio/<sid>", written with the send's outcome). A sid that is
 *          none of this tenant's messages is ignored (answered accepted:
 *          false), and so is a message no longer `sending` or `sent`: the
 *          status actor never moves a message backwards, and checks again.
 * Threads: one (dedup of inbound SMS relies on it).
 */
#include <jansson.h>
#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "bus/log.h"
#include "bus/util.h"

#define PROVIDER "twilio"

typedef struct tw_actor {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket rep, to_status;
} tw_actor;

static void tww_reply(tw_actor *self, const sgw_msg *req, int code, const char *json)
{
    sgw_rep_reply(self->rep, req, code, json);
}

static const char unavailable[] = "{\"error\":\"Store unavailable\",\"code\":\"unavailable\"}";

static void tww_inbound(tw_actor *self, const sgw_msg *m)
{
    sgw_inbound_to to = { .env = self->env, .rep = self->rep, .to_status = self->to_status,
                          .provider = PROVIDER, .who = "twwebhook" };
    sgw_inbound_take(&to, m);
}

static void tww_report(tw_actor *self, const sgw_msg *m)
{
    sgw_tr_outcome o;
    char provider[24], id[24], ans[200];
    if (sgw_outcome_decode(m->body, m->body_len, &o, provider) != SGW_OK ||
        o.kind != SGW_TR_REPORT || !o.tenant[0] || !o.provider_msg_id[0]) {
        free(o.body);
        tww_reply(self, m, 400, "{\"error\":\"Malformed report\",\"code\":\"validation_error\"}");
        return;
    }
    free(o.body);
    o.body = NULL;
    sgw_err rv = sgw_store_provid_get(self->app->store, PROVIDER, o.provider_msg_id, id);
    if (rv == SGW_ENOENT) {
        tww_reply(self, m, 200, "{\"accepted\":false,\"reason\":\"not one of this tenant's messages\"}");
        return;
    }
    sgw_sms rec;
    if (rv != SGW_OK || sgw_store_sms_get(self->app->store, id, &rec) != SGW_OK) {
        tww_reply(self, m, 503, unavailable);
        return;
    }
    int mine = strcmp(rec.tenant, o.tenant) == 0;
    int open = rec.status == SGW_ST_SENT || rec.status == SGW_ST_SENDING;
    sgw_sms_clear(&rec);
    if (!mine) {
        sgw_log(SGW_LOG_WARN, "twwebhook", "%s: a report of %s, which is another tenant's: "
                "ignored", o.tenant, o.provider_msg_id);
        tww_reply(self, m, 200, "{\"accepted\":false,\"reason\":\"not one of this tenant's messages\"}");
        return;
    }
    if (!open) {
        snprintf(ans, sizeof ans, "{\"accepted\":false,\"messageId\":\"%s\",\"reason\":"
                 "\"already final\"}", id);
        tww_reply(self, m, 200, ans);
        return;
    }
    snprintf(o.id, sizeof o.id, "%s", id);
    o.tenant[0] = '\0';
    void *buf;
    size_t len;
    sgw_list l = { 0 };
    if (sgw_outcome_encode(&o, PROVIDER, &buf, &len) == SGW_OK) {
        sgw_list_add(&l, buf, len);
        free(buf);
    }
    rv = l.n ? sgw_list_send(self->env, self->to_status, SGW_MSG_RESULT, SGW_RES_OUTCOME, &l,
                             1000)
             : SGW_ENOMEM;
    sgw_list_free(&l);
    if (rv != SGW_OK) {
        sgw_log(SGW_LOG_WARN, "twwebhook", "%s: report of %s not handed on: %s", o.tenant, id,
                sgw_strerror(rv));
        tww_reply(self, m, 503, "{\"error\":\"Server overloaded, try again\",\"code\":\"unavailable\"}");
        return;
    }
    snprintf(ans, sizeof ans, "{\"accepted\":true,\"messageId\":\"%s\"}", id);
    tww_reply(self, m, 200, ans);
}

static sgw_err tww_init(void *st, const sgw_actor_env *env)
{
    tw_actor *self = st;
    self->env = env;
    self->app = env->app;
    if (env->thread_index != 0) {
        sgw_log(SGW_LOG_ERROR, "twwebhook", "actors.twwebhook.threads must be 1");
        return SGW_ECONFIG;
    }
    sgw_err e = sgw_rep_listen(env, &self->rep, SGW_TWWH_REQ_URL, "twwebhook");
    if (e != SGW_OK)
        return e;
    return sgw_actor_connect(env, "status", &self->to_status);
}

static void tww_handle(void *st, const sgw_msg *msgs, int n)
{
    tw_actor *self = st;
    for (int i = 0; i < n; i++) {
        const sgw_msg *m = &msgs[i];
        if (m->input == 0)
            continue; /* nothing comes on the pull input */
        if (m->type == SGW_MSG_RESULT && m->code == SGW_TWWH_INBOUND)
            tww_inbound(self, m);
        else if (m->type == SGW_MSG_RESULT && m->code == SGW_TWWH_REPORT)
            tww_report(self, m);
        else
            tww_reply(self, m, 400,
                      "{\"error\":\"Unsupported request\",\"code\":\"validation_error\"}");
    }
}

static void tww_fini(void *st) { (void)st; }

const struct sgw_actor_ops sgw_actor_twwebhook = {
    .name = "twwebhook",
    .state_size = sizeof(tw_actor),
    .init = tww_init,
    .handle = tww_handle,
    .fini = tww_fini,
    .drain_input = 1,
};
