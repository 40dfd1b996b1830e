/*
 * store/batch.c — batches (store.h, "batches"): staged uploads, the commit
 * that makes a batch exist, its counters, its members, and the release of
 * its messages into the pipeline.
 *
 * Keys (column family "batches"): "P" id, "R" id, then id "/" followed by
 * D (document), C (counters), M be64 (members), S be64 (staged
 * recipients), T be64 (staged texts). A batch's own keys share the prefix
 * id "/", so one range delete removes them.
 *
 * Locks: counters are read-modify-written under a per-batch stripe (a hash
 * of the id), taken by sgw_store_sms_update after its record and ledger
 * stripes, never before them; nothing here takes a record stripe while
 * holding a batch stripe.
 */
#include <jansson.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "store/store.h"
#include "store/store_int.h"

#define BATCH_STRIPES 64
#define KEY_MAX 48
#define DELETE_CHUNK 10000

static pthread_mutex_t batch_locks[BATCH_STRIPES] = {
#define L4 PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, \
           PTHREAD_MUTEX_INITIALIZER
#define L16 L4, L4, L4, L4
    L16, L16, L16, L16
#undef L16
#undef L4
};

struct sgw_batch_up {
    sgw_store *s;
    char id[SGW_BATCH_ID_LEN + 1];
    char tenant[32];
    rocksdb_writebatch_t *wb;
    rocksdb_writeoptions_t *wo;   /* not synced: the commit's fsync covers these */
    int chunk;
    int marked;                   /* the P marker is written (or in wb) */
    int committed;
    int wrote;                    /* anything reached the store */
    uint64_t nstaged, nadded;
    /* the message ids added since the last write (open addressing, 0 =
     * free): the store knows the others */
    uint64_t *fresh;
    size_t fresh_cap;
};

/* ---------------------------------------------------------------- keys */

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

/* id "/" kind [be64 n] */
static size_t bkey(unsigned char *out, const char *id, char kind, int with_n, uint64_t n)
{
    size_t l = strlen(id);
    memcpy(out, id, l);
    out[l] = '/';
    out[l + 1] = (unsigned char)kind;
    if (!with_n)
        return l + 2;
    put_be64(out + l + 2, n);
    return l + 10;
}

/* "P" id or "R" id */
static size_t gkey(unsigned char *out, char kind, const char *id)
{
    size_t l = strlen(id);
    out[0] = (unsigned char)kind;
    memcpy(out + 1, id, l);
    return l + 1;
}

/* "L" tenant "/" be64(~stamp) id -> app id: a tenant's batches, newest
 * first (GET /v1/sms/batches), written by the commit. The stamp is the
 * creation time in ms times 1024, made strictly increasing in this process
 * so that batches committed within one millisecond still list in order
 * (stamps of older stores, plain ms, sort as older: they are smaller). */
#define LKEY_MAX 96
static _Atomic uint64_t list_stamp_last;

static uint64_t list_stamp(int64_t created_ms)
{
    uint64_t want = (uint64_t)(created_ms > 0 ? created_ms : 0) * 1024u;
    uint64_t last = atomic_load(&list_stamp_last), next;
    do
        next = want > last ? want : last + 1;
    while (!atomic_compare_exchange_weak(&list_stamp_last, &last, next));
    return next;
}

static size_t lkey(unsigned char *out, const char *tenant, uint64_t stamp, const char *id)
{
    size_t tl = strlen(tenant), il = strlen(id);
    out[0] = 'L';
    memcpy(out + 1, tenant, tl);
    out[1 + tl] = '/';
    put_be64(out + 2 + tl, ~stamp);
    memcpy(out + 10 + tl, id, il);
    return 10 + tl + il;
}

static rocksdb_column_family_handle_t *cfb(sgw_store *s) { return sgw_store_cf_batches_(s); }

/* staging and clean-up writes, never fsynced (on /metrics: kind batch_stage,
 * records = key-value entries) */
static sgw_err batch_write(sgw_store *s, rocksdb_writebatch_t *wb, rocksdb_writeoptions_t *wo)
{
    return sgw_store_write_opts_(s, wb, wo, 0, rocksdb_writebatch_count(wb), SGW_SW_BATCH_STAGE);
}

/* Get a value of the batches keyspace into a heap copy. */
static sgw_err bget(sgw_store *s, const unsigned char *k, size_t kl, char **val, size_t *vl)
{
    char *err = NULL;
    char *v = rocksdb_get_cf(sgw_store_db_(s), sgw_store_ropts_(s), cfb(s), (const char *)k, kl,
                             vl, &err);
    if (err) {
        sgw_log(SGW_LOG_ERROR, "store", "batch get: %s", err);
        rocksdb_free(err);
        return SGW_EIO;
    }
    if (!v)
        return SGW_ENOENT;
    *val = v;
    return SGW_OK;
}

