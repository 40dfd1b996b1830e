/*
 * actors/status.c — the status publisher: the one writer of provider
 * outcomes, and the one publisher of status changes.
 *
 * Input:   RESULT: OUTCOME (a provider answer, from the sender) or PUBLISH
 *          (a change another actor already stored: sending, queued).
 * Outputs: the store; then sms_status JSON events, twice: on a pub0 socket
 *          that listens on SGW_EVENTS_URL (the WebSocket hub dials it; pub0
 *          never waits: a subscriber that falls behind loses events, and
 *          the hub closes its slow sessions anyway), and on a push0 socket
 *          dialed to the webhooks actor's SGW_WEBHOOK_EVENTS_URL (every
 *          sms_inbound, and the sms_status of apps with a webhook), which
 *          waits while that queue is full (back-pressure: a burst slows
 *          this actor down to the outbox's write rate instead of losing
 *          webhook events; after WH_SEND_TIMEOUT_MS of a stuck webhooks
 *          actor the event is dropped, logged and counted).
 * Inbound: an INBOUND outcome (a provider handed back an SMS to one of our
 *          numbers: the simulator's story 0008, later the RingCentral and
 *          Twilio webhooks) becomes a new `received` message of the tenant
 *          (and the app of the message it answers, if any), then an
 *          sms_inbound event. Its id is derived from (tenant, provider,
 *          provider message id), so the same inbound SMS heard twice (a
 *          replayed report, a webhook delivered again) is stored once.
 *          Inbound outcomes of a batch are handled after its other
 *          outcomes are stored and published (a reply after its delivery).
 * Order:   a batch of outcomes is applied in ONE store write, and only
 *          after it is durable are its events published: every status
 *          change is written before it is seen.
 * Retries: a retryable failure is retried (retry.max_retries attempts
 *          after the first, in all) by putting the message back in the
 *          schedule; every attempt is kept in the record's providerAttempts.
 *          Failover: a failure the sender marked SGW_TR_FAILOVER (its
 *          provider is not the last of the message's route) is due again at
 *          once (the sender then takes the next provider, actors.h
 *          sgw_route_start); otherwise it waits an exponential backoff with
 *          jitter (retry.base_ms * 2^(n-1) for its n-th failure in a row at
 *          that provider, at most retry.max_ms, or longer if the provider
 *          asked). A DEFERRED outcome (every circuit of the route open) is
 *          no attempt: the message stays queued, due when a circuit
 *          half-opens.
 * Stop:    handles everything already queued before it exits (drain_input),
 *          so outcomes of in-flight calls are not lost at a drain.
 * Threads: one (outcomes of one message must be applied in order).
 */
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "actors/sms/hooked.h"
#include "actors/sms/phone.h"
#include "actors/sms/text.h"
#include "bus/log.h"
#include "bus/util.h"

/* Publication order. Status changes reach this actor from several actors
 * (validator: queued, scheduler: queued, sender: sending, HTTP: cancelled,
 * this actor: the outcomes) over separate nng pipes, which keep each
 * sender's order but not the order between senders: a `sending` may come in
 * before the `queued` of the same message. So events are published from
 * the record's stored history: pubmap remembers, per message published in
 * the last PUB_WINDOW_MS, how many of its events are out; a record brings
 * the ones after those (in order), and a record with nothing new (a late
 * `queued` after its `sending`) is skipped. A message not in pubmap had
 * nothing published for PUB_WINDOW_MS: its events since then (and since
 * this process started) go out. */
#define PUB_WINDOW_MS 30000
/* How long an event waits for room in the webhooks actor's queue. */
#define WH_SEND_TIMEOUT_MS 10000
#define PUB_BUCKETS 65536

typedef struct pub_entry {
    char id[24];
    int count;              /* events published */
    int64_t last_ms;        /* wall ms of the last publication */
    struct pub_entry *next;
} pub_entry;

