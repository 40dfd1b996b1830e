/*
 * store/outbox.c — the app webhook outbox (store.h, "webhook outbox" block).
 *
 * Column family "outbox":
 *   "S" app                 -> be64 last sequence number of the app
 *   "E" app "/" be64(seq)   -> pending entry (JSON)
 *   "D" app "/" id          -> dead entry (JSON)
 *
 * Adding entries takes one process-wide lock (sequence numbers are read,
 * incremented and written in the same write). Progress of a pending entry
 * (retry, done, kill) is made by the webhooks actor alone (one thread), so
 * it needs no lock; a replay takes the add lock.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "store/store.h"
#include "store/store_int.h"

static pthread_mutex_t add_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int_fast64_t st_depth;
static atomic_uint_fast64_t st_delivered, st_failed, st_dead;

void sgw_wh_entry_clear(sgw_wh_entry *e)
{
    if (!e)
        return;
    free(e->body);
    memset(e, 0, sizeof *e);
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static size_t skey(char *out, const char *app)
{
    size_t n = strlen(app);
    out[0] = 'S';
    memcpy(out + 1, app, n);
    return n + 1;
}

static size_t ekey(char *out, const char *app, uint64_t seq)
{
    size_t n = strlen(app);
    out[0] = 'E';
    memcpy(out + 1, app, n);
    out[n + 1] = '/';
    put_be64((unsigned char *)out + n + 2, seq);
    return n + 10;
}

static size_t dkey(char *out, const char *app, const char *id)
{
    size_t n = strlen(app), m = strlen(id);
    out[0] = 'D';
    memcpy(out + 1, app, n);
    out[n + 1] = '/';
    memcpy(out + n + 2, id, m);
    return n + m + 2;
}

static char *entry_json(const sgw_wh_entry *e)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:s, s:I, s:I, s:I}", "id", e->id,
                          "app", e->app, "seq", (json_int_t)e->seq, "event", e->event, "body",
                          e->body ? e->body : "", "attempts", e->attempts, "lastError",
                          e->last_error, "createdAt", (json_int_t)e->created_ms, "nextAt",
                          (json_int_t)e->next_ms, "deadAt", (json_int_t)e->dead_ms);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static sgw_err entry_parse(const char *v, size_t len, sgw_wh_entry *e)
{
    memset(e, 0, sizeof *e);
    json_t *o = json_loadb(v, len, 0, NULL);
    const char *id = NULL, *app = NULL, *ev = NULL, *body = NULL, *le = NULL;
    json_int_t seq = 0, cr = 0, nx = 0, dd = 0;
    int att = 0;
    if (!o || json_unpack(o, "{s:s, s:s, s:I, s:s, s:s, s:i, s:s, s:I, s:I, s:I}", "id", &id,
                          "app", &app, "seq", &seq, "event", &ev, "body", &body, "attempts",
                          &att, "lastError", &le, "createdAt", &cr, "nextAt", &nx, "deadAt",
                          &dd) != 0) {
        json_decref(o);
        return SGW_EPROTO;
    }
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->app, sizeof e->app, "%s", app);
    snprintf(e->event, sizeof e->event, "%s", ev);
    snprintf(e->last_error, sizeof e->last_error, "%s", le);
    e->seq = (uint64_t)seq;
    e->attempts = att;
    e->created_ms = cr;
    e->next_ms = nx;
    e->dead_ms = dd;
    e->body = strdup(body);
    json_decref(o);
    return e->body ? SGW_OK : SGW_ENOMEM;
}

static sgw_err get_seq(sgw_store *s, const char *app, uint64_t *seq)
{
    char k[64], *err = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf(sgw_store_db_(s), sgw_store_ropts_(s), sgw_store_cf_outbox_(s), k,
                             skey(k, app), &len, &err);
    if (err) {
        sgw_log(SGW_LOG_ERROR, "store", "outbox seq: %s", err);
        rocksdb_free(err);
        return SGW_EIO;
    }
    *seq = v && len == 8 ? get_be64((const unsigned char *)v) : 0;
    rocksdb_free(v);
    return SGW_OK;
}

/* Add puts of v[0..n) (new sequence numbers) to wb; call with add_lock. */
static sgw_err add_locked(sgw_store *s, rocksdb_writebatch_t *wb, sgw_wh_entry *const *v, int n)
{
    rocksdb_column_family_handle_t *cf = sgw_store_cf_outbox_(s);
    for (int i = 0; i < n; i++) {
        /* the last seq of this app: an earlier entry of this write, or the store */
        uint64_t seq = 0;
        int j;
        for (j = i - 1; j >= 0 && strcmp(v[j]->app, v[i]->app) != 0; j--)
            ;
        if (j >= 0)
            seq = v[j]->seq;
        else if (get_seq(s, v[i]->app, &seq) != SGW_OK)
            return SGW_EIO;
        v[i]->seq = seq + 1;
        char *json = entry_json(v[i]);
        if (!json)
            return SGW_ENOMEM;
        char k[64];
        unsigned char sv[8];
        put_be64(sv, v[i]->seq);
        rocksdb_writebatch_put_cf(wb, cf, k, ekey(k, v[i]->app, v[i]->seq), json, strlen(json));
        rocksdb_writebatch_put_cf(wb, cf, k, skey(k, v[i]->app), (const char *)sv, 8);
        free(json);
    }
    return SGW_OK;
}