/* ---------------------------------------------------------------- counters */

typedef struct counts_raw {
    uint64_t out, processed, mtime;
    int64_t cost;
} counts_raw;

static void counts_encode(unsigned char v[32], const counts_raw *c)
{
    put_be64(v, c->out);
    put_be64(v + 8, c->processed);
    put_be64(v + 16, (uint64_t)c->cost);
    put_be64(v + 24, c->mtime);
}

static int counts_decode(const char *v, size_t vl, counts_raw *c)
{
    memset(c, 0, sizeof *c);
    if (vl < 32)
        return 0;
    const unsigned char *p = (const unsigned char *)v;
    c->out = get_be64(p);
    c->processed = get_be64(p + 8);
    c->cost = (int64_t)get_be64(p + 16);
    c->mtime = get_be64(p + 24);
    return 1;
}

static sgw_err counts_load(sgw_store *s, const char *id, counts_raw *c)
{
    unsigned char k[KEY_MAX];
    char *v = NULL;
    size_t vl = 0;
    sgw_err rv = bget(s, k, bkey(k, id, 'C', 0, 0), &v, &vl);
    memset(c, 0, sizeof *c);
    if (rv == SGW_OK) {
        counts_decode(v, vl, c);
        rocksdb_free(v);
    }
    return rv;
}

struct sgw_batch_delta {
    char id[SGW_BATCH_ID_LEN + 1];
    int64_t out, processed, cost;
};

static int out_of_pipeline(int st)
{
    return st != SGW_ST_SCHEDULED && st != SGW_ST_QUEUED && st != SGW_ST_SENDING;
}

void sgw_batch_tally_note_(sgw_batch_tally *t, int old_status, const sgw_sms *m)
{
    int out = out_of_pipeline(m->status) && !out_of_pipeline(old_status);
    int done = sgw_status_terminal(m->status) && !sgw_status_terminal(old_status);
    if ((!out && !done) || strlen(m->batch_id) != SGW_BATCH_ID_LEN)
        return;
    struct sgw_batch_delta *d = NULL;
    for (int i = 0; i < t->n && !d; i++)
        if (strcmp(t->v[i].id, m->batch_id) == 0)
            d = &t->v[i];
    if (!d) {
        if (t->n == t->cap) {
            int cap = t->cap ? t->cap * 2 : 8;
            struct sgw_batch_delta *nv = realloc(t->v, sizeof *nv * (size_t)cap);
            if (!nv) {
                sgw_log(SGW_LOG_ERROR, "store", "batch %s: counter lost (out of memory)",
                        m->batch_id);
                return;
            }
            t->v = nv;
            t->cap = cap;
        }
        d = &t->v[t->n++];
        memset(d, 0, sizeof *d);
        snprintf(d->id, sizeof d->id, "%s", m->batch_id);
    }
    d->out += out;
    d->processed += done;
    if (done && !m->refunded)
        d->cost += m->cost_amount;
}

static unsigned batch_stripe(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % BATCH_STRIPES;
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

sgw_err sgw_batch_tally_begin_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_batch_tally *t)
{
    t->locked = calloc((size_t)t->n, sizeof *t->locked);
    if (!t->locked)
        return SGW_ENOMEM;
    for (int i = 0; i < t->n; i++)
        t->locked[i] = batch_stripe(t->v[i].id);
    qsort(t->locked, (size_t)t->n, sizeof *t->locked, cmp_unsigned);
    int u = 0;
    for (int i = 0; i < t->n; i++)
        if (i == 0 || t->locked[i] != t->locked[i - 1])
            t->locked[u++] = t->locked[i];
    for (int i = 0; i < u; i++)
        pthread_mutex_lock(&batch_locks[t->locked[i]]);
    t->nlocked = u;
    uint64_t now = (uint64_t)sgw_now_ms();
    for (int i = 0; i < t->n; i++) {
        counts_raw c;
        sgw_err rv = counts_load(s, t->v[i].id, &c);
        if (rv == SGW_ENOENT)
            continue; /* not committed (or gone): nothing to count */
        if (rv != SGW_OK)
            return rv;
        c.out += (uint64_t)t->v[i].out;
        c.processed += (uint64_t)t->v[i].processed;
        c.cost += t->v[i].cost;
        c.mtime = now;
        unsigned char k[KEY_MAX], v[32];
        counts_encode(v, &c);
        rocksdb_writebatch_put_cf(wb, cfb(s), (const char *)k, bkey(k, t->v[i].id, 'C', 0, 0),
                                  (const char *)v, sizeof v);
    }
    return SGW_OK;
}

