#include "store/store.h"

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bus/log.h"
#include "bus/util.h"
#include "store/secret.h"
#include "store/store_int.h"

enum { CF_DEFAULT = 0, CF_SMS, CF_SMS_IDX, CF_SCHED, CF_TENANTS, CF_APPS, CF_KEYS, CF_META, CF_CONNS,
       CF_TEMPLATES, CF_SENDER_IDS,
       CF_IDEM, /* store/idem.c */
       CF_OUTBOX, /* store/outbox.c: app webhook deliveries */
       CF_PROVID, /* store/provid.c: provider message id -> message id */
       CF_BATCHES, /* store/batch.c: batch uploads, documents, counters, members */
       CF_MAX };
static const char *const cf_names[CF_MAX] = {
    "default", "sms", "sms_idx", "sched", "tenants", "apps", "keys", "meta", "conns",
    "templates", "sender_ids",
    "idem",
    "outbox",
    "provid",
    "batches",
};
static const int doc_cf[SGW_DOC_MAX] = { CF_TENANTS, CF_APPS, CF_KEYS, CF_META, CF_CONNS,
                                               CF_TEMPLATES, CF_SENDER_IDS };

#define STRIPES 256
#define ID_MAX 24

struct sgw_store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *cf_opts[CF_MAX];
    rocksdb_column_family_handle_t *cf[CF_MAX];
    rocksdb_block_based_table_options_t *table;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wopts;
    rocksdb_readoptions_t *ropts;
    int sync_policy; /* 0 always, 1 batch, 2 none */
    int sync_updates;
    rocksdb_writeoptions_t *wopts_nosync;
    int64_t sync_interval_ms;
    pthread_t syncer;
    int syncer_running;
    atomic_int closing;
    pthread_mutex_t stripes[STRIPES];
    pthread_mutex_t ledger[SGW_LEDGER_STRIPES]; /* store/ledger.c: per tenant */
    sgw_secret_key secret;
    atomic_uint_fast64_t writes, write_us_sum, records_written;
    struct wstat { /* per kind and fsynced: sgw_store_wstats, with atomics */
        atomic_uint_fast64_t writes, us_sum, records;
        atomic_uint_fast64_t lat[SGW_STORE_LAT_BUCKETS], size[SGW_STORE_SIZE_BUCKETS];
    } by[SGW_SW_MAX][2];
    atomic_uint_fast64_t doc_gen[SGW_DOC_MAX]; /* sgw_store_doc_gen */
};

static sgw_err store_fail(const char *what, char *err)
{
    sgw_log(SGW_LOG_ERROR, "store", "%s: %s", what, err ? err : "?");
    rocksdb_free(err);
    return SGW_EIO;
}

/* ---------------------------------------------------------------- keys */

static void be64(unsigned char out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)(v & 0xff);
}

static uint64_t rd_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* sched key: be64(due) + id */
static size_t sched_key(unsigned char *out, int64_t due, const char *id)
{
    size_t n = strlen(id);
    be64(out, (uint64_t)(due < 0 ? 0 : due));
    memcpy(out + 8, id, n);
    return 8 + n;
}

/* index key: tenant "/" be64(~created) id */
static size_t idx_key(unsigned char *out, const char *tenant, int64_t created, const char *id)
{
    size_t t = strlen(tenant), n = strlen(id);
    memcpy(out, tenant, t);
    out[t] = '/';
    be64(out + t + 1, ~(uint64_t)created);
    memcpy(out + t + 9, id, n);
    return t + 9 + n;
}

/* ---------------------------------------------------------------- open/close */