typedef struct status_actor {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket pub;
    nng_socket wh;  /* push0 to the webhooks actor */
    sgw_hooked hooked; /* which apps have a webhook (actors/sms/hooked.h) */
    int max_retries;
    int64_t base_ms, max_ms, dlr_check_ms;
    double jitter;
    int cap;
    sgw_tr_outcome *oc;
    char (*provider)[24];
    sgw_sms *changed;   /* copies to publish after the write */
    int *did;
    const char **ids;
    sgw_tr_outcome *inb; /* inbound SMS of the batch, handled after the rest */
    char (*inb_provider)[24];
    int ninb;
    pub_entry **pubmap;   /* PUB_BUCKETS chains */
    int64_t start_ms, purge_ms;
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
    self->inb = calloc((size_t)self->cap, sizeof *self->inb);
    self->inb_provider = calloc((size_t)self->cap, sizeof *self->inb_provider);
    if (!self->oc || !self->provider || !self->changed || !self->did || !self->ids ||
        !self->inb || !self->inb_provider)
        return SGW_ENOMEM;
    self->start_ms = sgw_now_ms();
    self->purge_ms = self->start_ms + PUB_WINDOW_MS;
    self->pubmap = calloc(PUB_BUCKETS, sizeof *self->pubmap);
    if (!self->pubmap)
        return SGW_ENOMEM;
    if (env->thread_index == 0) {
        int rv;
        /* pub0 drops the oldest message of a subscriber's queue when it is
         * full (16 by default): the most nng allows, so a burst published
         * in one tight loop reaches the hub and the webhooks actor */
        if ((rv = nng_pub0_open(&self->pub)) != 0 ||
            (rv = nng_socket_set_int(self->pub, NNG_OPT_SENDBUF, 8192)) != 0 ||
            (rv = nng_listen(self->pub, SGW_EVENTS_URL, NULL, 0)) != 0) {
            sgw_log(SGW_LOG_ERROR, "status", "pub %s: %s", SGW_EVENTS_URL, nng_strerror(rv));
            return SGW_EIO;
        }
        /* the webhooks actor started before this one and listens: connected
         * now, before any event, or the start fails */
        if ((rv = nng_push0_open(&self->wh)) != 0 ||
            (rv = nng_socket_set_ms(self->wh, NNG_OPT_SENDTIMEO, WH_SEND_TIMEOUT_MS)) != 0 ||
            (rv = nng_dial(self->wh, SGW_WEBHOOK_EVENTS_URL, NULL, 0)) != 0) {
            sgw_log(SGW_LOG_ERROR, "status", "push %s: %s", SGW_WEBHOOK_EVENTS_URL,
                    nng_strerror(rv));
            return SGW_EIO;
        }
    }
    return SGW_OK;
}

static unsigned pub_bucket(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % PUB_BUCKETS;
}

/* Forget the messages with nothing published for PUB_WINDOW_MS. */
static void pub_purge(status_actor *self, int64_t now)
{
    for (int b = 0; b < PUB_BUCKETS; b++)
        for (pub_entry **pp = &self->pubmap[b]; *pp;) {
            pub_entry *e = *pp;
            if (now - e->last_ms > PUB_WINDOW_MS) {
                *pp = e->next;
                free(e);
            } else {
                pp = &e->next;
            }
        }
}

static void publish_one(status_actor *self, const sgw_sms *rec)
{
    if (rec->status >= 0 && rec->status < SGW_ST_MAX)
        atomic_fetch_add_explicit(&self->app->status_events[rec->status], 1,
                                  memory_order_relaxed);
    char *json = sgw_event_json(rec);
    if (!json)
        return;
    size_t len = strlen(json);
    /* pub0 never blocks: a WebSocket hub that cannot keep up loses events */
    nng_send(self->pub, json, len, NNG_FLAG_NONBLOCK);
    /* the webhooks actor's queue: waits for room (see the top). It gets
     * every sms_inbound (each app of the tenant may want it) and the
     * sms_status of apps with a webhook: the others would cost it a wake-up
     * and a parse per event for nothing. */
    if (rec->direction != SGW_DIR_INBOUND &&
        (!rec->app[0] || !sgw_hooked_has(&self->hooked, self->app->store, rec->app))) {
        free(json);
        return;
    }
    int rv = nng_send(self->wh, json, len, 0);
    if (rv != 0) {
        atomic_fetch_add_explicit(&self->app->webhook_events_lost, 1, memory_order_relaxed);
        sgw_log(SGW_LOG_ERROR, "status", "an event of %s did not reach the webhooks actor "
                "(%s): its app webhooks will not be sent", rec->id, nng_strerror(rv));
    }
    free(json);
}

