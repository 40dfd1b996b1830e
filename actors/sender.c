/*
 * actors/sender.c — calls providers.
 *
 * Inputs:  DISPATCH (from ratelimit): a message to send; CHECK (from the
 *          scheduler): ask its provider for a delivery report.
 * Outputs: RESULT to status: PUBLISH for `sending`, OUTCOME for every
 *          provider answer (send results, delivery reports, and inbound
 *          SMS a provider hands back); each a list, one bus message per
 *          batch.
 * Order:   a batch of messages is first marked `sending` in ONE durable
 *          store write, and only then handed to providers, so a message a
 *          provider may have received is never seen as merely `queued`.
 *          Messages already terminal, sent or cancelled are skipped.
 * Providers: each thread owns one connection object per provider
 *          (transport/registry.c). A message's route (sgw_route_load) is
 *          transport.test_route for a test key, the first provider of
 *          transport.default_route for a live key; each attempt goes to
 *          route[sgw_route_index]: the number of failures in a row at the
 *          end of its providerAttempts, at most the last provider. So a
 *          retryable failure moves the message to the route's next provider
 *          (the status actor re-schedules it at once, without backoff).
 *          Providers are asynchronous: tick() polls them for finished
 *          outcomes, so no thread waits per message; the sockets they wait
 *          on are polled with the actor's inputs (fds), so an answer is
 *          handled at once.
 * Accounts: a provider that needs the tenant's connection (RingCentral)
 *          gets it from the store (secrets opened), cached per tenant; the
 *          cache is checked against the stored version once per batch, so
 *          a new connection or a disconnect counts from the next batch. A
 *          tenant without one fails the message with "<Provider> not
 *          connected for this tenant".
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
#define ACCOUNT_CACHE_MAX 256

typedef struct account_entry {
    char tenant[32];
    int provider;
    char *json;          /* NULL: not connected (or not readable) */
    sgw_err err;
    int64_t version, used_ms;
    uint64_t checked_batch;  /* the batch in which the version was checked */
} account_entry;

typedef struct sender {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket to_status;
    const struct sgw_transport_ops *ops[SENDER_MAX_PROVIDERS];
    void *conn[SENDER_MAX_PROVIDERS];
    int nproviders;
    sgw_route route[2];  /* [0] live, [1] test */
    /* per batch */
    sgw_sms *recs;
    int *go;
    int cap;
    sgw_tr_outcome *outcomes;
    char (*idbuf)[24];
    const char **ids;
    sgw_list outcome_list, publish_list;
    account_entry accounts[ACCOUNT_CACHE_MAX];
    int naccounts;
    sgw_tr_host host;
    uint64_t batch_no;
} sender;

static void sender_save_secret(void *ctx, const char *tenant, const char *provider,
                               const char *patch)
{
    sender *self = ctx;
    sgw_err rv = sgw_store_conn_patch_secret(self->app->store, tenant, provider, patch);
    if (rv != SGW_OK && rv != SGW_ENOENT)
        sgw_log(SGW_LOG_ERROR, "sender", "%s: could not keep %s's rotated token: %s", tenant,
                provider, sgw_strerror(rv));
}

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
    if (!self->recs || !self->go || !self->outcomes || !self->idbuf || !self->ids)
        return SGW_ENOMEM;
    self->host = (sgw_tr_host){ .ctx = self, .save_secret = sender_save_secret };
    const struct sgw_transport_ops *const *all = sgw_transport_all();
    for (int i = 0; all[i] && i < SENDER_MAX_PROVIDERS; i++) {
        sgw_err rv = all[i]->create(&self->conn[i], env->cfg, &self->host);
        if (rv != SGW_OK) {
            sgw_log(SGW_LOG_ERROR, "sender", "%s: cannot start: %s", all[i]->name,
                    sgw_strerror(rv));
            return rv;
        }
        self->ops[i] = all[i];
        self->nproviders = i + 1;
    }
    sgw_route_load(env->cfg, 0, &self->route[0]);
    sgw_route_load(env->cfg, 1, &self->route[1]);
    for (int i = 0; i < self->route[1].n; i++)
        if (!sgw_transport_find(self->route[1].name[i])) {
            sgw_log(SGW_LOG_ERROR, "sender", "transport.test_route: no provider named %s",
                    self->route[1].name[i]);
            return SGW_ECONFIG;
        }
    return sgw_actor_connect(env, "status", &self->to_status);
}

static int sender_provider(sender *self, const char *name)
{
    for (int i = 0; i < self->nproviders; i++)
        if (strcmp(self->ops[i]->name, name) == 0)
            return i;
    return -1;
}

/* The tenant's connection to provider p (cached): SGW_OK with *json and
 * *version, or the store's error (SGW_ENOENT: not connected). */
static void account_forget(account_entry *e)
{
    if (e->json) {
        memset(e->json, 0, strlen(e->json));
        free(e->json);
        e->json = NULL;
    }
}