static void *store_syncer(void *arg)
{
    sgw_store *s = arg;
    while (!atomic_load(&s->closing)) {
        struct timespec ts = { .tv_sec = s->sync_interval_ms / 1000,
                               .tv_nsec = (s->sync_interval_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        sgw_store_sync(s);
    }
    return NULL;
}

sgw_err sgw_store_open(const char *dir, const sgw_cfg *cfg, sgw_store **out, char *why,
                       size_t whysz)
{
    sgw_store *s = calloc(1, sizeof *s);
    if (!s)
        return SGW_ENOMEM;
    const char *sync = sgw_cfg_str(cfg, "store.sync");
    s->sync_policy = strcmp(sync, "always") == 0 ? 0 : strcmp(sync, "batch") == 0 ? 1 : 2;
    s->sync_interval_ms = sgw_cfg_int(cfg, "store.sync_interval_ms");
    s->sync_updates = s->sync_policy == 0 && sgw_cfg_bool(cfg, "store.sync_updates");
    if (s->sync_interval_ms <= 0)
        s->sync_interval_ms = 200;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&s->stripes[i], NULL);
    for (int i = 0; i < SGW_LEDGER_STRIPES; i++)
        pthread_mutex_init(&s->ledger[i], NULL);

    mkdir(dir, 0700);
    if (sgw_secret_key_load(cfg, dir, &s->secret, why, whysz) != SGW_OK) {
        sgw_store_close(&s);
        return SGW_ECONFIG;
    }
    s->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->opts, 1);
    rocksdb_options_set_create_missing_column_families(s->opts, 1);
    rocksdb_options_increase_parallelism(s->opts, 2);
    rocksdb_options_set_max_background_jobs(s->opts, 2);

    int64_t cache_mb = sgw_cfg_int(cfg, "store.block_cache_mb");
    int64_t wbuf_mb = sgw_cfg_int(cfg, "store.write_buffer_mb");
    s->cache = rocksdb_cache_create_lru((size_t)(cache_mb > 0 ? cache_mb : 64) << 20);
    s->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(s->table, s->cache);
    rocksdb_block_based_options_set_filter_policy(s->table, rocksdb_filterpolicy_create_bloom(10));
    const char *names[CF_MAX];
    const rocksdb_options_t *cfo[CF_MAX];
    for (int i = 0; i < CF_MAX; i++) {
        s->cf_opts[i] = rocksdb_options_create();
        rocksdb_options_set_block_based_table_factory(s->cf_opts[i], s->table);
        rocksdb_options_set_write_buffer_size(s->cf_opts[i],
                                              (size_t)(wbuf_mb > 0 ? wbuf_mb : 32) << 20);
        names[i] = cf_names[i];
        cfo[i] = s->cf_opts[i];
    }
    char *err = NULL;
    s->db = rocksdb_open_column_families(s->opts, dir, CF_MAX, names, cfo, s->cf, &err);
    if (err) {
        snprintf(why, whysz, "%s", err);
        rocksdb_free(err);
        s->db = NULL;
        sgw_store_close(&s);
        return SGW_EIO;
    }
    s->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts, s->sync_policy == 0);
    s->wopts_nosync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts_nosync, 0);
    s->ropts = rocksdb_readoptions_create();
    /* the background sync serves "batch", and "always" with unsynced updates */
    if ((s->sync_policy == 1 || (s->sync_policy == 0 && !s->sync_updates)) && pthread_create(&s->syncer, NULL, store_syncer, s) == 0)
        s->syncer_running = 1;
    sgw_store_batch_recover_(s); /* uploads a crash cut short (store/batch.c) */
    *out = s;
    return SGW_OK;
}

sgw_err sgw_store_sync(sgw_store *s)
{
    char *err = NULL;
    rocksdb_flush_wal(s->db, 1, &err);
    return err ? store_fail("wal sync", err) : SGW_OK;
}

