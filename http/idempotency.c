/*
 * http/idempotency.c — the Idempotency-Key header (SPEC section 4, Robase
 * semantics), for any POST handler: one call at its start
 * (sgw_idem_begin), and its answer through sgw_idem_reply.
 *
 * Scope: the tenant (app keys) or the key's hash (admin keys), the method
 * and the route pattern, and the key; the store holds a SHA-256 of those,
 * with a SHA-256 of the raw request body.
 *
 * A handler that reads its body itself (batches: streamed, up to 50 MB)
 * checks the key first (sgw_idem_key_check), hashes the body as it reads
 * it, and calls sgw_idem_begin_hashed once the body is read, naming what
 * it is about to make (ref: the batch id) so that a claim left by a crash
 * can be resolved (sgw_idem_orphan_batch: was that batch committed?).
 *
 * A request with a key, in order:
 *  1. a key that is not 1-255 printable ASCII characters: 400;
 *  2. the key is taken in memory (one request per key at a time in this
 *     process); a second one waits (at most http.request_timeout_ms, then
 *     409 "in progress") for the first to finish, then goes on from 3;
 *  3. a stored record for another body: 409 conflict; a stored answer:
 *     replayed (status and body, "Idempotent-Replay: true"), nothing done;
 *  4. otherwise a claim (PENDING) is written durably, and the handler runs;
 *  5. its answer, if 2xx or 4xx, replaces the claim (durably) BEFORE it is
 *     sent; a 5xx answer deletes the claim (the client may retry).
 *
 * Crash safety: a claim found in step 3 has no live owner (step 2), so it
 * was left by a request that never finished (the process died between its
 * claim and the record of its answer, or that record could not be
 * written). Its outcome is unknown, so the handler's orphan function
 * decides: 1 if that request certainly did nothing (the claim is renewed
 * and this request runs), else 409. For sends, sgw_idem_orphan_sms looks
 * for a message of the claiming app created within the claim's
 * request_timeout window: the pipeline drops requests older than that, so
 * if there is none there never will be. A key thus never yields two
 * messages, even across kill -9 or a power cut (with store.sync
 * "always").
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

struct sgw_idem {
    char id[65];
    sgw_idem_rec rec; /* the claim */
};

/* ---------------------------------------------------------------- keys in flight */

typedef struct inflight {
    char id[65];
    struct inflight *next;
} inflight;

static pthread_mutex_t fl_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fl_cv;
static pthread_once_t fl_once = PTHREAD_ONCE_INIT;
static inflight *fl_head;
static _Atomic int64_t next_purge_ms;

static void fl_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&fl_cv, &a);
    pthread_condattr_destroy(&a);
}

static int fl_has(const char *id)
{
    for (inflight *f = fl_head; f; f = f->next)
        if (strcmp(f->id, id) == 0)
            return 1;
    return 0;
}

/* Take id, waiting at most timeout_ms for its holder: 1 taken, 0 timed
 * out, -1 out of memory. */
static int fl_take(const char *id, int64_t timeout_ms)
{
    pthread_once(&fl_once, fl_init);
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t)(timeout_ms / 1000);
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L)
        dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    inflight *f = malloc(sizeof *f);
    if (!f)
        return -1;
    snprintf(f->id, sizeof f->id, "%s", id);
    pthread_mutex_lock(&fl_mu);
    while (fl_has(id)) {
        if (pthread_cond_timedwait(&fl_cv, &fl_mu, &dl) != 0 && fl_has(id)) {
            pthread_mutex_unlock(&fl_mu);
            free(f);
            return 0;
        }
    }
    f->next = fl_head;
    fl_head = f;
    pthread_mutex_unlock(&fl_mu);
    return 1;
}

static void fl_release(const char *id)
{
    pthread_mutex_lock(&fl_mu);
    for (inflight **p = &fl_head; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            inflight *f = *p;
            *p = f->next;
            free(f);
            break;
        }
    }
    pthread_cond_broadcast(&fl_cv);
    pthread_mutex_unlock(&fl_mu);
}

/* ---------------------------------------------------------------- helpers */

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e)
            return 0;
    return 1;
}

/* Purge expired records now and then (bounded), on a request's thread. */
static void maybe_purge(sgw_req *r, int64_t now)
{
    const sgw_cfg *cfg = r->srv->deps.cfg;
    int64_t next = atomic_load(&next_purge_ms);
    if (now < next)
        return;
    int64_t every = sgw_cfg_int(cfg, "idempotency.purge_interval_s") * 1000;
    if (!atomic_compare_exchange_strong(&next_purge_ms, &next, now + (every > 0 ? every : 60000)))
        return; /* another request does it */
    int max = (int)sgw_cfg_int(cfg, "idempotency.purge_max");
    int n = sgw_store_idem_purge(r->srv->deps.store, now, max > 0 ? max : 1000);
    if (n > 0)
        sgw_log(SGW_LOG_DEBUG, "http", "idempotency: %d expired keys purged", n);
}

