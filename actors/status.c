/*
 * actors/status.c — the status publisher: the one writer of provider
 * outcomes, and the one publisher of status changes.
 *
 * Input:   RESULT: OUTCOME (a provider answer, from the sender) or PUBLISH
 *          (a change another actor already stored: sending, queued).
 * Outputs: the store; then sms_status JSON events on a pub0 socket
 *          (SGW_EVENTS_URL) for the WebSocket hub and app webhooks.
 * Order:   a batch of outcomes is applied in ONE store write, and only
 *          after it is durable are its events published: every status
 *          change is written before it is seen.
 * Retries: a retryable failure is retried (retry.max_retries times) after
 *          an exponential backoff with jitter (retry.base_ms * 2^(n-1),
 *          at most retry.max_ms, or longer if the provider asked), by
 *          putting the message back in the schedule; every attempt is kept
 *          in the record's providerAttempts.
 * Stop:    handles everything already queued before it exits (drain_input),
 *          so outcomes of in-flight calls are not lost at a drain.
 * Threads: one (outcomes of one message must be applied in order).
 */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "bus/log.h"
#include "bus/util.h"

typedef struct status_actor {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket pub;
    int max_retries;
    int64_t base_ms, max_ms, dlr_check_ms;
    double jitter;
    int cap;
    sgw_tr_outcome *oc;
    char (*provider)[24];
    sgw_sms *changed;   /* copies to publish after the write */
    int *did;
    const char **ids;
} status_actor;

static sgw_err status_init(void *st, const sgw_actor_env *env)
{
    status_actor *self = st;
    self->env = env;
    self->app = env->app;
    self->max_retries = (int)sgw_cfg_int(env->cfg, "retry.max_retries");
    self->base_ms = sgw_cfg_int(env->cfg, "retry.base_ms");
    self->max_ms = sgw_cfg_int(env->cfg, "retry.max_ms");
    self->jitter = sgw_cfg_float(env->cfg, "retry.jitter");
    self->dlr_check_ms = sgw_cfg_int(env->cfg, "actors.scheduler.dlr_check_ms");
    self->cap = (int)sgw_cfg_int(env->cfg, "actors.status.batch_max");
    if (self->cap <= 0)
        self->cap = 64;
    self->oc = calloc((size_t)self->cap, sizeof *self->oc);
    self->provider = calloc((size_t)self->cap, sizeof *self->provider);
    self->changed = calloc((size_t)self->cap, sizeof *self->changed);
    self->did = calloc((size_t)self->cap, sizeof *self->did);
    self->ids = calloc((size_t)self->cap, sizeof *self->ids);
    if (!self->oc || !self->provider || !self->changed || !self->did || !self->ids)
        return SGW_ENOMEM;
    if (env->thread_index == 0) {
        int rv;
        if ((rv = nng_pub0_open(&self->pub)) != 0 ||
            (rv = nng_listen(self->pub, SGW_EVENTS_URL, NULL, 0)) != 0) {
            sgw_log(SGW_LOG_ERROR, "status", "pub %s: %s", SGW_EVENTS_URL, nng_strerror(rv));
            return SGW_EIO;
        }
    }
    return SGW_OK;
}

static void status_publish(status_actor *self, const sgw_sms *rec)
{
    if (rec->status >= 0 && rec->status < SGW_ST_MAX)
        atomic_fetch_add_explicit(&self->app->status_events[rec->status], 1,
                                  memory_order_relaxed);
    char *json = sgw_event_json(rec);
    if (!json)
        return;
    /* pub0 never blocks: a subscriber that cannot keep up loses events */
    nng_send(self->pub, json, strlen(json), NNG_FLAG_NONBLOCK);
    free(json);
}

static int64_t status_backoff(status_actor *self, int attempt, int64_t retry_after)
{
    int64_t d = self->base_ms;
    for (int i = 1; i < attempt && d < self->max_ms; i++)
        d *= 2;
    if (d > self->max_ms)
        d = self->max_ms;
    uint32_t r = 0;
    RAND_bytes((unsigned char *)&r, sizeof r);
    double f = 1.0 + self->jitter * (2.0 * ((double)r / 4294967295.0) - 1.0);
    d = (int64_t)((double)d * f);
    return d < retry_after ? retry_after : d;
}