void sgw_store_close(sgw_store **sp)
{
    if (!sp || !*sp)
        return;
    sgw_store *s = *sp;
    atomic_store(&s->closing, 1);
    if (s->syncer_running)
        pthread_join(s->syncer, NULL);
    if (s->db) {
        sgw_store_sync(s);
        /* a clean stop writes the memtables out, so the next start replays
         * no WAL (1M pending: seconds of replay otherwise); a crash skips
         * this and the WAL, synced, brings everything back */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        rocksdb_flushoptions_set_wait(fo, 1);
        int64_t t0 = sgw_mono_ms();
        for (int i = 0; i < CF_MAX; i++) {
            char *err = NULL;
            if (s->cf[i])
                rocksdb_flush_cf(s->db, fo, s->cf[i], &err);
            if (err) {
                sgw_log(SGW_LOG_WARN, "store", "flush at close: %s", err);
                rocksdb_free(err);
            }
        }
        rocksdb_flushoptions_destroy(fo);
        sgw_log(SGW_LOG_INFO, "store", "memtables flushed at close in %lld ms",
                (long long)(sgw_mono_ms() - t0));
        for (int i = 0; i < CF_MAX; i++)
            if (s->cf[i])
                rocksdb_column_family_handle_destroy(s->cf[i]);
        rocksdb_close(s->db);
    }
    for (int i = 0; i < CF_MAX; i++)
        if (s->cf_opts[i])
            rocksdb_options_destroy(s->cf_opts[i]);
    if (s->table)
        rocksdb_block_based_options_destroy(s->table);
    if (s->cache)
        rocksdb_cache_destroy(s->cache);
    if (s->opts)
        rocksdb_options_destroy(s->opts);
    if (s->wopts)
        rocksdb_writeoptions_destroy(s->wopts);
    if (s->wopts_nosync)
        rocksdb_writeoptions_destroy(s->wopts_nosync);
    if (s->ropts)
        rocksdb_readoptions_destroy(s->ropts);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&s->stripes[i]);
    free(s);
    *sp = NULL;
}

/* ---------------------------------------------------------------- write metrics */

/* upper bounds: microseconds for the time, records for the size */
static const uint64_t lat_us_bound[SGW_STORE_LAT_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000 };
const char *const sgw_store_lat_le[SGW_STORE_LAT_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "1", "+Inf" };
static const uint64_t size_bound[SGW_STORE_SIZE_BUCKETS - 1] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384, 65536 };
const char *const sgw_store_size_le[SGW_STORE_SIZE_BUCKETS] = {
    "1", "2", "4", "8", "16", "32", "64", "128", "256", "1024", "4096", "16384", "65536", "+Inf" };
static const char *const wkind_names[SGW_SW_MAX] = {
    "other", "sms_new", "sms_update", "doc", "idem", "outbox", "batch_stage", "batch_commit",
    "batch_progress" };

const char *sgw_store_wkind_name(int kind)
{
    return kind >= 0 && kind < SGW_SW_MAX ? wkind_names[kind] : "other";
}

static int bucket_of(const uint64_t *bounds, int nbounds, uint64_t v)
{
    int i = 0;
    while (i < nbounds && v > bounds[i])
        i++;
    return i; /* nbounds: +Inf */
}

