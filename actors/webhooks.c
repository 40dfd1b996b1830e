/*
 * actors/webhooks.c — app webhooks (SPEC section 9): the durable outbox
 * and its deliveries.
 *
 * Input:   the status actor's events (a pull0 socket listening on
 *          SGW_WEBHOOK_EVENTS_URL, which the status actor's push0 dials
 *          before the gateway is ready; read in tick when its fd is ready): an
 *          sms_status event goes to its app, an sms_inbound event to every
 *          app of its tenant, when the app has a webhookUrl. One outbox
 *          entry per (app, event), in one store write per batch
 *          (store/outbox.c). Its bus input (inproc://sgw/webhooks) takes
 *          EVENT messages whose app field names an app with new entries
 *          (test-webhook, replay: http/h_webhooks.c).
 * Output:  HTTP POSTs (libcurl multi, driven from tick and fds), signed
 *          X-Smsgw-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>.
 * Order:   at most one delivery in flight per app; the next entry of an app
 *          is sent only once the one before is delivered or dead.
 * Retries: any 2xx is delivered; anything else, or no answer within
 *          webhooks.timeout_ms, is retried after webhooks.base_ms *
 *          2^(attempts-1) (at most max_ms, +/- jitter), until max_age_s
 *          after the entry was queued: then it is dead-lettered (kept,
 *          listed, replayable) and the app's next entry goes.
 * Guarantee: at least once from the outbox write on (a crash after a POST
 *          and before its "delivered" is stored sends it again). An event
 *          is at risk before that write: one still in the pull0 buffer
 *          (actors.webhooks.queue_depth) at a crash. A full buffer makes
 *          the status actor wait (push0), so a burst loses nothing.
 * Threads: one (per-app order and sequence numbers).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "actors/sms/hooked.h"
#include "bus/log.h"
#include "bus/util.h"
#include "transport/curlpoll.h"
#include "transport/curlreq.h"

typedef struct wh_app {
    char id[32];
    int pending;          /* may have entries */
    int64_t due_mono;     /* the head's next attempt; 0: now */
    uint64_t head_seq;    /* the seq of the head last read (0: not yet) */
    struct wh_job *job;   /* the delivery in flight, or NULL */
} wh_app;

typedef struct wh_job {
    CURL *easy;
    struct curl_slist *hdrs;
    sgw_wh_entry e;
    wh_app *app;
    char err[CURL_ERROR_SIZE];
} wh_job;

typedef struct wh_actor {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket events; /* pull0: the status actor's events */
    int events_fd;
    CURLM *multi;
    sgw_curlpoll cp;      /* curl's sockets and timer (monotonic ms) */
    int64_t timeout_ms, base_ms, max_ms, max_age_ms;
    double jitter;
    wh_app **apps;
    int napps, apps_cap;
    int inflight;
    unsigned long finished; /* deliveries done (wh_done), ever */
    int draining;
    int64_t rescan_mono;
    sgw_hooked hooked; /* whether an app has a webhook (actors/sms/hooked.h) */
} wh_actor;

/* ---------------------------------------------------------------- apps */

static wh_app *wh_find(wh_actor *self, const char *id, int create)
{
    for (int i = 0; i < self->napps; i++)
        if (strcmp(self->apps[i]->id, id) == 0)
            return self->apps[i];
    if (!create)
        return NULL;
    if (self->napps == self->apps_cap) {
        int cap = self->apps_cap ? self->apps_cap * 2 : 16;
        wh_app **v = realloc(self->apps, sizeof *v * (size_t)cap);
        if (!v)
            return NULL;
        self->apps = v;
        self->apps_cap = cap;
    }
    wh_app *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    snprintf(a->id, sizeof a->id, "%s", id);
    self->apps[self->napps++] = a;
    return a;
}