sgw_err sgw_store_outbox_add(sgw_store *s, sgw_wh_entry *const *v, int n)
{
    if (n <= 0)
        return SGW_OK;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    pthread_mutex_lock(&add_lock);
    sgw_err rv = add_locked(s, wb, v, n);
    if (rv == SGW_OK)
        rv = sgw_store_write_kind_(s, wb, n, 0, SGW_SW_OUTBOX);
    pthread_mutex_unlock(&add_lock);
    rocksdb_writebatch_destroy(wb);
    if (rv == SGW_OK)
        atomic_fetch_add(&st_depth, n);
    return rv;
}

sgw_err sgw_store_outbox_head(sgw_store *s, const char *app, uint64_t from_seq,
                              sgw_wh_entry *out)
{
    char prefix[64];
    size_t kl0 = ekey(prefix, app, from_seq), pl = kl0 - 8;
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s), sgw_store_cf_outbox_(s));
    sgw_err rv = SGW_ENOENT;
    for (rocksdb_iter_seek(it, prefix, kl0); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl != pl + 8 || memcmp(k, prefix, pl) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        rv = entry_parse(v, vl, out);
        if (rv == SGW_EPROTO) {
            sgw_log(SGW_LOG_WARN, "store", "outbox: a malformed entry of %s skipped", app);
            continue;
        }
        break;
    }
    rocksdb_iter_destroy(it);
    return rv;
}

sgw_err sgw_store_outbox_retry(sgw_store *s, const sgw_wh_entry *e)
{
    char *json = entry_json(e);
    if (!json)
        return SGW_ENOMEM;
    char k[64];
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_put_cf(wb, sgw_store_cf_outbox_(s), k, ekey(k, e->app, e->seq), json,
                              strlen(json));
    sgw_err rv = sgw_store_write_kind_(s, wb, 1, 1, SGW_SW_OUTBOX);
    rocksdb_writebatch_destroy(wb);
    free(json);
    atomic_fetch_add(&st_failed, 1);
    return rv;
}

sgw_err sgw_store_outbox_done(sgw_store *s, const sgw_wh_entry *e)
{
    char k[64];
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_cf(wb, sgw_store_cf_outbox_(s), k, ekey(k, e->app, e->seq));
    sgw_err rv = sgw_store_write_kind_(s, wb, 1, 1, SGW_SW_OUTBOX);
    rocksdb_writebatch_destroy(wb);
    if (rv == SGW_OK) {
        atomic_fetch_sub(&st_depth, 1);
        atomic_fetch_add(&st_delivered, 1);
    }
    return rv;
}

sgw_err sgw_store_outbox_kill(sgw_store *s, sgw_wh_entry *e)
{
    e->dead_ms = sgw_now_ms();
    char *json = entry_json(e);
    if (!json)
        return SGW_ENOMEM;
    char k[64], dk[128];
    rocksdb_column_family_handle_t *cf = sgw_store_cf_outbox_(s);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_cf(wb, cf, k, ekey(k, e->app, e->seq));
    rocksdb_writebatch_put_cf(wb, cf, dk, dkey(dk, e->app, e->id), json, strlen(json));
    sgw_err rv = sgw_store_write_kind_(s, wb, 1, 1, SGW_SW_OUTBOX);
    rocksdb_writebatch_destroy(wb);
    free(json);
    if (rv == SGW_OK) {
        atomic_fetch_sub(&st_depth, 1);
        atomic_fetch_add(&st_dead, 1);
    }
    return rv;
}