static void count_write(sgw_store *s, int kind, int synced, uint64_t us, int records)
{
    if (kind < 0 || kind >= SGW_SW_MAX)
        kind = SGW_SW_OTHER;
    uint64_t rec = records > 0 ? (uint64_t)records : 0;
    struct wstat *w = &s->by[kind][synced ? 1 : 0];
    atomic_fetch_add_explicit(&s->writes, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->write_us_sum, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->records_written, rec, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->writes, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->us_sum, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->records, rec, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->lat[bucket_of(lat_us_bound, SGW_STORE_LAT_BUCKETS - 1, us)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&w->size[bucket_of(size_bound, SGW_STORE_SIZE_BUCKETS - 1, rec)], 1,
                              memory_order_relaxed);
}

static sgw_err write_timed(sgw_store *s, rocksdb_writebatch_t *wb,
                           const rocksdb_writeoptions_t *wo, int synced, int records, int kind)
{
    char *err = NULL;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    rocksdb_write(s->db, wo, wb, &err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (err)
        return store_fail("write", err);
    int64_t us = (int64_t)(b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
    count_write(s, kind, synced, us > 0 ? (uint64_t)us : 0, records);
    return SGW_OK;
}

/* update != 0: a status change after acceptance (store.sync_updates) */
static sgw_err store_write(sgw_store *s, rocksdb_writebatch_t *wb, int records, int update,
                           int kind)
{
    int nosync = update && !s->sync_updates;
    return write_timed(s, wb, nosync ? s->wopts_nosync : s->wopts,
                       !nosync && s->sync_policy == 0, records, kind);
}

void sgw_store_get_stats(sgw_store *s, sgw_store_stats *out)
{
    out->writes = atomic_load(&s->writes);
    out->write_us_sum = atomic_load(&s->write_us_sum);
    out->records_written = atomic_load(&s->records_written);
    for (int k = 0; k < SGW_SW_MAX; k++)
        for (int y = 0; y < 2; y++) {
            const struct wstat *w = &s->by[k][y];
            sgw_store_wstats *o = &out->by[k][y];
            o->writes = atomic_load(&w->writes);
            o->us_sum = atomic_load(&w->us_sum);
            o->records = atomic_load(&w->records);
            for (int i = 0; i < SGW_STORE_LAT_BUCKETS; i++)
                o->lat[i] = atomic_load(&w->lat[i]);
            for (int i = 0; i < SGW_STORE_SIZE_BUCKETS; i++)
                o->size[i] = atomic_load(&w->size[i]);
        }
}

/* ---------------------------------------------------------------- messages */

static void put_sched(rocksdb_writebatch_t *wb, sgw_store *s, const sgw_sms *m)
{
    if (m->due_kind == SGW_DUE_NONE)
        return;
    unsigned char k[8 + ID_MAX];
    char kind = (char)m->due_kind;
    rocksdb_writebatch_put_cf(wb, s->cf[CF_SCHED], (const char *)k, sched_key(k, m->due_ms, m->id),
                              &kind, 1);
}

static void del_sched(rocksdb_writebatch_t *wb, sgw_store *s, const sgw_sms *m)
{
    if (m->due_kind == SGW_DUE_NONE)
        return;
    unsigned char k[8 + ID_MAX];
    rocksdb_writebatch_delete_cf(wb, s->cf[CF_SCHED], (const char *)k,
                                 sched_key(k, m->due_ms, m->id));
}

static sgw_err put_record(rocksdb_writebatch_t *wb, sgw_store *s, const sgw_sms *m)
{
    void *buf;
    size_t len;
    sgw_err rv = sgw_sms_encode(m, &buf, &len);
    if (rv != SGW_OK)
        return rv;
    rocksdb_writebatch_put_cf(wb, s->cf[CF_SMS], m->id, strlen(m->id), buf, len);
    free(buf);
    return SGW_OK;
}

int sgw_store_sms_exists(sgw_store *s, const char *id)
{
    char *err = NULL;
    size_t len = 0;
    rocksdb_pinnableslice_t *p =
        rocksdb_get_pinned_cf(s->db, s->ropts, s->cf[CF_SMS], id, strlen(id), &err);
    if (err) {
        store_fail("get", err);
        return 1; /* fail safe: treat as taken */
    }
    int found = p && rocksdb_pinnableslice_value(p, &len) != NULL;
    rocksdb_pinnableslice_destroy(p);
    return found;
}

sgw_err sgw_store_put_new_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_sms *const *v, int n)
{
    sgw_err rv = SGW_OK;
    for (int i = 0; i < n && rv == SGW_OK; i++) {
        const sgw_sms *m = v[i];
        unsigned char k[64 + ID_MAX];
        if (strlen(m->id) >= ID_MAX || strlen(m->tenant) > 63)
            return SGW_EINVAL;
        rv = put_record(wb, s, m);
        rocksdb_writebatch_put_cf(wb, s->cf[CF_SMS_IDX], (const char *)k,
                                  idx_key(k, m->tenant, m->created_ms, m->id), "", 0);
        put_sched(wb, s, m);
    }
    return rv;
}

sgw_err sgw_store_sms_insert(sgw_store *s, sgw_sms *const *v, int n)
{
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    sgw_err rv = sgw_store_put_new_(s, wb, v, n);
    if (rv == SGW_OK)
        rv = store_write(s, wb, n, 0, SGW_SW_SMS_NEW);
    rocksdb_writebatch_destroy(wb);
    return rv;
}

void sgw_store_doc_put_wb_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_doc_kind kind,
                           const char *id, const char *json)
{
    rocksdb_writebatch_put_cf(wb, s->cf[doc_cf[kind]], id, strlen(id), json, strlen(json));
}

uint64_t sgw_store_doc_gen(sgw_store *s, sgw_doc_kind kind)
{
    return (unsigned)kind < SGW_DOC_MAX ? (uint64_t)atomic_load(&s->doc_gen[kind]) : 0;
}

pthread_mutex_t *sgw_store_ledger_lock_(sgw_store *s, unsigned stripe)
{
    return &s->ledger[stripe % SGW_LEDGER_STRIPES];
}

sgw_err sgw_store_sms_get(sgw_store *s, const char *id, sgw_sms *out)
{
    char *err = NULL;
    size_t len = 0;
    rocksdb_pinnableslice_t *p =
        rocksdb_get_pinned_cf(s->db, s->ropts, s->cf[CF_SMS], id, strlen(id), &err);
    if (err)
        return store_fail("get", err);
    const char *val = p ? rocksdb_pinnableslice_value(p, &len) : NULL;
    sgw_err rv = val ? sgw_sms_decode(val, len, out) : SGW_ENOENT;
    rocksdb_pinnableslice_destroy(p);
    if (rv == SGW_EPROTO)
        sgw_log(SGW_LOG_ERROR, "store", "record %s is corrupt", id);
    return rv;
}

static unsigned stripe_of(const char *id)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % STRIPES;
}