static void wh_mark(wh_actor *self, const char *id)
{
    wh_app *a = wh_find(self, id, 1);
    if (a && !a->pending) {
        a->pending = 1;
        a->due_mono = 0;
    }
}

static int wh_scan_cb(void *ctx, const char *app)
{
    wh_mark(ctx, app);
    return 1;
}

/* ---------------------------------------------------------------- events -> outbox */

typedef struct wh_batch {
    sgw_wh_entry **v;
    int n, cap;
} wh_batch;

static void wh_batch_add(wh_batch *b, const char *app, const char *event, const char *body)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        sgw_wh_entry **v = realloc(b->v, sizeof *v * (size_t)cap);
        if (!v)
            return;
        b->v = v;
        b->cap = cap;
    }
    sgw_wh_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->body = strdup(body))) {
        free(e);
        return;
    }
    sgw_random_id(e->id, sizeof e->id, "dlv_", 24);
    snprintf(e->app, sizeof e->app, "%s", app);
    snprintf(e->event, sizeof e->event, "%s", event);
    e->created_ms = sgw_now_ms();
    b->v[b->n++] = e;
}

typedef struct wh_tenant_scan {
    const char *tenant;
    wh_batch *b;
    const char *body;
} wh_tenant_scan;

static int wh_tenant_cb(void *ctx, const char *id, const char *json, size_t len)
{
    wh_tenant_scan *ts = ctx;
    json_t *o = json_loadb(json, len, 0, NULL);
    const char *t = json_string_value(json_object_get(o, "tenantId"));
    const char *u = json_string_value(json_object_get(o, "webhookUrl"));
    if (t && u && u[0] && strcmp(t, ts->tenant) == 0)
        wh_batch_add(ts->b, id, "sms_inbound", ts->body);
    json_decref(o);
    return 1;
}

static void wh_event(wh_actor *self, wh_batch *b, const char *body, size_t len)
{
    json_t *o = json_loadb(body, len, 0, NULL);
    const char *type = json_string_value(json_object_get(o, "type"));
    char *text = strndup(body, len);
    if (type && text && strcmp(type, "sms_status") == 0) {
        const char *app = json_string_value(json_object_get(o, "appId"));
        if (app && app[0] && sgw_hooked_has(&self->hooked, self->app->store, app))
            wh_batch_add(b, app, "sms_status", text);
    } else if (type && text && strcmp(type, "sms_inbound") == 0) {
        const char *tenant = json_string_value(json_object_get(o, "tenantId"));
        if (tenant && tenant[0]) {
            wh_tenant_scan ts = { tenant, b, text };
            sgw_store_doc_scan(self->app->store, SGW_DOC_APP, wh_tenant_cb, &ts);
        }
    }
    free(text);
    json_decref(o);
}

/* Read what the sub socket holds (at most max events), queue it. */
static void wh_read_events(wh_actor *self, int max)
{
    wh_batch b = { 0 };
    for (int i = 0; i < max; i++) {
        nng_msg *m;
        if (nng_recvmsg(self->events, &m, NNG_FLAG_NONBLOCK) != 0)
            break;
        wh_event(self, &b, nng_msg_body(m), nng_msg_len(m));
        nng_msg_free(m);
    }
    if (b.n > 0) {
        if (sgw_store_outbox_add(self->app->store, b.v, b.n) != SGW_OK)
            sgw_log(SGW_LOG_ERROR, "webhooks", "%d webhook deliveries could not be stored: "
                    "lost", b.n);
        else
            for (int i = 0; i < b.n; i++)
                wh_mark(self, b.v[i]->app);
    }
    for (int i = 0; i < b.n; i++) {
        sgw_wh_entry_clear(b.v[i]);
        free(b.v[i]);
    }
    free(b.v);
}

/* ---------------------------------------------------------------- curl */

static size_t wh_discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void wh_job_free(wh_job *j)
{
    if (!j)
        return;
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->hdrs);
    sgw_wh_entry_clear(&j->e);
    free(j);
}