static sgw_err sender_account(sender *self, const char *tenant, int p, const char **json,
                              int64_t *version)
{
    int64_t now = sgw_now_ms();
    account_entry *e = NULL, *oldest = NULL;
    for (int i = 0; i < self->naccounts; i++) {
        account_entry *x = &self->accounts[i];
        if (x->provider == p && strcmp(x->tenant, tenant) == 0) {
            e = x;
            break;
        }
        if (!oldest || x->used_ms < oldest->used_ms)
            oldest = x;
    }
    if (!e) {
        e = self->naccounts < ACCOUNT_CACHE_MAX ? &self->accounts[self->naccounts++] : oldest;
        account_forget(e);
        memset(e, 0, sizeof *e);
        snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
        e->provider = p;
    }
    e->used_ms = now;
    if (e->checked_batch != self->batch_no || !e->checked_batch) {
        e->checked_batch = self->batch_no;
        int64_t v = 0;
        sgw_err rv = sgw_store_conn_version(self->app->store, tenant, self->ops[p]->name, &v);
        if (rv != SGW_OK) {
            account_forget(e);
            e->err = rv;
        } else if (!e->json || e->version != v) {
            account_forget(e);
            e->err = sgw_store_conn_account(self->app->store, tenant, self->ops[p]->name,
                                            &e->json, &e->version);
        }
    }
    *json = e->json;
    *version = e->version;
    return e->err;
}

/* Outcomes and publications are gathered in lists and sent to status once
 * per handle/tick (sender_flush): one bus transfer per batch. */
static void sender_emit(sender *self, const sgw_tr_outcome *o, const char *provider)
{
    void *buf;
    size_t len;
    if (sgw_outcome_encode(o, provider, &buf, &len) != SGW_OK)
        return;
    sgw_list_add(&self->outcome_list, buf, len);
    free(buf);
}

static void sender_flush(sender *self)
{
    /* `sending` first: a message's events are published in order. Status
     * must hear every outcome: wait for room as long as it takes. */
    sgw_list_send(self->env, self->to_status, SGW_MSG_RESULT, SGW_RES_PUBLISH,
                  &self->publish_list, -1);
    int n = self->outcome_list.n;
    if (sgw_list_send(self->env, self->to_status, SGW_MSG_RESULT, SGW_RES_OUTCOME,
                      &self->outcome_list, -1) != SGW_OK)
        sgw_log(SGW_LOG_ERROR, "sender", "%d outcomes lost (status closed); the schedule "
                "brings their messages back", n);
}

static void sender_fail(sender *self, const sgw_sms *rec, const char *provider, const char *code,
                        const char *text, sgw_send_result result)
{
    sgw_tr_outcome o = { .kind = SGW_TR_SEND_DONE, .result = result,
                         .attempt = rec->nattempts + 1 };
    snprintf(o.id, sizeof o.id, "%s", rec->id);
    snprintf(o.error_code, sizeof o.error_code, "%s", code);
    snprintf(o.error_message, sizeof o.error_message, "%s", text);
    o.started_ms = o.finished_ms = sgw_now_ms();
    sender_emit(self, &o, provider);
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
    sgw_list_add(&self->publish_list, buf, len);
    free(buf);
}

/* Send the k records gathered in recs[]. */
static void sender_dispatch(sender *self, int k)
{
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
        const sgw_route *route = &self->route[rec->test ? 1 : 0];
        const char *name = route->name[sgw_route_index(rec, route->n)];
        int p = sender_provider(self, name);
        if (p < 0) {
            char why[96];
            snprintf(why, sizeof why, "Provider %s is not available", name);
            sender_fail(self, rec, name, "provider_unavailable", why, SGW_SEND_PERMANENT);
            continue;
        }
        sgw_tr_sms s = { .id = rec->id, .tenant = rec->tenant, .to = rec->to,
                         .from = rec->from, .body = rec->body,
                         .attempt = rec->nattempts + 1, .test = rec->test };
        if (self->ops[p]->supports & SGW_TR_NEEDS_ACCOUNT) {
            sgw_err rv = sender_account(self, rec->tenant, p, &s.account, &s.account_version);
            if (rv != SGW_OK) {
                char why[160];
                if (rv == SGW_ENOENT)
                    snprintf(why, sizeof why, "%s not connected for this tenant",
                             self->ops[p]->title);
                else
                    snprintf(why, sizeof why, "%s connection cannot be read (%s): connect "
                             "it again", self->ops[p]->title, sgw_strerror(rv));
                sender_fail(self, rec, self->ops[p]->name, "provider_not_connected", why,
                            SGW_SEND_PERMANENT);
                continue;
            }
        }
        if (self->ops[p]->submit(self->conn[p], &s) != SGW_OK) {
            char why[96];
            snprintf(why, sizeof why, "%s could not take the message", self->ops[p]->name);
            sender_fail(self, rec, self->ops[p]->name, "provider_busy", why, SGW_SEND_RETRY);
        }
    }
}