void sgw_batch_tally_end_(sgw_batch_tally *t)
{
    for (int i = t->nlocked - 1; i >= 0; i--)
        pthread_mutex_unlock(&batch_locks[t->locked[i]]);
    free(t->locked);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- uploads */

sgw_err sgw_store_batch_up_new(sgw_store *s, const char *tenant, int chunk, sgw_batch_up **out,
                               char id[SGW_BATCH_ID_LEN + 1])
{
    sgw_batch_up *u = calloc(1, sizeof *u);
    if (!u)
        return SGW_ENOMEM;
    u->s = s;
    u->chunk = chunk > 0 ? chunk : 10000;
    snprintf(u->tenant, sizeof u->tenant, "%s", tenant);
    u->wb = rocksdb_writebatch_create();
    u->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(u->wo, 0);
    sgw_err rv = SGW_EEXIST;
    for (int tries = 0; tries < 8 && rv == SGW_EEXIST; tries++) {
        if ((rv = sgw_random_id(u->id, sizeof u->id, "batch_", 16)) != SGW_OK)
            break;
        unsigned char k[KEY_MAX];
        char *v = NULL;
        size_t vl;
        rv = bget(s, k, bkey(k, u->id, 'D', 0, 0), &v, &vl);
        if (rv == SGW_ENOENT)
            rv = bget(s, k, gkey(k, 'P', u->id), &v, &vl);
        if (rv == SGW_OK) {
            rocksdb_free(v);
            rv = SGW_EEXIST;
        } else if (rv == SGW_ENOENT) {
            rv = SGW_OK;
        }
    }
    if (rv != SGW_OK) {
        sgw_store_batch_up_destroy(&u);
        return rv;
    }
    memcpy(id, u->id, sizeof u->id);
    *out = u;
    return SGW_OK;
}

static sgw_err up_flush(sgw_batch_up *u)
{
    if (rocksdb_writebatch_count(u->wb) == 0)
        return SGW_OK;
    sgw_err rv = batch_write(u->s, u->wb, u->wo);
    rocksdb_writebatch_clear(u->wb);
    if (u->fresh)
        memset(u->fresh, 0, sizeof *u->fresh * u->fresh_cap);
    u->wrote = 1;
    return rv;
}

static sgw_err up_mark(sgw_batch_up *u)
{
    if (u->marked)
        return SGW_OK;
    /* first in the first write: a crash leaves nothing unmarked */
    unsigned char k[KEY_MAX];
    rocksdb_writebatch_put_cf(u->wb, cfb(u->s), (const char *)k, gkey(k, 'P', u->id), u->tenant,
                              strlen(u->tenant));
    u->marked = 1;
    return SGW_OK;
}

static sgw_err up_maybe_flush(sgw_batch_up *u)
{
    return rocksdb_writebatch_count(u->wb) >= u->chunk ? up_flush(u) : SGW_OK;
}

sgw_err sgw_store_batch_stage(sgw_batch_up *u, uint32_t msg_index, const char *to, size_t len)
{
    up_mark(u);
    unsigned char k[KEY_MAX];
    char *v = malloc(4 + len);
    if (!v)
        return SGW_ENOMEM;
    v[0] = (char)(msg_index >> 24);
    v[1] = (char)(msg_index >> 16);
    v[2] = (char)(msg_index >> 8);
    v[3] = (char)msg_index;
    memcpy(v + 4, to, len);
    rocksdb_writebatch_put_cf(u->wb, cfb(u->s), (const char *)k,
                              bkey(k, u->id, 'S', 1, ++u->nstaged), v, 4 + len);
    free(v);
    return up_maybe_flush(u);
}

sgw_err sgw_store_batch_stage_text(sgw_batch_up *u, uint32_t msg_index, const char *text,
                                   size_t len)
{
    up_mark(u);
    unsigned char k[KEY_MAX];
    rocksdb_writebatch_put_cf(u->wb, cfb(u->s), (const char *)k,
                              bkey(k, u->id, 'T', 1, msg_index), text, len);
    return up_maybe_flush(u);
}

sgw_err sgw_store_batch_staged_scan(sgw_batch_up *u, sgw_batch_staged_fn fn, void *ctx)
{
    sgw_err rv = up_flush(u);
    if (rv != SGW_OK)
        return rv;
    sgw_store *s = u->s;
    unsigned char sk[KEY_MAX], tk[KEY_MAX];
    size_t skl = bkey(sk, u->id, 'S', 0, 0), tkl = bkey(tk, u->id, 'T', 0, 0);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0); /* read once: keep the cache for others */
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), ro, cfb(s));
    rocksdb_iterator_t *tt = rocksdb_create_iterator_cf(sgw_store_db_(s), ro, cfb(s));
    rocksdb_iter_seek(it, (const char *)sk, skl);
    rocksdb_iter_seek(tt, (const char *)tk, tkl);
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        if (kl != skl + 8 || memcmp(k, sk, skl) != 0)
            break;
        const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vl);
        if (vl < 4)
            continue;
        uint32_t mi = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
        /* the texts are in message order too: advance to this message's */
        const char *text = NULL;
        size_t text_len = 0;
        while (rocksdb_iter_valid(tt)) {
            size_t tl;
            const unsigned char *t = (const unsigned char *)rocksdb_iter_key(tt, &tl);
            if (tl != tkl + 8 || memcmp(t, tk, tkl) != 0)
                break;
            uint64_t ti = get_be64(t + tkl);
            if (ti < mi) {
                rocksdb_iter_next(tt);
                continue;
            }
            if (ti == mi)
                text = rocksdb_iter_value(tt, &text_len);
            break;
        }
        if (!fn(ctx, get_be64(k + skl), mi, (const char *)v + 4, vl - 4, text, text_len)) {
            rv = SGW_ECLOSED;
            break;
        }
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (!err)
        rocksdb_iter_get_error(tt, &err);
    if (err) {
        sgw_log(SGW_LOG_ERROR, "store", "batch %s: staged scan: %s", u->id, err);
        rocksdb_free(err);
        rv = SGW_EIO;
    }
    rocksdb_iter_destroy(it);
    rocksdb_iter_destroy(tt);
    rocksdb_readoptions_destroy(ro);
    return rv;
}