sgw_err sgw_store_outbox_apps(sgw_store *s, int (*fn)(void *ctx, const char *app), void *ctx)
{
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s), sgw_store_cf_outbox_(s));
    static atomic_int counted;
    if (!atomic_exchange(&counted, 1)) { /* the first call (at start) counts them */
        int64_t depth = 0;
        for (rocksdb_iter_seek(it, "E", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            size_t kl;
            const char *k = rocksdb_iter_key(it, &kl);
            if (kl < 1 || k[0] != 'E')
                break;
            depth++;
        }
        atomic_store(&st_depth, depth);
    }
    int go = 1;
    for (rocksdb_iter_seek(it, "S", 1); go && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < 2 || k[0] != 'S' || kl > 40)
            break;
        char app[48];
        memcpy(app, k + 1, kl - 1);
        app[kl - 1] = '\0';
        go = fn(ctx, app);
    }
    rocksdb_iter_destroy(it);
    return SGW_OK;
}

sgw_err sgw_store_outbox_dead(sgw_store *s, const char *app, int max,
                              void (*fn)(void *ctx, const sgw_wh_entry *e), void *ctx)
{
    char prefix[64];
    size_t pl = dkey(prefix, app, "");
    rocksdb_iterator_t *it =
        rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s), sgw_store_cf_outbox_(s));
    int n = 0;
    for (rocksdb_iter_seek(it, prefix, pl); n < max && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < pl || memcmp(k, prefix, pl) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        sgw_wh_entry e;
        if (entry_parse(v, vl, &e) == SGW_OK) {
            fn(ctx, &e);
            n++;
        }
        sgw_wh_entry_clear(&e);
    }
    rocksdb_iter_destroy(it);
    return SGW_OK;
}

sgw_err sgw_store_outbox_replay(sgw_store *s, const char *app, const char *id)
{
    if (strlen(id) >= sizeof ((sgw_wh_entry *)0)->id)
        return SGW_ENOENT;
    char dk[128], *err = NULL;
    size_t dl = dkey(dk, app, id), len = 0;
    rocksdb_column_family_handle_t *cf = sgw_store_cf_outbox_(s);
    pthread_mutex_lock(&add_lock);
    char *v = rocksdb_get_cf(sgw_store_db_(s), sgw_store_ropts_(s), cf, dk, dl, &len, &err);
    sgw_err rv;
    sgw_wh_entry e = { 0 };
    if (err) {
        sgw_log(SGW_LOG_ERROR, "store", "outbox replay: %s", err);
        rocksdb_free(err);
        rv = SGW_EIO;
    } else if (!v) {
        rv = SGW_ENOENT;
    } else if ((rv = entry_parse(v, len, &e)) == SGW_OK) {
        e.attempts = 0;
        e.last_error[0] = '\0';
        e.created_ms = sgw_now_ms();
        e.next_ms = 0;
        e.dead_ms = 0;
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        sgw_wh_entry *one = &e;
        rocksdb_writebatch_delete_cf(wb, cf, dk, dl);
        if ((rv = add_locked(s, wb, &one, 1)) == SGW_OK)
            rv = sgw_store_write_kind_(s, wb, 1, 0, SGW_SW_OUTBOX);
        rocksdb_writebatch_destroy(wb);
        if (rv == SGW_OK)
            atomic_fetch_add(&st_depth, 1);
    }
    pthread_mutex_unlock(&add_lock);
    rocksdb_free(v);
    sgw_wh_entry_clear(&e);
    return rv;
}

void sgw_store_outbox_stats(sgw_outbox_stats *out)
{
    out->depth = atomic_load(&st_depth);
    out->delivered = atomic_load(&st_delivered);
    out->failed = atomic_load(&st_failed);
    out->dead = atomic_load(&st_dead);
}