static void replay(sgw_req *r, const sgw_idem_rec *rec)
{
    size_t used = strlen(r->extra_headers);
    snprintf(r->extra_headers + used, sizeof r->extra_headers - used, "%s%s",
             rec->headers ? rec->headers : "", "Idempotent-Replay: true\r\n");
    sgw_reply_raw(r, rec->status, rec->body ? rec->body : "", rec->body ? rec->body_len : 0);
}

/* ---------------------------------------------------------------- API */

int sgw_idem_key_check(sgw_req *r)
{
    const char *key = mg_get_header(r->conn, "Idempotency-Key");
    if (key && !key_ok(key)) {
        sgw_reply_error(r, 400, "validation_error",
                        "Idempotency-Key must be 1-255 printable ASCII characters");
        return 0;
    }
    return 1;
}

int sgw_idem_begin(sgw_req *r, sgw_idem_orphan_fn orphan, sgw_idem **out)
{
    char hash[65];
    *out = NULL;
    if (!mg_get_header(r->conn, "Idempotency-Key"))
        return 1;
    sgw_sha256_hex(hash, r->body ? r->body : "", r->body_len);
    return sgw_idem_begin_hashed(r, hash, NULL, orphan, out);
}

int sgw_idem_begin_hashed(sgw_req *r, const char hash[65], const char *ref,
                          sgw_idem_orphan_fn orphan, sgw_idem **out)
{
    *out = NULL;
    const char *key = mg_get_header(r->conn, "Idempotency-Key");
    if (!key)
        return 1;
    if (!sgw_idem_key_check(r))
        return 0;
    sgw_http *srv = r->srv;
    sgw_idem *t = calloc(1, sizeof *t);
    if (!t) {
        sgw_reply_error(r, 503, "unavailable", "Server overloaded, try again");
        return 0;
    }
    /* the scope: tenant (app keys) or key hash (admin keys), then endpoint */
    size_t klen = strlen(key);
    size_t cap = 64 + 80 + strlen(r->method) + strlen(r->route ? r->route : "") + klen;
    char *scope = malloc(cap);
    if (!scope) {
        free(t);
        sgw_reply_error(r, 503, "unavailable", "Server overloaded, try again");
        return 0;
    }
    int sl = snprintf(scope, cap, "%s:%s\n%s\n%s\n%s",
                      r->auth.role == SGW_ROLE_APP ? "tenant" : "key",
                      r->auth.role == SGW_ROLE_APP ? r->auth.tenant : r->auth.key_hash,
                      r->method, r->route ? r->route : r->path, key);
    sgw_sha256_hex(t->id, scope, (size_t)sl);
    free(scope);

    int64_t now = sgw_now_ms();
    maybe_purge(r, now);
    int took = fl_take(t->id, srv->request_timeout_ms);
    if (took <= 0) {
        free(t);
        if (took == 0)
            sgw_reply_error(r, 409, "conflict", "A request with this Idempotency-Key is in progress");
        else
            sgw_reply_error(r, 503, "unavailable", "Server overloaded, try again");
        return 0;
    }
    now = sgw_now_ms();
    sgw_idem_rec rec = { 0 };
    sgw_err rv = sgw_store_idem_get(srv->deps.store, t->id, now, &rec);
    int64_t expires = now + sgw_cfg_int(srv->deps.cfg, "idempotency.ttl_s") * 1000;
    if (rv == SGW_OK) {
        if (strcmp(rec.req_hash, hash) != 0) {
            sgw_reply_error(r, 409, "conflict",
                            "Idempotency-Key was already used with a different request");
            goto answered;
        }
        if (rec.state == SGW_IDEM_DONE) {
            replay(r, &rec);
            goto answered;
        }
        /* a claim nobody holds: its request never finished */
        if (!orphan || !orphan(r, &rec)) {
            sgw_log(SGW_LOG_WARN, "http", "idempotency: a request interrupted at %lld may "
                    "have taken effect: refused", (long long)rec.created_ms);
            sgw_reply_error(r, 409, "conflict",
                            "A request with this Idempotency-Key was interrupted and may have "
                            "taken effect; use a new key to send again");
            goto answered;
        }
        expires = rec.expires_ms; /* renew the claim, keep its expiry entry */
        sgw_idem_rec_clear(&rec);
    } else if (rv != SGW_ENOENT) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        goto answered;
    }
    t->rec.state = SGW_IDEM_PENDING;
    snprintf(t->rec.req_hash, sizeof t->rec.req_hash, "%s", hash);
    snprintf(t->rec.tenant, sizeof t->rec.tenant, "%s", r->auth.tenant);
    snprintf(t->rec.app, sizeof t->rec.app, "%s", r->auth.app);
    snprintf(t->rec.ref, sizeof t->rec.ref, "%s", ref ? ref : "");
    t->rec.created_ms = now;
    t->rec.expires_ms = expires;
    if (sgw_store_idem_put(srv->deps.store, t->id, &t->rec) != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        fl_release(t->id);
        free(t);
        return 0;
    }
    *out = t;
    return 1;