/* Count a provider's answer for /metrics. */
static void status_count(status_actor *self, const char *provider, const sgw_tr_outcome *o)
{
    const struct sgw_transport_ops *const *all = sgw_transport_all();
    for (int p = 0; all[p] && p < SGW_MAX_PROVIDERS; p++) {
        if (strcmp(all[p]->name, provider) != 0)
            continue;
        sgw_provider_stats *ps = &self->app->providers[p];
        atomic_fetch_add_explicit(&ps->attempts, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(o->result == SGW_SEND_OK      ? &ps->ok
                                  : o->result == SGW_SEND_RETRY ? &ps->retryable
                                                                : &ps->permanent,
                                  1, memory_order_relaxed);
        int64_t ms = o->finished_ms - o->started_ms;
        atomic_fetch_add_explicit(&ps->latency_ms_sum, (uint64_t)(ms > 0 ? ms : 0),
                                  memory_order_relaxed);
        return;
    }
}

static void status_set_error(sgw_sms *m, const sgw_tr_outcome *o)
{
    sgw_sms_set_str(&m->error, o->error_message[0] ? o->error_message : o->error_code);
    snprintf(m->error_code, sizeof m->error_code, "%s", o->error_code);
}

static int status_apply(sgw_sms *m, void *ctx, int i)
{
    status_actor *self = ctx;
    const sgw_tr_outcome *o = &self->oc[i];
    int64_t now = sgw_now_ms();
    self->did[i] = 0;
    if (o->kind == SGW_TR_REPORT) {
        if (m->status != SGW_ST_SENT && m->status != SGW_ST_SENDING)
            return 0; /* a late or repeated report */
        if (o->provider_msg_id[0] && !m->provider_msg_id[0])
            snprintf(m->provider_msg_id, sizeof m->provider_msg_id, "%s", o->provider_msg_id);
        if (o->result == SGW_SEND_OK) {
            sgw_sms_set_status(m, SGW_ST_DELIVERED, now);
        } else {
            status_set_error(m, o);
            sgw_sms_set_status(m, SGW_ST_FAILED, now);
        }
        m->due_kind = SGW_DUE_NONE;
        m->due_ms = 0;
    } else {
        if (m->status != SGW_ST_SENDING && m->status != SGW_ST_QUEUED)
            return 0; /* cancelled or finished meanwhile */
        status_count(self, self->provider[i], o);
        sgw_attempt a = { .started_ms = o->started_ms, .finished_ms = o->finished_ms,
                          .ok = o->result == SGW_SEND_OK };
        snprintf(a.provider, sizeof a.provider, "%s", self->provider[i]);
        snprintf(a.provider_msg_id, sizeof a.provider_msg_id, "%s", o->provider_msg_id);
        snprintf(a.error_code, sizeof a.error_code, "%s", o->error_code);
        a.error_message = o->error_message[0] ? (char *)o->error_message : NULL;
        sgw_sms_add_attempt(m, &a);
        if (self->provider[i][0])
            snprintf(m->provider, sizeof m->provider, "%s", self->provider[i]);
        switch (o->result) {
        case SGW_SEND_OK:
            snprintf(m->provider_msg_id, sizeof m->provider_msg_id, "%s", o->provider_msg_id);
            sgw_sms_set_status(m, SGW_ST_SENT, now);
            m->due_kind = SGW_DUE_DLR;
            m->due_ms = now + self->dlr_check_ms;
            break;
        case SGW_SEND_RETRY:
            if (m->nattempts <= self->max_retries) {
                sgw_sms_set_status(m, SGW_ST_QUEUED, now);
                m->due_kind = SGW_DUE_SEND;
                m->due_ms = now + status_backoff(self, m->nattempts, o->retry_after_ms);
                break;
            }
            status_set_error(m, o);
            sgw_sms_set_status(m, SGW_ST_FAILED, now);
            m->due_kind = SGW_DUE_NONE;
            m->due_ms = 0;
            break;
        case SGW_SEND_PERMANENT:
        case SGW_SEND_REJECTED:
            status_set_error(m, o);
            sgw_sms_set_status(m, o->result == SGW_SEND_REJECTED ? SGW_ST_REJECTED
                                                                 : SGW_ST_FAILED, now);
            m->due_kind = SGW_DUE_NONE;
            m->due_ms = 0;
            break;
        }
    }
    self->did[i] = 1;
    sgw_sms_clear(&self->changed[i]);
    sgw_sms_copy(&self->changed[i], m);
    return 1;
}

static void status_flush(status_actor *self, int n)
{
    if (n == 0)
        return;
    for (int i = 0; i < n; i++)
        self->ids[i] = self->oc[i].id;
    if (sgw_store_sms_update(self->app->store, self->ids, n, status_apply, self, NULL) != SGW_OK) {
        sgw_log(SGW_LOG_ERROR, "status", "could not store %d outcomes: the schedule brings "
                "those messages back", n);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (self->did[i])
            status_publish(self, &self->changed[i]);
        self->did[i] = 0;
        sgw_sms_clear(&self->changed[i]);
    }
}

static void status_handle(void *st, const sgw_msg *msgs, int n)
{
    status_actor *self = st;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const sgw_msg *m = &msgs[i];
        if (m->type != SGW_MSG_RESULT)
            continue;
        size_t off = 0, len;
        const void *item;
        while (sgw_list_next(m->body, m->body_len, &off, &item, &len)) {
            if (m->code == SGW_RES_PUBLISH) {
                sgw_sms rec;
                if (sgw_sms_decode(item, len, &rec) == SGW_OK)
                    status_publish(self, &rec);
                sgw_sms_clear(&rec);
                continue;
            }
            if (sgw_outcome_decode(item, len, &self->oc[k], self->provider[k]) != SGW_OK) {
                sgw_log(SGW_LOG_WARN, "status", "undecodable outcome dropped");
                continue;
            }
            if (++k == self->cap) {
                status_flush(self, k);
                k = 0;
            }
        }
    }
    status_flush(self, k);
}

static void status_fini(void *st)
{
    status_actor *self = st;
    if (self->env && self->env->thread_index == 0)
        nng_close(self->pub);
    free(self->oc);
    free(self->provider);
    free(self->changed);
    free(self->did);
    free(self->ids);
}

const struct sgw_actor_ops sgw_actor_status = {
    .name = "status",
    .state_size = sizeof(status_actor),
    .init = status_init,
    .handle = status_handle,
    .fini = status_fini,
    .drain_input = 1,
};
