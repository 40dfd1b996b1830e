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
 *          (transport/registry.c). A message's route is transport.test_route
 *          for a test key; for a live key, its tenant's route (PUT
 *          /v1/tenants/:id/route) or else transport.default_route. Each
 *          attempt starts at sgw_route_start (actors.h: the provider after
 *          the one that just failed, the first otherwise) and takes the
 *          first provider from there, wrapping around, whose circuit
 *          breaker (transport/circuit.h, one per provider connection,
 *          shared by the sender threads) lets a call through. A retryable
 *          failure with a provider after this one in the route is marked
 *          SGW_TR_FAILOVER: the status actor makes it due at once. When
 *          every circuit of the route is open the message is DEFERRED: not
 *          marked sending, not an attempt, due again when the first
 *          half-opens. Test keys never reach a real provider and use no
 *          breakers. Whether a timed-out call was sent is the adapter's to
 *          settle before it reports a retryable failure (it looks the
 *          message up), so failover never sends a message twice.
 *          Providers are asynchronous: tick() polls them for finished
 *          outcomes, so no thread waits per message; the sockets they wait
 *          on are polled with the actor's inputs (fds), so an answer is
 *          handled at once. Each call under way is remembered (inflight
 *          map: id -> tenant, provider, route position) to count its answer
 *          in the right breaker and to mark it FAILOVER.
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

/* A call under way (open addressing with backward-shift deletion). */
typedef struct inflight_entry {
    char id[24];        /* "" = free */
    char tenant[32];    /* the breaker's tenant ("" for shared providers) */
    short provider;     /* index in ops[] */
    short more;         /* the route has a provider after this one */
    short breaker;      /* counted in a breaker */
} inflight_entry;

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
    sgw_route route[2];  /* [0] live, [1] test (configured) */
    /* per batch */
    sgw_sms *recs;
    sgw_route *routes;   /* each record's route */
    int *go, *prov, *more, *took;
    int64_t *until;      /* deferred (prov -1): due again then */
    int cap;
    sgw_tr_outcome *outcomes;
    char (*idbuf)[24];
    const char **ids;
    sgw_list outcome_list, publish_list;
    account_entry accounts[ACCOUNT_CACHE_MAX];
    int naccounts;
    sgw_tr_host host;
    uint64_t batch_no;
    inflight_entry *inflight;
    size_t inflight_cap, inflight_n;
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
    self->prov = calloc((size_t)self->cap, sizeof *self->prov);
    self->more = calloc((size_t)self->cap, sizeof *self->more);
    self->took = calloc((size_t)self->cap, sizeof *self->took);
    self->until = calloc((size_t)self->cap, sizeof *self->until);
    self->routes = calloc((size_t)self->cap, sizeof *self->routes);
    self->inflight_cap = 1024;
    self->inflight = calloc(self->inflight_cap, sizeof *self->inflight);
    self->outcomes = calloc(256, sizeof *self->outcomes);
    self->idbuf = calloc((size_t)self->cap, sizeof *self->idbuf);
    self->ids = calloc((size_t)self->cap, sizeof *self->ids);
    if (!self->recs || !self->go || !self->outcomes || !self->idbuf || !self->ids ||
        !self->prov || !self->more || !self->took || !self->until || !self->routes ||
        !self->inflight)
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

/* ---------------------------------------------------------------- inflight map */