static int64_t wh_backoff(wh_actor *self, int attempts)
{
    int64_t d = self->base_ms;
    for (int i = 1; i < attempts && d < self->max_ms; i++)
        d *= 2;
    if (d > self->max_ms)
        d = self->max_ms;
    uint32_t r = 0;
    RAND_bytes((unsigned char *)&r, sizeof r);
    double f = 1.0 + self->jitter * (2.0 * ((double)r / 4294967295.0) - 1.0);
    return (int64_t)((double)d * f);
}

/* A failed attempt of the app's head: retry later, or dead-letter it. */
static void wh_failed(wh_actor *self, wh_app *a, sgw_wh_entry *e, const char *why)
{
    int64_t now = sgw_now_ms();
    e->attempts++;
    snprintf(e->last_error, sizeof e->last_error, "%s", why);
    int64_t deadline = e->created_ms + self->max_age_ms;
    if (now >= deadline) {
        sgw_log(SGW_LOG_WARN, "webhooks", "%s: delivery %s dead after %d attempts: %s", e->app,
                e->id, e->attempts, why);
        if (sgw_store_outbox_kill(self->app->store, e) != SGW_OK)
            a->due_mono = sgw_mono_ms() + self->base_ms; /* try again */
        else
            a->due_mono = 0;
        return;
    }
    int64_t next = now + wh_backoff(self, e->attempts);
    if (next > deadline)
        next = deadline; /* one last attempt at the deadline */
    e->next_ms = next;
    sgw_store_outbox_retry(self->app->store, e);
    a->due_mono = sgw_mono_ms() + (next - now);
}

static void wh_done(wh_actor *self, wh_job *j, CURLcode cr)
{
    wh_app *a = j->app;
    long code = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
    if (cr == CURLE_OK && code >= 200 && code < 300) {
        if (sgw_store_outbox_done(self->app->store, &j->e) != SGW_OK)
            a->due_mono = sgw_mono_ms() + self->base_ms; /* sent again: at least once */
        else
            a->due_mono = 0;
    } else {
        char why[256];
        if (cr != CURLE_OK)
            snprintf(why, sizeof why, "%s", j->err[0] ? j->err : curl_easy_strerror(cr));
        else
            snprintf(why, sizeof why, "HTTP %ld", code);
        sgw_log(SGW_LOG_DEBUG, "webhooks", "%s: delivery %s attempt %d failed: %s", a->id,
                j->e.id, j->e.attempts + 1, why);
        wh_failed(self, a, &j->e, why);
    }
    a->job = NULL;
    self->inflight--;
    self->finished++;
    wh_job_free(j);
}

static void wh_finished(void *ctx, void *job, CURLcode cr) { wh_done(ctx, job, cr); }

static void wh_drive(wh_actor *self)
{
    sgw_curlreq_drive(&self->cp, self->multi, wh_finished, self);
}