/* Is id (msg_ + 12 hex) among those added since the last write? Adds it if not. */
static int fresh_seen(sgw_batch_up *u, const char *id)
{
    uint64_t v = 0;
    for (const char *p = id + 4; *p; p++)
        v = v << 4 | (uint64_t)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
    v++; /* never 0 */
    size_t i = (size_t)(v * 0x9E3779B97F4A7C15ull) & (u->fresh_cap - 1);
    for (; u->fresh[i]; i = (i + 1) & (u->fresh_cap - 1))
        if (u->fresh[i] == v)
            return 1;
    u->fresh[i] = v;
    return 0;
}

sgw_err sgw_store_batch_add(sgw_batch_up *u, sgw_sms *rec)
{
    up_mark(u);
    if (!u->fresh) {
        u->fresh_cap = 1024;
        while (u->fresh_cap < (size_t)u->chunk * 2)
            u->fresh_cap *= 2;
        if (!(u->fresh = calloc(u->fresh_cap, sizeof *u->fresh)))
            return SGW_ENOMEM;
    }
    sgw_err rv = SGW_EEXIST;
    for (int tries = 0; tries < 8 && rv == SGW_EEXIST; tries++) {
        if ((rv = sgw_random_id(rec->id, sizeof rec->id, "msg_", 12)) != SGW_OK)
            return rv;
        if (fresh_seen(u, rec->id) || sgw_store_sms_exists(u->s, rec->id))
            rv = SGW_EEXIST;
    }
    if (rv != SGW_OK)
        return rv;
    snprintf(rec->batch_id, sizeof rec->batch_id, "%s", u->id);
    if ((rv = sgw_store_put_record_(u->s, u->wb, rec)) != SGW_OK)
        return rv;
    unsigned char k[KEY_MAX];
    rocksdb_writebatch_put_cf(u->wb, cfb(u->s), (const char *)k,
                              bkey(k, u->id, 'M', 1, ++u->nadded), rec->id, strlen(rec->id));
    return up_maybe_flush(u);
}

/* The release cursor ("R" id): what is left to do for a committed batch. */
typedef struct cursor {
    uint64_t next_rel;  /* the next member to release (from 1) */
    uint64_t size;
    int64_t due;        /* release from then on: sendAt, or the commit */
    uint64_t next_idx;  /* the next member to put in the tenant's list index */
    int64_t created;    /* the members' created_ms (their list-index key) */
    char tenant[32];
} cursor;
#define CURSOR_FIXED 40

static size_t cursor_encode(unsigned char *v, const cursor *c)
{
    size_t tl = strlen(c->tenant);
    put_be64(v, c->next_rel);
    put_be64(v + 8, c->size);
    put_be64(v + 16, (uint64_t)c->due);
    put_be64(v + 24, c->next_idx);
    put_be64(v + 32, (uint64_t)c->created);
    memcpy(v + CURSOR_FIXED, c->tenant, tl);
    return CURSOR_FIXED + tl;
}

static int cursor_decode(const unsigned char *v, size_t vl, cursor *c)
{
    memset(c, 0, sizeof *c);
    if (vl < CURSOR_FIXED || vl - CURSOR_FIXED >= sizeof c->tenant)
        return 0;
    c->next_rel = get_be64(v);
    c->size = get_be64(v + 8);
    c->due = (int64_t)get_be64(v + 16);
    c->next_idx = get_be64(v + 24);
    c->created = (int64_t)get_be64(v + 32);
    memcpy(c->tenant, v + CURSOR_FIXED, vl - CURSOR_FIXED);
    return 1;
}