static void status_publish(status_actor *self, const sgw_sms *rec)
{
    if (rec->direction == SGW_DIR_INBOUND || rec->nevents <= 0 || !self->pubmap) {
        publish_one(self, rec);
        return;
    }
    int64_t now = sgw_now_ms();
    if (now >= self->purge_ms) {
        pub_purge(self, now);
        self->purge_ms = now + PUB_WINDOW_MS / 3;
    }
    unsigned b = pub_bucket(rec->id);
    pub_entry *e = self->pubmap[b];
    while (e && strcmp(e->id, rec->id) != 0)
        e = e->next;
    int from;
    if (e && now - e->last_ms <= PUB_WINDOW_MS) {
        if (rec->nevents <= e->count)
            return; /* nothing new: a late copy */
        from = e->count;
    } else {
        int64_t cutoff = now - PUB_WINDOW_MS > self->start_ms ? now - PUB_WINDOW_MS
                                                              : self->start_ms;
        from = rec->nevents - 1;
        while (from > 0 && rec->events[from - 1].at_ms >= cutoff)
            from--;
    }
    /* the events before the last, as they were (status and time); the
     * last is the record itself */
    for (int i = from; i < rec->nevents - 1; i++) {
        sgw_sms ev = *rec;
        ev.status = rec->events[i].status;
        ev.updated_ms = rec->events[i].at_ms;
        ev.error = NULL;
        if (ev.status != SGW_ST_SENT && ev.status != SGW_ST_DELIVERED)
            ev.provider_msg_id[0] = '\0';
        publish_one(self, &ev);
    }
    publish_one(self, rec);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return;
        snprintf(e->id, sizeof e->id, "%s", rec->id);
        e->next = self->pubmap[b];
        self->pubmap[b] = e;
    }
    e->count = rec->nevents;
    e->last_ms = now;
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
    } else if (o->flags & SGW_TR_DEFERRED) {
        if (m->status != SGW_ST_QUEUED)
            return 0; /* cancelled or finished meanwhile */
        m->due_kind = SGW_DUE_SEND;
        m->due_ms = now + (o->retry_after_ms > 0 ? o->retry_after_ms : 1000);
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
                if (o->flags & SGW_TR_FAILOVER) {
                    m->due_ms = now; /* to the route's next provider at once */
                } else {
                    /* the n-th failure in a row at this provider */
                    int fails = 0;
                    for (int j = m->nattempts - 1; j >= 0 && !m->attempts[j].ok &&
                                                   strcmp(m->attempts[j].provider,
                                                          self->provider[i]) == 0;
                         j--)
                        fails++;
                    m->due_ms = now + status_backoff(self, fails, o->retry_after_ms);
                }
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

/* An inbound SMS: stored as a `received` message, then published
 * (sms_inbound). Its tenant is the outcome's, or that of the message it
 * answers (o->id), whose app and test flag it takes too. */
static void status_inbound(status_actor *self, const sgw_tr_outcome *o, const char *provider)
{
    sgw_sms rec = { 0 };
    snprintf(rec.tenant, sizeof rec.tenant, "%s", o->tenant);
    if (o->id[0]) {
        sgw_sms orig;
        if (sgw_store_sms_get(self->app->store, o->id, &orig) == SGW_OK) {
            snprintf(rec.tenant, sizeof rec.tenant, "%s", orig.tenant);
            snprintf(rec.app, sizeof rec.app, "%s", orig.app);
            rec.test = orig.test;
            sgw_sms_clear(&orig);
        }
    }
    if (!rec.tenant[0] || !o->provider_msg_id[0] || !o->from[0] || !o->to[0]) {
        sgw_log(SGW_LOG_WARN, "status", "%s: inbound SMS %s without tenant, id or numbers "
                "dropped", provider, o->provider_msg_id);
        return;
    }
    int dup;
    sgw_err rv = sgw_inbound_id(self->app->store, rec.tenant, provider, o->provider_msg_id,
                                rec.id, &dup);
    if (rv != SGW_OK) {
        sgw_log(SGW_LOG_ERROR, "status", "%s: inbound SMS %s not stored: %s", provider,
                o->provider_msg_id, sgw_strerror(rv));
        return;
    }
    if (dup) {
        sgw_log(SGW_LOG_INFO, "status", "%s: inbound SMS %s heard again: already stored as %s",
                provider, o->provider_msg_id, rec.id);
        return;
    }
    int64_t now = sgw_now_ms();
    const char *body = o->body ? o->body : "";
    sgw_text_info ti;
    if (sgw_text_analyze(body, strlen(body), &ti) == SGW_OK) {
        rec.encoding = ti.encoding;
        rec.segments = ti.segments;
    }
    rec.direction = SGW_DIR_INBOUND;
    snprintf(rec.from, sizeof rec.from, "%s", o->from);
    snprintf(rec.to, sizeof rec.to, "%s", o->to);
    const char *cc = sgw_phone_country(o->from);
    snprintf(rec.country, sizeof rec.country, "%s", cc ? cc : "");
    snprintf(rec.provider, sizeof rec.provider, "%s", provider);
    snprintf(rec.provider_msg_id, sizeof rec.provider_msg_id, "%s", o->provider_msg_id);
    rec.created_ms = now;
    rec.due_kind = SGW_DUE_NONE;
    sgw_sms *one = &rec;
    if (sgw_sms_set_str(&rec.body, body) != SGW_OK ||
        sgw_sms_set_status(&rec, SGW_ST_RECEIVED, now) != SGW_OK ||
        (rv = sgw_store_sms_insert(self->app->store, &one, 1)) != SGW_OK)
        sgw_log(SGW_LOG_ERROR, "status", "%s: inbound SMS %s not stored", provider,
                o->provider_msg_id);
    else
        status_publish(self, &rec);
    sgw_sms_clear(&rec);
}

/* Store and publish the gathered inbound SMS; the other outcomes gathered
 * (k of them) first. */
static void status_flush_all(status_actor *self, int k)
{
    status_flush(self, k);
    for (int i = 0; i < self->ninb; i++) {
        status_inbound(self, &self->inb[i], self->inb_provider[i]);
        free(self->inb[i].body);
        self->inb[i].body = NULL;
    }
    self->ninb = 0;
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
            if (self->oc[k].kind == SGW_TR_INBOUND) {
                self->inb[self->ninb] = self->oc[k]; /* with its body */
                snprintf(self->inb_provider[self->ninb], sizeof self->inb_provider[0], "%s",
                         self->provider[k]);
                self->oc[k].body = NULL;
                if (++self->ninb == self->cap) {
                    status_flush_all(self, k);
                    k = 0;
                }
                continue;
            }
            free(self->oc[k].body);
            self->oc[k].body = NULL;
            if (++k == self->cap) {
                status_flush(self, k);
                k = 0;
            }
        }
    }
    status_flush_all(self, k);
}

static void status_fini(void *st)
{
    status_actor *self = st;
    if (self->env && self->env->thread_index == 0) {
        nng_close(self->pub);
        nng_close(self->wh);
    }
    if (self->pubmap) {
        pub_purge(self, INT64_MAX / 2);
        free(self->pubmap);
    }
    free(self->oc);
    free(self->provider);
    free(self->changed);
    free(self->did);
    free(self->ids);
    for (int i = 0; self->inb && i < self->ninb; i++)
        free(self->inb[i].body);
    free(self->inb);
    free(self->inb_provider);
}

const struct sgw_actor_ops sgw_actor_status = {
    .name = "status",
    .state_size = sizeof(status_actor),
    .init = status_init,
    .handle = status_handle,
    .fini = status_fini,
    .drain_input = 1,
};