static int cmp_uint(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

sgw_err sgw_store_sms_update(sgw_store *s, const char *const *ids, int n, sgw_sms_mutate_fn fn,
                             void *ctx, sgw_err *found)
{
    /* lock the stripes in ascending order, each once */
    unsigned *st = malloc(sizeof *st * (size_t)(n ? n : 1));
    if (!st)
        return SGW_ENOMEM;
    for (int i = 0; i < n; i++)
        st[i] = stripe_of(ids[i]);
    qsort(st, (size_t)n, sizeof *st, cmp_uint);
    int nlocked = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || st[i] != st[i - 1])
            st[nlocked++] = st[i];
    for (int i = 0; i < nlocked; i++)
        pthread_mutex_lock(&s->stripes[st[i]]);

    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    sgw_err rv = SGW_OK;
    int writes = 0;
    /* A batch may name one id twice: later mutations must see earlier ones,
     * so records are kept until the write. */
    sgw_sms *recs = calloc((size_t)(n ? n : 1), sizeof *recs);
    int64_t *old_due = calloc((size_t)(n ? n : 1), sizeof *old_due);
    int *old_kind = calloc((size_t)(n ? n : 1), sizeof *old_kind);
    int *state = calloc((size_t)(n ? n : 1), sizeof *state); /* 0 absent, 1 loaded, 2 alias */
    int *old_status = calloc((size_t)(n ? n : 1), sizeof *old_status);
    sgw_batch_tally tally = { 0 }; /* store/batch.c: batch counters, in this write */
    if (!recs || !old_due || !old_kind || !state || !old_status) {
        rv = SGW_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int prev = -1;
        for (int j = i - 1; j >= 0 && prev < 0; j--)
            if ((state[j] & 1) && strcmp(ids[j], ids[i]) == 0)
                prev = j;
        sgw_sms *m;
        if (prev >= 0) {
            m = &recs[prev];
        } else {
            sgw_err g = sgw_store_sms_get(s, ids[i], &recs[i]);
            if (found)
                found[i] = g;
            if (g != SGW_OK)
                continue;
            state[i] = 1;
            m = &recs[i];
            old_due[i] = m->due_ms;
            old_kind[i] = m->due_kind;
            old_status[i] = m->status;
        }
        if (found && prev >= 0)
            found[i] = SGW_OK;
        if (fn(m, ctx, i))
            state[prev >= 0 ? prev : i] |= 4; /* dirty */
    }
    for (int i = 0; i < n; i++) {
        if (!(state[i] & 1) || !(state[i] & 4))
            continue;
        sgw_sms *m = &recs[i];
        if (m->due_ms != old_due[i] || m->due_kind != old_kind[i]) {
            sgw_sms old = { 0 };
            snprintf(old.id, sizeof old.id, "%s", m->id);
            old.due_ms = old_due[i];
            old.due_kind = old_kind[i];
            del_sched(wb, s, &old);
            put_sched(wb, s, m);
        }
        if (sgw_ledger_refund_due_(m)) {
            m->refunded = 1;
            state[i] |= 8; /* its tenant is credited below, in this write */
        }
        if ((rv = put_record(wb, s, m)) != SGW_OK)
            goto out;
        sgw_store_provid_put_(s, wb, m); /* store/provid.c */
        if (m->batch_id[0])
            sgw_batch_tally_note_(&tally, old_status[i], m);
        writes++;
    }
    /* a charged message that failed is refunded in this same write */
    sgw_ledger_refunds ref = { 0 };
    if (writes && (rv = sgw_ledger_refunds_begin_(s, wb, recs, state, n, &ref)) != SGW_OK)
        goto out;
    if (writes && tally.n)
        rv = sgw_batch_tally_begin_(s, wb, &tally);
    if (writes && rv == SGW_OK)
        rv = store_write(s, wb, writes, ref.n ? 0 : 1, SGW_SW_SMS_UPDATE);
    sgw_batch_tally_end_(&tally);
    sgw_ledger_refunds_end_(s, &ref);
out:
    for (int i = 0; recs && i < n; i++)
        sgw_sms_clear(&recs[i]);
    free(recs);
    free(old_due);
    free(old_kind);
    free(state);
    free(old_status);
    sgw_batch_tally_end_(&tally);
    rocksdb_writebatch_destroy(wb);
    for (int i = nlocked - 1; i >= 0; i--)
        pthread_mutex_unlock(&s->stripes[st[i]]);
    free(st);
    return rv;
}