sgw_err sgw_store_batch_commit(sgw_batch_up *u, const char *doc_json, int64_t created_ms,
                               int64_t due_ms, const sgw_batch_charge *charge)
{
    sgw_store *s = u->s;
    sgw_err rv = up_flush(u); /* the last chunk */
    if (rv != SGW_OK)
        return rv;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    unsigned char k[KEY_MAX], k2[KEY_MAX], v[CURSOR_FIXED + 32];
    /* the staging goes */
    rocksdb_writebatch_delete_range_cf(wb, cfb(s), (const char *)k, bkey(k, u->id, 'S', 0, 0),
                                       (const char *)k2, bkey(k2, u->id, 'U', 0, 0));
    rocksdb_writebatch_delete_cf(wb, cfb(s), (const char *)k, gkey(k, 'P', u->id));
    /* the batch comes */
    rocksdb_writebatch_put_cf(wb, cfb(s), (const char *)k, bkey(k, u->id, 'D', 0, 0), doc_json,
                              strlen(doc_json));
    counts_raw c = { .mtime = (uint64_t)created_ms };
    counts_encode(v, &c);
    rocksdb_writebatch_put_cf(wb, cfb(s), (const char *)k, bkey(k, u->id, 'C', 0, 0),
                              (const char *)v, 32);
    cursor cur = { .next_rel = 1, .size = u->nadded, .due = due_ms, .next_idx = 1,
                   .created = created_ms };
    snprintf(cur.tenant, sizeof cur.tenant, "%s", u->tenant);
    rocksdb_writebatch_put_cf(wb, cfb(s), (const char *)k, gkey(k, 'R', u->id), (const char *)v,
                              cursor_encode(v, &cur));
    /* the tenant's list, with the batch's app (from its document) */
    json_t *doc = json_loads(doc_json, 0, NULL);
    const char *app = json_string_value(json_object_get(doc, "appId"));
    unsigned char lk[LKEY_MAX];
    if (strlen(u->tenant) + 10 + strlen(u->id) <= LKEY_MAX)
        rocksdb_writebatch_put_cf(wb, cfb(s), (const char *)lk,
                                  lkey(lk, u->tenant, list_stamp(created_ms), u->id),
                                  app ? app : "", app ? strlen(app) : 0);
    json_decref(doc);
    unsigned stripe = 0;
    int locked = 0;
    if (charge) {
        rv = sgw_ledger_debit_begin_(s, wb, u->tenant, charge->month, charge->quota,
                                     charge->wallet, &stripe);
        locked = 1;
    }
    if (rv == SGW_OK)
        rv = sgw_store_write_kind_(s, wb, (int)(u->nadded > 1000000000 ? 1000000000 : u->nadded),
                                   0, SGW_SW_BATCH_COMMIT);
    if (locked)
        sgw_ledger_debit_end_(s, stripe);
    rocksdb_writebatch_destroy(wb);
    if (rv == SGW_OK)
        u->committed = 1;
    return rv;
}

/* Delete an uncommitted batch: its records (by its M entries), its keys,
 * its P marker. */
static sgw_err batch_delete(sgw_store *s, const char *id)
{
    unsigned char mk[KEY_MAX], k[KEY_MAX], k2[KEY_MAX];
    size_t mkl = bkey(mk, id, 'M', 0, 0);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 0);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s),
                                                        cfb(s));
    sgw_err rv = SGW_OK;
    uint64_t records = 0;
    for (rocksdb_iter_seek(it, (const char *)mk, mkl); rocksdb_iter_valid(it) && rv == SGW_OK;
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *key = rocksdb_iter_key(it, &kl);
        if (kl != mkl + 8 || memcmp(key, mk, mkl) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        rocksdb_writebatch_delete_cf(wb, sgw_store_cf_sms_(s), v, vl);
        records++;
        if (rocksdb_writebatch_count(wb) >= DELETE_CHUNK) {
            rv = batch_write(s, wb, wo);
            rocksdb_writebatch_clear(wb);
        }
    }
    rocksdb_iter_destroy(it);
    /* the records first: the marker goes last, so a crash here repeats this */
    if (rv == SGW_OK) {
        char end[SGW_BATCH_ID_LEN + 2];
        snprintf(end, sizeof end, "%s0", id); /* '0' follows '/' */
        size_t kl = bkey(k, id, 'D', 0, 0) - 1; /* id "/" */
        rocksdb_writebatch_delete_range_cf(wb, cfb(s), (const char *)k, kl, end, strlen(end));
        rocksdb_writebatch_delete_cf(wb, cfb(s), (const char *)k2, gkey(k2, 'P', id));
        rv = sgw_store_write_kind_(s, wb, 0, 1, SGW_SW_BATCH_STAGE);
    }
    rocksdb_writebatch_destroy(wb);
    rocksdb_writeoptions_destroy(wo);
    if (rv == SGW_OK && records)
        sgw_log(SGW_LOG_INFO, "store", "batch %s: %llu staged messages removed", id,
                (unsigned long long)records);
    return rv;
}

