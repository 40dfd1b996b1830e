/*
 * actors/sender.c — calls providers.
 *
 * Inputs:  DISPATCH (from ratelimit): a message to send; CHECK (from the
 *          scheduler): ask its provider for a delivery report.
 * Outputs: RESULT to status: PUBLISH for `sending`, OUTCOME for every
 *          provider answer (send results and delivery reports).
 * Order:   a batch of messages is first marked `sending` in ONE durable
 *          store write, and only then handed to providers, so a message a
 *          provider may have received is never seen as merely `queued`.
 *          Messages already terminal, sent or cancelled are skipped.
 * Providers: each thread owns one connection object per provider
 *          (transport/registry.c); a test key always uses "sim", a live key
 *          the first provider of transport.default_route. Providers are
 *          asynchronous: tick() polls them for finished outcomes, so no
 *          thread waits per message.
 * Stop:    drain() waits until no provider call is under way, so in-flight
 *          calls finish and their outcomes reach status before exit.
 * Tenants: a message of a suspended or inactive tenant fails with
 *          "Tenant suspended or inactive".
 */
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "bus/log.h"
#include "bus/util.h"

#define SENDER_MAX_PROVIDERS 8

typedef struct sender {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket to_status;
    const struct sgw_transport_ops *ops[SENDER_MAX_PROVIDERS];
    void *conn[SENDER_MAX_PROVIDERS];
    int nproviders;
    char live_route[24];
    /* per batch */
    sgw_sms *recs;
    int *go;
    int cap;
    sgw_tr_outcome *outcomes;
    char (*idbuf)[24];
    const char **ids;
    int *idx;
} sender;

static sgw_err sender_init(void *st, const sgw_actor_env *env)
{
    sender *self = st;
    self->env = env;
    self->app = env->app;
    self->cap = (int)sgw_cfg_int(env->cfg, "actors.sender.batch_max");
    if (self->cap <= 0)
        self->cap = 64;
    self->recs = calloc((size_t)self->cap, sizeof *self->recs);
    self->go = calloc((size_t)self->cap, sizeof *self->go);
    self->outcomes = calloc(256, sizeof *self->outcomes);
    self->idbuf = calloc((size_t)self->cap, sizeof *self->idbuf);
    self->ids = calloc((size_t)self->cap, sizeof *self->ids);
    self->idx = calloc((size_t)self->cap, sizeof *self->idx);
    if (!self->recs || !self->go || !self->outcomes || !self->idbuf || !self->ids || !self->idx)
        return SGW_ENOMEM;
    const struct sgw_transport_ops *const *all = sgw_transport_all();
    for (int i = 0; all[i] && i < SENDER_MAX_PROVIDERS; i++) {
        sgw_err rv = all[i]->create(&self->conn[i], env->cfg);
        if (rv != SGW_OK) {
            sgw_log(SGW_LOG_ERROR, "sender", "%s: cannot start: %s", all[i]->name,
                    sgw_strerror(rv));
            return rv;
        }
        self->ops[i] = all[i];
        self->nproviders = i + 1;
    }
    const config_setting_t *route = sgw_cfg_setting(env->cfg, "transport.default_route");
    const char *first = route ? config_setting_get_string_elem(route, 0) : NULL;
    snprintf(self->live_route, sizeof self->live_route, "%s", first ? first : "sim");
    return sgw_actor_connect(env, "status", &self->to_status);
}

static int sender_provider(sender *self, const char *name)
{
    for (int i = 0; i < self->nproviders; i++)
        if (strcmp(self->ops[i]->name, name) == 0)
            return i;
    return -1;
}