/* One record of a DISPATCH list: checked, then gathered at recs[*k]. */
static void sender_take(sender *self, const void *item, size_t len, int *k)
{
    sgw_sms rec;
    if (sgw_sms_decode(item, len, &rec) != SGW_OK)
        return;
    if (sgw_store_tenant_active(self->app->store, rec.tenant) != 1) {
        sender_fail(self, &rec, "", "tenant_inactive", "Tenant suspended or inactive",
                    SGW_SEND_PERMANENT);
        sgw_sms_clear(&rec);
        return;
    }
    sgw_sms_clear(&self->recs[*k]);
    self->recs[*k] = rec;
    /* the mutator rewrites recs[]: keep the ids apart */
    snprintf(self->idbuf[*k], sizeof self->idbuf[*k], "%s", rec.id);
    self->ids[*k] = self->idbuf[*k];
    if (++*k == self->cap) {
        sender_dispatch(self, *k);
        *k = 0;
    }
}

static void sender_check(sender *self, const void *item, size_t len)
{
    sgw_sms rec;
    if (sgw_sms_decode(item, len, &rec) != SGW_OK)
        return;
    int p = sender_provider(self, rec.provider[0] ? rec.provider : "sim");
    if (p >= 0 && (self->ops[p]->supports & SGW_TR_SUPPORTS_QUERY)) {
        sgw_tr_sms s = { .id = rec.id, .tenant = rec.tenant, .to = rec.to, .from = rec.from,
                         .body = rec.body, .attempt = rec.nattempts, .test = rec.test };
        if (!(self->ops[p]->supports & SGW_TR_NEEDS_ACCOUNT) ||
            sender_account(self, rec.tenant, p, &s.account, &s.account_version) == SGW_OK)
            self->ops[p]->query(self->conn[p], &s, rec.provider_msg_id);
    }
    sgw_sms_clear(&rec);
}

static int64_t sender_pump(sender *self);

static void sender_handle(void *st, const sgw_msg *msgs, int n)
{
    sender *self = st;
    self->batch_no++; /* connections are checked against the store once per batch */
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t off = 0, len;
        const void *item;
        if (msgs[i].type == SGW_MSG_DISPATCH) {
            while (sgw_list_next(msgs[i].body, msgs[i].body_len, &off, &item, &len))
                sender_take(self, item, len, &k);
        } else if (msgs[i].type == SGW_MSG_CHECK) {
            while (sgw_list_next(msgs[i].body, msgs[i].body_len, &off, &item, &len))
                sender_check(self, item, len);
        }
    }
    sender_dispatch(self, k);
    sender_flush(self);
    sender_pump(self); /* start the providers' requests now, not at the next tick */
}

/* Drive every provider and hand on what finished; returns the wall ms at
 * which one next has something, or -1. */
static int64_t sender_pump(sender *self)
{
    int64_t now = sgw_now_ms(), next = -1;
    for (int p = 0; p < self->nproviders; p++) {
        int got;
        while ((got = self->ops[p]->poll(self->conn[p], now, self->outcomes, 256)) > 0)
            for (int i = 0; i < got; i++) {
                sender_emit(self, &self->outcomes[i], self->ops[p]->name);
                free(self->outcomes[i].body); /* an inbound SMS's text, now encoded */
                self->outcomes[i].body = NULL;
            }
        sender_flush(self);
        int64_t d = self->ops[p]->next_deadline(self->conn[p]);
        if (d >= 0 && (next < 0 || d < next))
            next = d;
    }
    return next;
}

static int64_t sender_tick(void *st, int64_t now_mono)
{
    sender *self = st;
    int64_t now = sgw_now_ms(), next = sender_pump(self);
    /* poll at least every 50 ms: a provider may finish work without a deadline */
    int64_t wait = next < 0 ? 50 : next - now;
    if (wait > 50)
        wait = 50;
    return now_mono + (wait < 0 ? 0 : wait);
}

static int sender_fds(void *st, struct pollfd *pfd, int max)
{
    sender *self = st;
    int n = 0;
    for (int p = 0; p < self->nproviders && n < max; p++)
        if (self->ops[p]->fds)
            n += self->ops[p]->fds(self->conn[p], pfd + n, max - n);
    return n;
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
    sgw_list_free(&self->outcome_list);
    sgw_list_free(&self->publish_list);
    for (int i = 0; i < self->naccounts; i++)
        account_forget(&self->accounts[i]);
}

const struct sgw_actor_ops sgw_actor_sender = {
    .name = "sender",
    .state_size = sizeof(sender),
    .init = sender_init,
    .handle = sender_handle,
    .tick = sender_tick,
    .drain = sender_drain,
    .fini = sender_fini,
    .fds = sender_fds,
};