void sgw_store_batch_up_destroy(sgw_batch_up **up)
{
    if (!up || !*up)
        return;
    sgw_batch_up *u = *up;
    rocksdb_writebatch_clear(u->wb);
    if (!u->committed && u->wrote && batch_delete(u->s, u->id) != SGW_OK)
        sgw_log(SGW_LOG_ERROR, "store", "batch %s: staged data not removed; the next start "
                "removes it", u->id);
    rocksdb_writebatch_destroy(u->wb);
    rocksdb_writeoptions_destroy(u->wo);
    free(u->fresh);
    free(u);
    *up = NULL;
}

int sgw_store_batch_recover_(sgw_store *s)
{
    /* collect the markers first (a delete while iterating is fine, but keep
     * the iterator short-lived) */
    char (*ids)[SGW_BATCH_ID_LEN + 1] = NULL;
    int n = 0, cap = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s),
                                                        cfb(s));
    for (rocksdb_iter_seek(it, "P", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < 1 || k[0] != 'P')
            break;
        if (kl - 1 != SGW_BATCH_ID_LEN)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            void *nv = realloc(ids, sizeof *ids * (size_t)cap);
            if (!nv)
                break;
            ids = nv;
        }
        memcpy(ids[n], k + 1, SGW_BATCH_ID_LEN);
        ids[n][SGW_BATCH_ID_LEN] = '\0';
        n++;
    }
    rocksdb_iter_destroy(it);
    for (int i = 0; i < n; i++) {
        sgw_log(SGW_LOG_WARN, "store", "batch %s: its upload never completed (the process "
                "stopped during it): removing what it staged", ids[i]);
        batch_delete(s, ids[i]);
    }
    free(ids);
    return n;
}

/* ---------------------------------------------------------------- reading */

sgw_err sgw_store_batch_get(sgw_store *s, const char *id, char **json, sgw_batch_counts *c)
{
    if (strlen(id) != SGW_BATCH_ID_LEN)
        return SGW_ENOENT;
    unsigned char k[KEY_MAX];
    char *v = NULL;
    size_t vl = 0;
    sgw_err rv = bget(s, k, bkey(k, id, 'D', 0, 0), &v, &vl);
    if (rv != SGW_OK)
        return rv;
    *json = strndup(v, vl);
    rocksdb_free(v);
    if (!*json)
        return SGW_ENOMEM;
    counts_raw r;
    if (counts_load(s, id, &r) == SGW_EIO) {
        free(*json);
        *json = NULL;
        return SGW_EIO;
    }
    c->out = (int64_t)r.out;
    c->processed = (int64_t)r.processed;
    c->cost = r.cost;
    c->mtime_ms = (int64_t)r.mtime;
    return SGW_OK;
}

sgw_err sgw_store_batch_members(sgw_store *s, const char *id, uint64_t after, int max,
                                void (*fn)(void *ctx, const char *msg_id), void *ctx,
                                uint64_t *next)
{
    unsigned char k0[KEY_MAX];
    size_t pl = bkey(k0, id, 'M', 0, 0);
    size_t k0l = bkey(k0, id, 'M', 1, after + 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s),
                                                        cfb(s));
    int n = 0;
    *next = 0;
    for (rocksdb_iter_seek(it, (const char *)k0, k0l); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        if (kl != pl + 8 || memcmp(k, k0, pl) != 0)
            break;
        uint64_t seq = get_be64(k + pl);
        if (n == max) {
            *next = seq - 1; /* there is more: continue after the last given */
            break;
        }
        const char *v = rocksdb_iter_value(it, &vl);
        char mid[32];
        if (vl >= sizeof mid)
            continue;
        memcpy(mid, v, vl);
        mid[vl] = '\0';
        fn(ctx, mid);
        n++;
    }
    rocksdb_iter_destroy(it);
    return SGW_OK;
}