static size_t inflight_slot(const sender *self, const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a: a table index */
    for (const char *c = id; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    return h & (self->inflight_cap - 1);
}

static inflight_entry *inflight_find(sender *self, const char *id)
{
    for (size_t i = inflight_slot(self, id);; i = (i + 1) & (self->inflight_cap - 1)) {
        inflight_entry *e = &self->inflight[i];
        if (!e->id[0])
            return NULL;
        if (strcmp(e->id, id) == 0)
            return e;
    }
}

static void inflight_put(sender *self, const inflight_entry *x)
{
    if ((self->inflight_n + 1) * 2 > self->inflight_cap) {
        inflight_entry *old = self->inflight;
        size_t oldcap = self->inflight_cap;
        inflight_entry *grown = calloc(oldcap * 2, sizeof *grown);
        if (!grown)
            return; /* its answer is then counted in no breaker */
        self->inflight = grown;
        self->inflight_cap = oldcap * 2;
        self->inflight_n = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].id[0])
                inflight_put(self, &old[i]);
        free(old);
    }
    size_t i = inflight_slot(self, x->id);
    while (self->inflight[i].id[0] && strcmp(self->inflight[i].id, x->id) != 0)
        i = (i + 1) & (self->inflight_cap - 1);
    if (!self->inflight[i].id[0])
        self->inflight_n++;
    self->inflight[i] = *x;
}

/* Remove e (found by inflight_find), shifting back the entries after it. */
static void inflight_del(sender *self, inflight_entry *e)
{
    size_t mask = self->inflight_cap - 1, i = (size_t)(e - self->inflight), j = i;
    self->inflight[i].id[0] = '\0';
    self->inflight_n--;
    for (;;) {
        j = (j + 1) & mask;
        if (!self->inflight[j].id[0])
            return;
        size_t home = inflight_slot(self, self->inflight[j].id);
        /* may the entry at j move to the hole at i? (home not in (i, j]) */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            self->inflight[i] = self->inflight[j];
            self->inflight[j].id[0] = '\0';
            i = j;
        }
    }
}

/* The breaker's tenant of provider p for a message of tenant. */
static const char *breaker_tenant(const sender *self, int p, const char *tenant)
{
    return (self->ops[p]->supports & SGW_TR_NEEDS_ACCOUNT) ? tenant : "";
}

/* Choose rec's provider (route: its route): its index in ops[], with
 * self->more[i] and self->took[i] set; -1 when every circuit of the route is
 * open (self->until[i]: when one half-opens); -2 when the route names no
 * provider this build has. */
static int sender_choose(sender *self, int i)
{
    const sgw_sms *rec = &self->recs[i];
    const sgw_route *route = &self->routes[i];
    int start = sgw_route_start(rec, route), known = 0;
    int64_t now = sgw_now_ms(), until = -1;
    self->took[i] = 0;
    for (int j = 0; j < route->n; j++) {
        int k = (start + j) % route->n;
        int p = sender_provider(self, route->name[k]);
        if (p < 0)
            continue;
        known++;
        int64_t u = 0;
        if (rec->test || !self->app->circuits ||
            sgw_circuit_allow(self->app->circuits, self->ops[p]->name,
                              breaker_tenant(self, p, rec->tenant), now, &u)) {
            self->took[i] = !rec->test && self->app->circuits;
            self->more[i] = k < route->n - 1;
            return p;
        }
        if (until < 0 || u < until)
            until = u;
    }
    self->until[i] = until;
    return known ? -1 : -2;
}