static void sender_emit(sender *self, const sgw_tr_outcome *o, const char *provider,
                        const char *tenant, const char *app)
{
    void *buf;
    size_t len;
    if (sgw_outcome_encode(o, provider, &buf, &len) != SGW_OK)
        return;
    sgw_msg r;
    sgw_msg_init(&r, SGW_MSG_RESULT, o->id);
    snprintf(r.tenant, sizeof r.tenant, "%s", tenant ? tenant : "");
    snprintf(r.app, sizeof r.app, "%s", app ? app : "");
    r.code = SGW_RES_OUTCOME;
    r.attempt = o->attempt;
    r.body = buf;
    r.body_len = len;
    /* status must hear every outcome: wait for room as long as it takes */
    if (sgw_actor_send(self->env, self->to_status, &r, -1) != SGW_OK)
        sgw_log(SGW_LOG_ERROR, "sender", "outcome of %s lost (status closed); the schedule "
                "brings the message back", o->id);
    free(buf);
}

static void sender_fail(sender *self, const sgw_sms *rec, const char *provider, const char *code,
                        const char *text)
{
    sgw_tr_outcome o = { .kind = SGW_TR_SEND_DONE, .result = SGW_SEND_PERMANENT,
                         .attempt = rec->nattempts + 1 };
    snprintf(o.id, sizeof o.id, "%s", rec->id);
    snprintf(o.error_code, sizeof o.error_code, "%s", code);
    snprintf(o.error_message, sizeof o.error_message, "%s", text);
    o.started_ms = o.finished_ms = sgw_now_ms();
    sender_emit(self, &o, provider, rec->tenant, rec->app);
}

static int sender_mark_sending(sgw_sms *m, void *ctx, int i)
{
    sender *self = ctx;
    self->go[i] = 0;
    if (m->status != SGW_ST_QUEUED && m->status != SGW_ST_SENDING)
        return 0; /* sent, cancelled, failed... by now */
    sgw_sms_set_status(m, SGW_ST_SENDING, sgw_now_ms());
    self->go[i] = 1;
    sgw_sms_clear(&self->recs[i]);
    sgw_sms_copy(&self->recs[i], m); /* with its current attempts */
    return 1;
}

static void sender_publish(sender *self, const sgw_sms *rec)
{
    void *buf;
    size_t len;
    if (sgw_sms_encode(rec, &buf, &len) != SGW_OK)
        return;
    sgw_msg r;
    sgw_msg_init(&r, SGW_MSG_RESULT, rec->id);
    r.code = SGW_RES_PUBLISH;
    r.body = buf;
    r.body_len = len;
    sgw_actor_send(self->env, self->to_status, &r, -1);
    free(buf);
}

static void sender_dispatch(sender *self, const sgw_msg *msgs, const int *idx, int n)
{
    int k = 0;
    for (int j = 0; j < n; j++) {
        const sgw_msg *m = &msgs[idx[j]];
        sgw_sms rec;
        if (sgw_sms_decode(m->body, m->body_len, &rec) != SGW_OK)
            continue;
        int active = sgw_store_tenant_active(self->app->store, rec.tenant);
        if (active != 1) {
            sender_fail(self, &rec, "", "tenant_inactive", "Tenant suspended or inactive");
            sgw_sms_clear(&rec);
            continue;
        }
        sgw_sms_clear(&self->recs[k]);
        self->recs[k] = rec;
        /* the mutator rewrites recs[]: keep the ids apart */
        snprintf(self->idbuf[k], sizeof self->idbuf[k], "%s", rec.id);
        self->ids[k] = self->idbuf[k];
        k++;
    }
    if (k == 0)
        return;
    if (sgw_store_sms_update(self->app->store, self->ids, k, sender_mark_sending, self, NULL) !=
        SGW_OK) {
        sgw_log(SGW_LOG_ERROR, "sender", "could not mark %d messages sending: their leases "
                "bring them back", k);
        return;
    }
    for (int i = 0; i < k; i++) {
        if (!self->go[i])
            continue;
        const sgw_sms *rec = &self->recs[i];
        sender_publish(self, rec);
        int p = sender_provider(self, rec->test ? "sim" : self->live_route);
        if (p < 0) {
            char why[96];
            snprintf(why, sizeof why, "Provider %s is not available", self->live_route);
            sender_fail(self, rec, self->live_route, "provider_unavailable", why);
            continue;
        }
        sgw_tr_sms s = { .id = rec->id, .tenant = rec->tenant, .to = rec->to,
                         .from = rec->from, .body = rec->body,
                         .attempt = rec->nattempts + 1, .test = rec->test };
        sgw_err rv = self->ops[p]->submit(self->conn[p], &s);
        if (rv != SGW_OK) {
            sgw_tr_outcome o = { .kind = SGW_TR_SEND_DONE, .result = SGW_SEND_RETRY,
                                 .attempt = s.attempt };
            snprintf(o.id, sizeof o.id, "%s", rec->id);
            snprintf(o.error_code, sizeof o.error_code, "provider_busy");
            snprintf(o.error_message, sizeof o.error_message, "%s could not take the message",
                     self->ops[p]->name);
            o.started_ms = o.finished_ms = sgw_now_ms();
            sender_emit(self, &o, self->ops[p]->name, rec->tenant, rec->app);
        }
    }
}