sgw_err sgw_store_batch_list(sgw_store *s, const char *tenant, const char *app,
                             const char *after, int max, void (*fn)(void *ctx, const char *id),
                             void *ctx, char next[SGW_BATCH_CURSOR_LEN + 1])
{
    unsigned char k0[LKEY_MAX];
    size_t tl = strlen(tenant), pl = tl + 2, k0l = pl;
    if (tl + 10 + SGW_BATCH_ID_LEN > LKEY_MAX)
        return SGW_EINVAL;
    k0[0] = 'L';
    memcpy(k0 + 1, tenant, tl);
    k0[1 + tl] = '/';
    int skip_first = 0;
    if (after && after[0]) { /* 16 hex of ~stamp, then the batch id */
        if (strlen(after) != SGW_BATCH_CURSOR_LEN)
            return SGW_EINVAL;
        uint64_t inv = 0;
        for (int i = 0; i < 16; i++) {
            char c = after[i];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return SGW_EINVAL;
            inv = (inv << 4) | (uint64_t)d;
        }
        k0l = lkey(k0, tenant, ~inv, after + 16);
        skip_first = 1;
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s),
                                                        cfb(s));
    int n = 0, more = 0;
    char last[SGW_BATCH_CURSOR_LEN + 1] = "";
    for (rocksdb_iter_seek(it, (const char *)k0, k0l); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        if (kl != pl + 8 + SGW_BATCH_ID_LEN || memcmp(k, k0, pl) != 0)
            break;
        if (skip_first && kl == k0l && memcmp(k, k0, kl) == 0)
            continue;
        skip_first = 0;
        const char *v = rocksdb_iter_value(it, &vl);
        if (app && (vl != strlen(app) || memcmp(v, app, vl) != 0))
            continue;
        if (n == max) { /* one more exists: the cursor names the last given */
            more = 1;
            break;
        }
        char id[SGW_BATCH_ID_LEN + 1];
        memcpy(id, k + pl + 8, SGW_BATCH_ID_LEN);
        id[SGW_BATCH_ID_LEN] = '\0';
        fn(ctx, id);
        n++;
        snprintf(last, sizeof last, "%016llx%s", (unsigned long long)get_be64(k + pl), id);
    }
    snprintf(next, SGW_BATCH_CURSOR_LEN + 1, "%s", more ? last : "");
    rocksdb_iter_destroy(it);
    return SGW_OK;
}

/* ---------------------------------------------------------------- release */

#define INDEX_PAGE 4096  /* list-index entries per step: keys only, cheap */

typedef struct release_ctx {
    int64_t now, lease_ms;
    sgw_sms *changed;    /* copies of released records */
    int *did;
} release_ctx;

static int release_mutate(sgw_sms *m, void *vctx, int i)
{
    release_ctx *c = vctx;
    c->did[i] = 0;
    /* released before (a crash between the steps), cancelled, or finished */
    if (m->due_kind != SGW_DUE_NONE || sgw_status_terminal(m->status))
        return 0;
    if (m->status == SGW_ST_SCHEDULED)
        sgw_sms_set_status(m, SGW_ST_QUEUED, c->now);
    else if (m->status != SGW_ST_QUEUED)
        return 0;
    /* from here on the message is like any other: leased, in the pipeline */
    m->due_kind = SGW_DUE_LEASE;
    m->due_ms = c->now + c->lease_ms;
    if (sgw_sms_copy(&c->changed[i], m) == SGW_OK)
        c->did[i] = 1;
    return 1;
}

typedef struct id_list {
    char (*ids)[24];
    int n;
} id_list;

static void collect_id(void *ctx, const char *mid)
{
    id_list *l = ctx;
    snprintf(l->ids[l->n], sizeof l->ids[0], "%s", mid);
    l->n++;
}

static sgw_err cursor_put(sgw_store *s, const char *id, const cursor *c)
{
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    unsigned char k[KEY_MAX], v[CURSOR_FIXED + 32];
    size_t kl = gkey(k, 'R', id);
    if (c->next_rel > c->size && c->next_idx > c->size)
        rocksdb_writebatch_delete_cf(wb, cfb(s), (const char *)k, kl); /* all done */
    else
        rocksdb_writebatch_put_cf(wb, cfb(s), (const char *)k, kl, (const char *)v,
                                  cursor_encode(v, c));
    sgw_err rv = sgw_store_write_kind_(s, wb, 0, 1, SGW_SW_BATCH_PROGRESS);
    rocksdb_writebatch_destroy(wb);
    return rv;
}

/* The next members into the tenant's list index (GET /v1/sms): every
 * member has the batch's tenant and created time, so no record is read. */
static int index_page(sgw_store *s, const char *id, cursor *c, sgw_err *err)
{
    id_list l = { calloc(INDEX_PAGE, sizeof *l.ids), 0 };
    uint64_t after;
    *err = SGW_ENOMEM;
    if (!l.ids)
        return 0;
    *err = sgw_store_batch_members(s, id, c->next_idx - 1, INDEX_PAGE, collect_id, &l, &after);
    if (*err == SGW_OK) {
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        sgw_sms m;
        memset(&m, 0, sizeof m);
        snprintf(m.tenant, sizeof m.tenant, "%s", c->tenant);
        m.created_ms = c->created;
        for (int i = 0; i < l.n; i++) {
            snprintf(m.id, sizeof m.id, "%s", l.ids[i]);
            sgw_store_put_idx_(s, wb, &m);
        }
        *err = sgw_store_write_kind_(s, wb, l.n, 1, SGW_SW_BATCH_PROGRESS);
        rocksdb_writebatch_destroy(wb);
        c->next_idx = l.n ? c->next_idx + (uint64_t)l.n : c->size + 1;
    }
    free(l.ids);
    return *err == SGW_OK ? l.n : 0;
}