answered:
    sgw_idem_rec_clear(&rec);
    fl_release(t->id);
    free(t);
    return 0;
}

void sgw_idem_reply(sgw_req *r, sgw_idem *t, int status, const char *json, size_t len)
{
    if (!t) {
        sgw_reply_raw(r, status, json, len);
        return;
    }
    sgw_store *st = r->srv->deps.store;
    if ((status >= 200 && status < 300) || (status >= 400 && status < 500)) {
        /* the answer is on disk before anyone sees it */
        t->rec.state = SGW_IDEM_DONE;
        t->rec.status = status;
        t->rec.body = (char *)json;
        t->rec.body_len = len;
        if (sgw_store_idem_put(st, t->id, &t->rec) != SGW_OK)
            sgw_log(SGW_LOG_WARN, "http", "idempotency: the answer (%d) could not be stored; "
                    "a retry will be checked as an interrupted request", status);
        t->rec.body = NULL;
    } else if (sgw_store_idem_delete(st, t->id, t->rec.expires_ms) != SGW_OK) {
        sgw_log(SGW_LOG_WARN, "http", "idempotency: the claim could not be released");
    }
    fl_release(t->id);
    sgw_reply_raw(r, status, json, len);
    sgw_idem_rec_clear(&t->rec);
    free(t);
}

void sgw_idem_abandon(sgw_idem *t)
{
    if (!t)
        return;
    fl_release(t->id);
    sgw_idem_rec_clear(&t->rec);
    free(t);
}

void sgw_idem_reply_error(sgw_req *r, sgw_idem *t, int status, const char *code,
                          const char *error)
{
    json_t *o = json_pack("{s:s, s:s}", "error", error, "code", code);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s)
        sgw_idem_reply(r, t, status, s, strlen(s));
    else
        sgw_idem_reply(r, t, 500, "{\"error\":\"Internal error\",\"code\":\"internal\"}", 44);
    free(s);
}

int sgw_idem_orphan_batch(sgw_req *r, const sgw_idem_rec *claim)
{
    /* the claim names the batch before its commit: committed or not */
    if (!claim->ref[0])
        return 0;
    char *json = NULL;
    sgw_batch_counts c;
    sgw_err rv = sgw_store_batch_get(r->srv->deps.store, claim->ref, &json, &c);
    free(json);
    return rv == SGW_ENOENT;
}

int sgw_idem_orphan_sms(sgw_req *r, const sgw_idem_rec *claim)
{
    /* the pipeline stores a request only within request_timeout_ms of it;
     * a second of slack for clocks */
    int64_t lo = claim->created_ms, hi = lo + r->srv->request_timeout_ms + 1000;
    sgw_sms_query q = { .tenant = claim->tenant, .app = claim->app,
                        .direction = SGW_DIR_OUTBOUND, .status = -1, .limit = 200 };
    if (!claim->tenant[0] || !claim->app[0])
        return 0;
    char next[SGW_CURSOR_LEN + 1], cur[SGW_CURSOR_LEN + 1];
    for (int page = 0; page < 10; page++) {
        sgw_sms *v = NULL;
        int n = 0;
        if (sgw_store_sms_list(r->srv->deps.store, &q, &v, &n, next) != SGW_OK)
            return 0;
        int verdict = -1; /* -1 look on, 0 a candidate, 1 none possible */
        for (int i = 0; i < n; i++) {
            if (verdict < 0 && v[i].created_ms < lo)
                verdict = 1;
            else if (verdict < 0 && v[i].created_ms <= hi)
                verdict = 0;
            sgw_sms_clear(&v[i]);
        }
        free(v);
        if (verdict >= 0)
            return verdict;
        if (!next[0])
            return 1; /* listed everything: none in the window */
        memcpy(cur, next, sizeof cur);
        q.cursor = cur;
    }
    return 0; /* too many newer messages to tell: refuse */
}