/* A chosen provider was not called after all: give back a probe's place. */
static void sender_unchoose(sender *self, int i)
{
    if (self->took[i] && self->prov[i] >= 0)
        sgw_circuit_release(self->app->circuits, self->ops[self->prov[i]]->name,
                            breaker_tenant(self, self->prov[i], self->recs[i].tenant));
    self->took[i] = 0;
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
                        const char *text, sgw_send_result result, int flags)
{
    sgw_tr_outcome o = { .kind = SGW_TR_SEND_DONE, .result = result,
                         .attempt = rec->nattempts + 1, .flags = flags };
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
    if (self->prov[i] < 0)
        return 0; /* deferred or without a provider: not sending */
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

/* Send the k records gathered in recs[]: choose each one's provider, mark
 * those that go out `sending` in one write, then call the providers. */
static void sender_dispatch(sender *self, int k)
{
    if (k == 0)
        return;
    for (int i = 0; i < k; i++) {
        self->prov[i] = sender_choose(self, i);
        if (self->prov[i] == -1) {
            sgw_tr_outcome o = { .kind = SGW_TR_SEND_DONE, .result = SGW_SEND_RETRY,
                                 .flags = SGW_TR_DEFERRED };
            snprintf(o.id, sizeof o.id, "%s", self->recs[i].id);
            snprintf(o.error_code, sizeof o.error_code, "circuit_open");
            int64_t wait = self->until[i] - sgw_now_ms();
            o.retry_after_ms = wait > 0 ? wait : 1;
            o.started_ms = o.finished_ms = sgw_now_ms();
            sender_emit(self, &o, "");
        } else if (self->prov[i] == -2) {
            char why[96];
            snprintf(why, sizeof why, "Provider %s is not available", self->routes[i].name[0]);
            sender_fail(self, &self->recs[i], self->routes[i].name[0], "provider_unavailable",
                        why, SGW_SEND_PERMANENT, 0);
        }
    }
    if (sgw_store_sms_update(self->app->store, self->ids, k, sender_mark_sending, self, NULL) !=
        SGW_OK) {
        sgw_log(SGW_LOG_ERROR, "sender", "could not mark %d messages sending: their leases "
                "bring them back", k);
        for (int i = 0; i < k; i++)
            sender_unchoose(self, i);
        return;
    }
    for (int i = 0; i < k; i++) {
        if (!self->go[i]) {
            sender_unchoose(self, i);
            continue;
        }
        const sgw_sms *rec = &self->recs[i];
        sender_publish(self, rec);
        int p = self->prov[i];
        int flags = self->more[i] ? SGW_TR_FAILOVER : 0;
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
                sender_unchoose(self, i);
                /* with a provider after this one: fail over to it */
                sender_fail(self, rec, self->ops[p]->name, "provider_not_connected", why,
                            flags ? SGW_SEND_RETRY : SGW_SEND_PERMANENT, flags);
                continue;
            }
        }
        if (self->ops[p]->submit(self->conn[p], &s) != SGW_OK) {
            char why[96];
            snprintf(why, sizeof why, "%s could not take the message", self->ops[p]->name);
            sender_unchoose(self, i);
            sender_fail(self, rec, self->ops[p]->name, "provider_busy", why, SGW_SEND_RETRY,
                        flags);
            continue;
        }
        inflight_entry e = { .provider = (short)p, .more = (short)self->more[i],
                             .breaker = (short)self->took[i] };
        snprintf(e.id, sizeof e.id, "%s", rec->id);
        snprintf(e.tenant, sizeof e.tenant, "%s", breaker_tenant(self, p, rec->tenant));
        inflight_put(self, &e);
    }
}

/* One record of a DISPATCH list: checked, then gathered at recs[*k]. */
static void sender_take(sender *self, const void *item, size_t len, int *k)
{
    sgw_sms rec;
    if (sgw_sms_decode(item, len, &rec) != SGW_OK)
        return;
    sgw_route *route = &self->routes[*k];
    int active = sgw_store_tenant_route(self->app->store, rec.tenant, route->name,
                                        SGW_ROUTE_MAX, &route->n);
    if (active != 1) {
        sender_fail(self, &rec, "", "tenant_inactive", "Tenant suspended or inactive",
                    SGW_SEND_PERMANENT, 0);
        sgw_sms_clear(&rec);
        return;
    }
    if (rec.test || route->n == 0)
        *route = self->route[rec.test ? 1 : 0];
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
                sgw_tr_outcome *o = &self->outcomes[i];
                inflight_entry *e =
                    o->kind == SGW_TR_SEND_DONE ? inflight_find(self, o->id) : NULL;
                if (e) {
                    if (e->breaker)
                        sgw_circuit_record(self->app->circuits, self->ops[p]->name, e->tenant,
                                           o->result != SGW_SEND_RETRY, now);
                    if (o->result == SGW_SEND_RETRY && e->more)
                        o->flags |= SGW_TR_FAILOVER;
                    inflight_del(self, e);
                }
                sender_emit(self, o, self->ops[p]->name);
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
    free(self->prov);
    free(self->more);
    free(self->took);
    free(self->until);
    free(self->routes);
    free(self->inflight);
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