static int sms_matches(const sgw_sms *m, const sgw_sms_query *q)
{
    if (q->direction >= 0 && m->direction != q->direction)
        return 0;
    /* an app sees its own outbound messages and its tenant's inbound ones */
    if (q->app && m->direction == SGW_DIR_OUTBOUND && strcmp(m->app, q->app) != 0)
        return 0;
    if (q->status >= 0 && m->status != q->status)
        return 0;
    if (q->user_id && (!m->user_id || strcmp(m->user_id, q->user_id) != 0))
        return 0;
    if (q->from && strcmp(m->from, q->from) != 0)
        return 0;
    if (q->to && strcmp(m->to, q->to) != 0)
        return 0;
    return 1;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

sgw_err sgw_store_sms_list(sgw_store *s, const sgw_sms_query *q, sgw_sms **out, int *n,
                           char next[SGW_CURSOR_LEN + 1])
{
    unsigned char prefix[64], start[64 + 24];
    size_t tlen = strlen(q->tenant);
    if (tlen > 62 || q->limit < 1 || q->limit > 1000)
        return SGW_EINVAL;
    memcpy(prefix, q->tenant, tlen);
    prefix[tlen] = '/';
    size_t plen = tlen + 1, slen = plen;
    memcpy(start, prefix, plen);
    if (q->cursor) {
        /* cursor = hex of be64(~created) + the 12 hex of the id (24 bytes) */
        if (strlen(q->cursor) != SGW_CURSOR_LEN)
            return SGW_EINVAL;
        for (int i = 0; i < SGW_CURSOR_LEN / 2; i++) {
            int hi = hexval(q->cursor[2 * i]), lo = hexval(q->cursor[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return SGW_EINVAL;
            start[plen + (size_t)i] = (unsigned char)(hi << 4 | lo);
        }
        slen = plen + SGW_CURSOR_LEN / 2;
    }
    next[0] = '\0';
    int cap = q->limit, cnt = 0, scanned = 0;
    sgw_sms *res = calloc((size_t)cap, sizeof *res);
    if (!res)
        return SGW_ENOMEM;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_SMS_IDX]);
    rocksdb_iter_seek(it, (const char *)start, slen);
    /* the cursor names the last key returned: skip it */
    if (q->cursor && rocksdb_iter_valid(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl >= slen && memcmp(k, start, slen) == 0)
            rocksdb_iter_next(it);
    }
    const int scan_budget = 20000; /* a page never reads more than this */
    char last_key_hex[SGW_CURSOR_LEN + 1] = "";
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        if (kl < plen + 8 || memcmp(k, prefix, plen) != 0)
            break;
        if (cnt == cap || scanned == scan_budget) {
            /* there is more: the cursor is the last key we looked at */
            snprintf(next, SGW_CURSOR_LEN + 1, "%s", last_key_hex);
            break;
        }
        scanned++;
        char id[ID_MAX];
        size_t idlen = kl - plen - 8;
        if (idlen >= ID_MAX)
            continue;
        memcpy(id, k + plen + 8, idlen);
        id[idlen] = '\0';
        /* a message id is 16 bytes, so the key's suffix is 24: the cursor */
        if (idlen == 16)
            sgw_hex(last_key_hex, k + plen, 24);
        sgw_sms m;
        if (sgw_store_sms_get(s, id, &m) != SGW_OK)
            continue;
        if (sms_matches(&m, q))
            res[cnt++] = m;
        else
            sgw_sms_clear(&m);
    }
    rocksdb_iter_destroy(it);
    *out = res;
    *n = cnt;
    return SGW_OK;
}