/* Release up to want members from c->next_rel: returns how many it went
 * past; *given counts the records handed to fn. */
static int release_page(sgw_store *s, const char *id, cursor *c, int want, int64_t now,
                        int64_t lease_ms, sgw_batch_release_fn fn, void *fctx, int *given,
                        sgw_err *err)
{
    id_list l = { calloc((size_t)want, sizeof *l.ids), 0 };
    const char **ids = calloc((size_t)want, sizeof *ids);
    release_ctx rc = { .now = now, .lease_ms = lease_ms,
                       .changed = calloc((size_t)want, sizeof *rc.changed),
                       .did = calloc((size_t)want, sizeof *rc.did) };
    uint64_t after = 0;
    *err = SGW_ENOMEM;
    if (!l.ids || !ids || !rc.changed || !rc.did)
        goto out;
    if ((*err = sgw_store_batch_members(s, id, c->next_rel - 1, want, collect_id, &l, &after)) !=
        SGW_OK)
        goto out;
    for (int i = 0; i < l.n; i++)
        ids[i] = l.ids[i];
    if (l.n && (*err = sgw_store_sms_update(s, ids, l.n, release_mutate, &rc, NULL)) != SGW_OK)
        goto out;
    c->next_rel = l.n ? c->next_rel + (uint64_t)l.n : c->size + 1;
    /* a crash before this write repeats the page: release_mutate then
     * skips what it leased (the scheduler's recovery resends those) */
    if ((*err = cursor_put(s, id, c)) != SGW_OK)
        goto out;
    for (int i = 0; i < l.n; i++)
        if (rc.did[i]) {
            fn(fctx, &rc.changed[i]);
            (*given)++;
        }
out:
    for (int i = 0; rc.changed && i < want; i++)
        sgw_sms_clear(&rc.changed[i]);
    free(rc.changed);
    free(rc.did);
    free(l.ids);
    free(ids);
    return *err == SGW_OK ? l.n : 0;
}

int sgw_store_batch_release(sgw_store *s, int64_t now_ms, int64_t lease_ms, int page, int window,
                            sgw_batch_release_fn fn, void *ctx)
{
    /* the batches with work now: members to index, or to release once due */
    typedef struct pending { char id[SGW_BATCH_ID_LEN + 1]; cursor c; } pending;
    pending todo[16];
    int ntodo = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s),
                                                        cfb(s));
    for (rocksdb_iter_seek(it, "R", 1); rocksdb_iter_valid(it) && ntodo < 16;
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < 1 || k[0] != 'R')
            break;
        const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vl);
        pending *p = &todo[ntodo];
        if (kl - 1 != SGW_BATCH_ID_LEN || !cursor_decode(v, vl, &p->c))
            continue;
        if (p->c.next_idx > p->c.size && p->c.due > now_ms)
            continue; /* indexed, and its sendAt has not come */
        memcpy(p->id, k + 1, SGW_BATCH_ID_LEN);
        p->id[SGW_BATCH_ID_LEN] = '\0';
        ntodo++;
    }
    rocksdb_iter_destroy(it);
    int went = 0, given = 0;
    for (int i = 0; i < ntodo; i++) {
        cursor *c = &todo[i].c;
        sgw_err err = SGW_OK;
        if (c->next_idx <= c->size) {
            went += index_page(s, todo[i].id, c, &err);
            if (err == SGW_OK)
                err = cursor_put(s, todo[i].id, c);
        }
        if (err == SGW_OK && c->due <= now_ms && c->next_rel <= c->size) {
            counts_raw cn;
            if (counts_load(s, todo[i].id, &cn) == SGW_EIO)
                continue;
            /* released and not yet sent or finished: in the pipeline */
            int64_t inflight = (int64_t)(c->next_rel - 1) - (int64_t)cn.out;
            int64_t want = window - (inflight > 0 ? inflight : 0);
            if (want > page)
                want = page;
            if (want > (int64_t)(c->next_idx - c->next_rel))
                want = (int64_t)(c->next_idx - c->next_rel); /* listed first */
            if (want > 0)
                went += release_page(s, todo[i].id, c, (int)want, now_ms, lease_ms, fn, ctx,
                                     &given, &err);
        }
        if (err != SGW_OK)
            sgw_log(SGW_LOG_ERROR, "store", "batch %s: release failed (%s); retried",
                    todo[i].id, sgw_strerror(err));
    }
    return went;
}