static void sender_check(sender *self, const sgw_msg *m)
{
    sgw_sms rec;
    if (sgw_sms_decode(m->body, m->body_len, &rec) != SGW_OK)
        return;
    int p = sender_provider(self, rec.provider[0] ? rec.provider : "sim");
    if (p >= 0 && (self->ops[p]->supports & SGW_TR_SUPPORTS_QUERY))
        self->ops[p]->query(self->conn[p], rec.id, rec.provider_msg_id, rec.to);
    sgw_sms_clear(&rec);
}

static void sender_handle(void *st, const sgw_msg *msgs, int n)
{
    sender *self = st;
    int *idx = self->idx;
    int nd = 0;
    for (int i = 0; i < n; i++) {
        if (msgs[i].type == SGW_MSG_DISPATCH) {
            idx[nd++] = i;
            if (nd == self->cap) {
                sender_dispatch(self, msgs, idx, nd);
                nd = 0;
            }
        } else if (msgs[i].type == SGW_MSG_CHECK) {
            sender_check(self, &msgs[i]);
        }
    }
    if (nd)
        sender_dispatch(self, msgs, idx, nd);
}

static int64_t sender_tick(void *st, int64_t now_mono)
{
    sender *self = st;
    int64_t now = sgw_now_ms(), next = -1;
    for (int p = 0; p < self->nproviders; p++) {
        int got;
        while ((got = self->ops[p]->poll(self->conn[p], now, self->outcomes, 256)) > 0)
            for (int i = 0; i < got; i++)
                sender_emit(self, &self->outcomes[i], self->ops[p]->name, NULL, NULL);
        int64_t d = self->ops[p]->next_deadline(self->conn[p]);
        if (d >= 0 && (next < 0 || d < next))
            next = d;
    }
    /* poll at least every 50 ms: a provider may finish work without a deadline */
    int64_t wait = next < 0 ? 50 : next - now;
    if (wait > 50)
        wait = 50;
    return now_mono + (wait < 0 ? 0 : wait);
}

static int sender_drain(void *st)
{
    sender *self = st;
    int inflight = 0;
    for (int p = 0; p < self->nproviders; p++)
        inflight += self->ops[p]->inflight(self->conn[p]);
    return inflight == 0;
}

static void sender_fini(void *st)
{
    sender *self = st;
    for (int p = 0; p < self->nproviders; p++)
        self->ops[p]->destroy(self->conn[p]);
    for (int i = 0; self->recs && i < self->cap; i++)
        sgw_sms_clear(&self->recs[i]);
    free(self->recs);
    free(self->go);
    free(self->outcomes);
    free(self->idbuf);
    free(self->ids);
    free(self->idx);
}

const struct sgw_actor_ops sgw_actor_sender = {
    .name = "sender",
    .state_size = sizeof(sender),
    .init = sender_init,
    .handle = sender_handle,
    .tick = sender_tick,
    .drain = sender_drain,
    .fini = sender_fini,
};