/* ---------------------------------------------------------------- schedule */

int sgw_store_sched_scan(sgw_store *s, int64_t after_due, const char *after_id, int64_t upto,
                         int max, sgw_due_fn fn, void *ctx)
{
    /* An upper bound at upto: the deletions of entries due later (a lease
     * is written at acceptance and deleted when its message is sent, so
     * there are as many as messages sent since the last compaction) are
     * never stepped over looking for the first entry due. */
    unsigned char ub[8];
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (upto >= 0 && upto < INT64_MAX) {
        be64(ub, (uint64_t)upto + 1);
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)ub, sizeof ub);
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf[CF_SCHED]);
    unsigned char k0[8 + ID_MAX];
    size_t k0len = 8;
    if (after_id) {
        k0len = sched_key(k0, after_due, after_id);
    } else {
        be64(k0, 0);
    }
    rocksdb_iter_seek(it, (const char *)k0, k0len);
    if (after_id && rocksdb_iter_valid(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl == k0len && memcmp(k, k0, k0len) == 0)
            rocksdb_iter_next(it);
    }
    int n = 0;
    for (; n < max && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (kl < 9 || kl >= 8 + ID_MAX)
            continue;
        int64_t due = (int64_t)rd_be64(k);
        if (due > upto)
            break;
        char id[ID_MAX];
        memcpy(id, k + 8, kl - 8);
        id[kl - 8] = '\0';
        fn(ctx, id, due, vl ? (unsigned char)v[0] : 0);
        n++;
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return n;
}

int64_t sgw_store_sched_next(sgw_store *s)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[CF_SCHED]);
    rocksdb_iter_seek_to_first(it);
    int64_t due = -1;
    if (rocksdb_iter_valid(it)) {
        size_t kl;
        const unsigned char *k = (const unsigned char *)rocksdb_iter_key(it, &kl);
        if (kl >= 8)
            due = (int64_t)rd_be64(k);
    }
    rocksdb_iter_destroy(it);
    return due;
}

/* ---------------------------------------------------------------- documents */

sgw_err sgw_store_docs_write(sgw_store *s, const sgw_doc_op *ops, int n)
{
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (int i = 0; i < n; i++) {
        if ((unsigned)ops[i].kind >= SGW_DOC_MAX) {
            rocksdb_writebatch_destroy(wb);
            return SGW_EINVAL;
        }
        rocksdb_column_family_handle_t *cf = s->cf[doc_cf[ops[i].kind]];
        if (ops[i].json)
            rocksdb_writebatch_put_cf(wb, cf, ops[i].id, strlen(ops[i].id), ops[i].json,
                                      strlen(ops[i].json));
        else
            rocksdb_writebatch_delete_cf(wb, cf, ops[i].id, strlen(ops[i].id));
    }
    sgw_err rv = store_write(s, wb, n, 0, SGW_SW_DOC);
    rocksdb_writebatch_destroy(wb);
    for (int i = 0; i < n; i++) /* after the write: a reader that saw the old
                                   generation re-reads and finds the new doc */
        atomic_fetch_add(&s->doc_gen[ops[i].kind], 1);
    return rv;
}