/* Start the delivery of a's head entry (or find it has none). */
static void wh_start(wh_actor *self, wh_app *a)
{
    wh_job *j = calloc(1, sizeof *j);
    if (!j)
        return;
    sgw_err rv = sgw_store_outbox_head(self->app->store, a->id, a->head_seq, &j->e);
    if (rv != SGW_OK) {
        if (rv == SGW_ENOENT)
            a->pending = 0;
        else
            a->due_mono = sgw_mono_ms() + self->base_ms;
        free(j);
        return;
    }
    a->head_seq = j->e.seq; /* what comes before it is gone: the next look-up starts here */
    int64_t now = sgw_now_ms();
    if (j->e.next_ms > now) { /* a backoff stored before a restart */
        a->due_mono = sgw_mono_ms() + (j->e.next_ms - now);
        wh_job_free(j);
        return;
    }
    char *url, *secret;
    if (!sgw_app_webhook(self->app->store, a->id, &url, &secret)) {
        /* the app was deleted or its webhookUrl removed: nowhere to send */
        snprintf(j->e.last_error, sizeof j->e.last_error, "App has no webhookUrl configured");
        if (sgw_store_outbox_kill(self->app->store, &j->e) != SGW_OK)
            a->due_mono = sgw_mono_ms() + self->base_ms;
        wh_job_free(j);
        return;
    }
    /* the signature: HMAC-SHA256(secret, "<t>.<body>") */
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)(now / 1000));
    size_t blen = strlen(j->e.body), tlen = strlen(t);
    char *signed_text = malloc(tlen + 1 + blen + 1);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (signed_text) {
        memcpy(signed_text, t, tlen);
        signed_text[tlen] = '.';
        memcpy(signed_text + tlen + 1, j->e.body, blen + 1);
        if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)signed_text,
                 tlen + 1 + blen, mac, &maclen))
            sgw_hex(hex, mac, maclen);
        free(signed_text);
    }
    free(secret);
    char h[256];
    snprintf(h, sizeof h, "X-Smsgw-Signature: t=%s,v1=%s", t, hex);
    j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/json");
    j->hdrs = curl_slist_append(j->hdrs, h);
    snprintf(h, sizeof h, "X-Smsgw-Event: %s", j->e.event);
    j->hdrs = curl_slist_append(j->hdrs, h);
    snprintf(h, sizeof h, "X-Smsgw-Delivery: %s", j->e.id);
    j->hdrs = curl_slist_append(j->hdrs, h);
    j->hdrs = curl_slist_append(j->hdrs, "Expect:");
    j->easy = curl_easy_init();
    if (!j->easy || !j->hdrs || !hex[0]) {
        free(url);
        wh_job_free(j);
        a->due_mono = sgw_mono_ms() + self->base_ms;
        return;
    }
    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, j->e.body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "smsgw-webhooks/0.1");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)self->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, wh_discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    free(url);
    j->app = a;
    j->e.next_ms = 0;
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) {
        wh_job_free(j);
        a->due_mono = sgw_mono_ms() + self->base_ms;
        return;
    }
    a->job = j;
    self->inflight++;
}

/* ---------------------------------------------------------------- ops */

static sgw_err wh_init(void *st, const sgw_actor_env *env)
{
    wh_actor *self = st;
    self->env = env;
    self->app = env->app;
    if (env->thread_index != 0) {
        sgw_log(SGW_LOG_ERROR, "webhooks", "actors.webhooks.threads must be 1");
        return SGW_ECONFIG;
    }
    self->timeout_ms = sgw_cfg_int(env->cfg, "webhooks.timeout_ms");
    self->base_ms = sgw_cfg_int(env->cfg, "webhooks.base_ms");
    self->max_ms = sgw_cfg_int(env->cfg, "webhooks.max_ms");
    self->max_age_ms = sgw_cfg_int(env->cfg, "webhooks.max_age_s") * 1000;
    self->jitter = sgw_cfg_float(env->cfg, "webhooks.jitter");
    if (self->base_ms <= 0)
        self->base_ms = 1000;
    self->multi = curl_multi_init();
    if (!self->multi)
        return SGW_ENOMEM;
    sgw_curlpoll_attach(&self->cp, self->multi, sgw_mono_ms);
    int rv;
    int64_t depth = sgw_cfg_int(env->cfg, "actors.webhooks.queue_depth");
    if ((rv = nng_pull0_open(&self->events)) != 0 ||
        (rv = nng_socket_set_int(self->events, NNG_OPT_RECVBUF,
                                 (int)(depth > 0 && depth <= 8192 ? depth : 8192))) != 0 ||
        (rv = nng_listen(self->events, SGW_WEBHOOK_EVENTS_URL, NULL, 0)) != 0 ||
        (rv = nng_socket_get_int(self->events, NNG_OPT_RECVFD, &self->events_fd)) != 0) {
        sgw_log(SGW_LOG_ERROR, "webhooks", "pull %s: %s", SGW_WEBHOOK_EVENTS_URL,
                nng_strerror(rv));
        return SGW_EIO;
    }
    /* resume what a previous run left */
    sgw_store_outbox_apps(self->app->store, wh_scan_cb, self);
    return SGW_OK;
}