sgw_err sgw_store_doc_get(sgw_store *s, sgw_doc_kind kind, const char *id, char **json)
{
    if ((unsigned)kind >= SGW_DOC_MAX)
        return SGW_EINVAL;
    char *err = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf(s->db, s->ropts, s->cf[doc_cf[kind]], id, strlen(id), &len, &err);
    if (err)
        return store_fail("get", err);
    if (!v)
        return SGW_ENOENT;
    *json = strndup(v, len);
    rocksdb_free(v);
    return *json ? SGW_OK : SGW_ENOMEM;
}

sgw_err sgw_store_doc_scan(sgw_store *s, sgw_doc_kind kind, sgw_doc_fn fn, void *ctx)
{
    return sgw_store_doc_scan_prefix(s, kind, "", fn, ctx);
}

sgw_err sgw_store_doc_scan_prefix(sgw_store *s, sgw_doc_kind kind, const char *prefix,
                                  sgw_doc_fn fn, void *ctx)
{
    if ((unsigned)kind >= SGW_DOC_MAX)
        return SGW_EINVAL;
    size_t pl = strlen(prefix);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, s->ropts, s->cf[doc_cf[kind]]);
    for (rocksdb_iter_seek(it, prefix, pl); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < pl || memcmp(k, prefix, pl) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vl);
        char id[128];
        if (kl >= sizeof id)
            continue;
        memcpy(id, k, kl);
        id[kl] = '\0';
        if (!fn(ctx, id, v, vl))
            break;
    }
    rocksdb_iter_destroy(it);
    return SGW_OK;
}

const sgw_secret_key *sgw_store_secret_key(sgw_store *s) { return &s->secret; }

/* ---------------------------------------------------------------- store/idem.c (store_int.h) */

rocksdb_t *sgw_store_db_(sgw_store *s) { return s->db; }
rocksdb_column_family_handle_t *sgw_store_cf_idem_(sgw_store *s) { return s->cf[CF_IDEM]; }
rocksdb_column_family_handle_t *sgw_store_cf_outbox_(sgw_store *s) { return s->cf[CF_OUTBOX]; }
rocksdb_column_family_handle_t *sgw_store_cf_provid_(sgw_store *s) { return s->cf[CF_PROVID]; }
rocksdb_column_family_handle_t *sgw_store_cf_batches_(sgw_store *s) { return s->cf[CF_BATCHES]; }
rocksdb_column_family_handle_t *sgw_store_cf_sms_(sgw_store *s) { return s->cf[CF_SMS]; }
sgw_err sgw_store_put_record_(sgw_store *s, rocksdb_writebatch_t *wb, const sgw_sms *m)
{
    return put_record(wb, s, m);
}
void sgw_store_put_idx_(sgw_store *s, rocksdb_writebatch_t *wb, const sgw_sms *m)
{
    unsigned char k[64 + ID_MAX];
    if (strlen(m->id) < ID_MAX && strlen(m->tenant) <= 63)
        rocksdb_writebatch_put_cf(wb, s->cf[CF_SMS_IDX], (const char *)k,
                                  idx_key(k, m->tenant, m->created_ms, m->id), "", 0);
}
rocksdb_readoptions_t *sgw_store_ropts_(sgw_store *s) { return s->ropts; }
sgw_err sgw_store_write_(sgw_store *s, rocksdb_writebatch_t *wb, int records, int update)
{
    return store_write(s, wb, records, update, SGW_SW_OTHER);
}
sgw_err sgw_store_write_kind_(sgw_store *s, rocksdb_writebatch_t *wb, int records, int update,
                              int kind)
{
    return store_write(s, wb, records, update, kind);
}
sgw_err sgw_store_write_opts_(sgw_store *s, rocksdb_writebatch_t *wb, rocksdb_writeoptions_t *wo,
                              int synced, int records, int kind)
{
    return write_timed(s, wb, wo, synced, records, kind);
}