static int64_t wh_tick(void *st, int64_t now_mono);

static void wh_handle(void *st, const sgw_msg *msgs, int n)
{
    wh_actor *self = st;
    for (int i = 0; i < n; i++)
        if (msgs[i].type == SGW_MSG_EVENT && msgs[i].app[0])
            wh_mark(self, msgs[i].app);
    wh_tick(self, sgw_mono_ms()); /* start them now (the runtime ticks at its deadline) */
}

/* Deadlines are at most this far: the runtime calls tick only at the
 * deadline it returned or when an fd is ready, and handle may have started
 * deliveries (whose curl timers then need a tick) since. */
#define WH_TICK_MAX_MS 100

static int64_t wh_tick(void *st, int64_t now_mono)
{
    wh_actor *self = st;
    wh_read_events(self, 4096);
    wh_drive(self);
    if (now_mono >= self->rescan_mono) { /* a safety net for a lost notice */
        if (self->rescan_mono)
            sgw_store_outbox_apps(self->app->store, wh_scan_cb, self);
        self->rescan_mono = now_mono + 5000;
    }
    int64_t next = self->rescan_mono;
    now_mono = sgw_mono_ms();
    for (int i = 0; i < self->napps; i++) {
        wh_app *a = self->apps[i];
        if (!a->pending || a->job)
            continue;
        if (!self->draining && a->due_mono <= now_mono)
            wh_start(self, a);
        if (a->pending && !a->job && a->due_mono < next)
            next = a->due_mono;
    }
    if (self->inflight) {
        /* a receiver on loopback often answers before this returns: a
         * delivery that finished here frees its app for the next entry,
         * so tick again at once rather than at the deadline (a kept-alive
         * connection gives no fd to wake on: one delivery per app per
         * 100 ms tick before) */
        unsigned long done = self->finished;
        wh_drive(self);
        if (self->finished != done)
            return now_mono;
    }
    if (self->cp.due >= 0 && self->cp.due < next)
        next = self->cp.due;
    return next < now_mono + WH_TICK_MAX_MS ? next : now_mono + WH_TICK_MAX_MS;
}

static int wh_fds(void *st, struct pollfd *pfd, int max)
{
    wh_actor *self = st;
    int n = 0;
    if (max > 0)
        pfd[n++] = (struct pollfd){ .fd = self->events_fd, .events = POLLIN };
    return n + sgw_curlpoll_copy(&self->cp, pfd + n, max - n);
}

static int wh_drain(void *st)
{
    wh_actor *self = st;
    self->draining = 1; /* no new deliveries; those under way finish */
    wh_read_events(self, 1 << 20);
    wh_drive(self);
    return self->inflight == 0;
}

static void wh_fini(void *st)
{
    wh_actor *self = st;
    for (int i = 0; i < self->napps; i++) {
        wh_app *a = self->apps[i];
        if (a->job) {
            curl_multi_remove_handle(self->multi, a->job->easy);
            wh_job_free(a->job);
        }
        free(a);
    }
    free(self->apps);
    if (self->multi)
        curl_multi_cleanup(self->multi);
    sgw_curlpoll_free(&self->cp);
    if (self->env && self->env->thread_index == 0)
        nng_close(self->events);
}

const struct sgw_actor_ops sgw_actor_webhooks = {
    .name = "webhooks",
    .state_size = sizeof(wh_actor),
    .init = wh_init,
    .handle = wh_handle,
    .tick = wh_tick,
    .drain = wh_drain,
    .fini = wh_fini,
    .fds = wh_fds,
};
