/*
 * store/ledger.c — what tenants pay (SPEC section 4, "Quota and cost").
 *
 * A tenant's document holds monthlyQuota (segments free each calendar
 * month, UTC; 0: none) and wallet (minor units). Its usage document (meta
 * keyspace, "usage/<tenant>") holds {"month": yyyymm, "quotaUsed": n}: a
 * new month starts from 0.
 *
 * Acceptance (sgw_store_sms_insert_charged): each live message takes its
 * segments from the month's quota while it lasts, the rest at its unit
 * price from the wallet; a message neither can pay is not stored (402).
 * The charge is kept on the record (charge_quota, charge_wallet,
 * charge_month). A charged message that ends failed or rejected is refunded
 * once, in the same write as that status (sgw_store_sms_update calls
 * sgw_ledger_refunds_begin_): its quota back if still the same month, its
 * wallet debit always.
 *
 * Locks: one ledger stripe per tenant (a hash), taken in ascending order,
 * held across the write, after any record stripes; admin changes of a
 * tenant go through sgw_store_tenant_update under the same lock, so no
 * debit, refund or PATCH is lost. Test messages are never charged.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/util.h"
#include "store/store_int.h"

unsigned sgw_ledger_stripe_(const char *tenant)
{
    unsigned h = 2166136261u;
    for (; *tenant; tenant++)
        h = (h ^ (unsigned char)*tenant) * 16777619u;
    return h % SGW_LEDGER_STRIPES;
}

int sgw_ledger_month(int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

int sgw_ledger_refund_due_(const sgw_sms *m)
{
    return !m->test && !m->refunded && (m->charge_quota > 0 || m->charge_wallet > 0) &&
           (m->status == SGW_ST_FAILED || m->status == SGW_ST_REJECTED);
}

/* One tenant's ledger while a write is built. */
typedef struct acct {
    char tenant[32];
    json_t *doc;     /* the tenant document */
    int64_t quota, wallet;
    int month, used;
    int dirty;
} acct;

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* Lock the stripes of the tenants (ascending, once each) into locked. */
static int lock_stripes(sgw_store *s, const char *const *tenants, int n, unsigned *locked)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        locked[k++] = sgw_ledger_stripe_(tenants[i]);
    qsort(locked, (size_t)k, sizeof *locked, cmp_unsigned);
    int u = 0;
    for (int i = 0; i < k; i++)
        if (i == 0 || locked[i] != locked[i - 1])
            locked[u++] = locked[i];
    for (int i = 0; i < u; i++)
        pthread_mutex_lock(sgw_store_ledger_lock_(s, locked[i]));
    return u;
}

static void unlock_stripes(sgw_store *s, const unsigned *locked, int n)
{
    for (int i = n - 1; i >= 0; i--)
        pthread_mutex_unlock(sgw_store_ledger_lock_(s, locked[i]));
}

/* Load a tenant's ledger (under its lock). */
static sgw_err acct_load(sgw_store *s, acct *a, const char *tenant, int month_now)
{
    memset(a, 0, sizeof *a);
    snprintf(a->tenant, sizeof a->tenant, "%s", tenant);
    char *text = NULL, key[64];
    sgw_err rv = sgw_store_doc_get(s, SGW_DOC_TENANT, tenant, &text);
    if (rv != SGW_OK)
        return rv;
    a->doc = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(a->doc))
        return SGW_EPROTO;
    a->quota = json_integer_value(json_object_get(a->doc, "monthlyQuota"));
    a->wallet = json_integer_value(json_object_get(a->doc, "wallet"));
    a->month = month_now;
    snprintf(key, sizeof key, "usage/%s", tenant);
    if (sgw_store_doc_get(s, SGW_DOC_META, key, &text) == SGW_OK) {
        json_t *u = json_loads(text, 0, NULL);
        free(text);
        if ((int)json_integer_value(json_object_get(u, "month")) == month_now)
            a->used = (int)json_integer_value(json_object_get(u, "quotaUsed"));
        json_decref(u);
    }
    return SGW_OK;
}

/* Add a changed ledger to wb. */
static sgw_err acct_put(sgw_store *s, rocksdb_writebatch_t *wb, acct *a)
{
    (void)s;
    if (!a->dirty)
        return SGW_OK;
    char ts[32], key[64];
    sgw_time_format(ts, sgw_now_ms());
    json_object_set_new(a->doc, "wallet", json_integer(a->wallet));
    char *doc = json_dumps(a->doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *u = json_pack("{s:i, s:i}", "month", a->month, "quotaUsed", a->used);
    char *usage = u ? json_dumps(u, JSON_COMPACT) : NULL;
    json_decref(u);
    snprintf(key, sizeof key, "usage/%s", a->tenant);
    sgw_err rv = SGW_ENOMEM;
    if (doc && usage) {
        sgw_store_doc_put_wb_(s, wb, SGW_DOC_TENANT, a->tenant, doc);
        sgw_store_doc_put_wb_(s, wb, SGW_DOC_META, key, usage);
        rv = SGW_OK;
    }
    free(doc);
    free(usage);
    return rv;
}

static acct *acct_find(acct *v, int n, const char *tenant)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].tenant, tenant) == 0)
            return &v[i];
    return NULL;
}

sgw_err sgw_store_sms_insert_charged(sgw_store *s, sgw_sms *const *v, const int64_t *unit_price,
                                     int n, int *paid)
{
    int64_t now = sgw_now_ms();
    int month = sgw_ledger_month(now);
    const char **tenants = calloc((size_t)(n ? n : 1), sizeof *tenants);
    unsigned *locked = calloc((size_t)(n ? n : 1), sizeof *locked);
    acct *accts = calloc((size_t)(n ? n : 1), sizeof *accts);
    sgw_sms **keep = calloc((size_t)(n ? n : 1), sizeof *keep);
    int nt = 0, nlocked = 0, nkeep = 0;
    sgw_err rv = SGW_OK;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    if (!tenants || !locked || !accts || !keep) {
        rv = SGW_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nt && !seen; j++)
            seen = strcmp(tenants[j], v[i]->tenant) == 0;
        if (!v[i]->test && !seen)
            tenants[nt++] = v[i]->tenant;
    }
    nlocked = lock_stripes(s, tenants, nt, locked);
    for (int j = 0; j < nt; j++)
        if ((rv = acct_load(s, &accts[j], tenants[j], month)) != SGW_OK)
            goto out;
    for (int i = 0; i < n; i++) {
        sgw_sms *m = v[i];
        paid[i] = 1;
        if (m->test) {
            keep[nkeep++] = m;
            continue;
        }
        acct *a = acct_find(accts, nt, m->tenant);
        int64_t left = a->quota - a->used;
        int q;
        int64_t w;
        if (!sgw_ledger_charge_one(&left, &a->wallet, m->segments, unit_price[i], &q, &w)) {
            paid[i] = 0; /* neither quota nor wallet covers it */
            continue;
        }
        a->used += q;
        a->dirty |= q > 0 || w > 0;
        m->charge_quota = q;
        m->charge_wallet = w;
        m->charge_month = month;
        keep[nkeep++] = m;
    }
    if ((rv = sgw_store_put_new_(s, wb, keep, nkeep)) != SGW_OK)
        goto out;
    for (int j = 0; j < nt && rv == SGW_OK; j++)
        rv = acct_put(s, wb, &accts[j]);
    if (rv == SGW_OK && nkeep > 0)
        rv = sgw_store_write_kind_(s, wb, nkeep, 0, SGW_SW_SMS_NEW);
out:
    unlock_stripes(s, locked, nlocked);
    for (int j = 0; j < nt; j++)
        json_decref(accts[j].doc);
    rocksdb_writebatch_destroy(wb);
    free(tenants);
    free(locked);
    free(accts);
    free(keep);
    return rv;
}

int sgw_ledger_charge_one(int64_t *quota_left, int64_t *wallet, int segments, int64_t unit,
                          int *q, int64_t *w)
{
    int64_t fromq = *quota_left < 0 ? 0 : *quota_left;
    if (fromq > segments)
        fromq = segments;
    int64_t cost = (int64_t)(segments - fromq) * unit;
    if (cost > *wallet)
        return 0;
    *quota_left -= fromq;
    *wallet -= cost;
    *q = (int)fromq;
    *w = cost;
    return 1;
}

sgw_err sgw_store_tenant_balance(sgw_store *s, const char *tenant, int *month,
                                 int64_t *quota_left, int64_t *wallet)
{
    acct a;
    *month = sgw_ledger_month(sgw_now_ms());
    sgw_err rv = acct_load(s, &a, tenant, *month);
    if (rv == SGW_OK) {
        *quota_left = a.quota - a.used;
        *wallet = a.wallet;
    }
    json_decref(a.doc);
    return rv;
}

sgw_err sgw_ledger_debit_begin_(sgw_store *s, rocksdb_writebatch_t *wb, const char *tenant,
                                int month, int64_t quota, int64_t wallet, unsigned *stripe)
{
    *stripe = sgw_ledger_stripe_(tenant);
    pthread_mutex_lock(sgw_store_ledger_lock_(s, *stripe));
    if (quota == 0 && wallet == 0)
        return SGW_OK;
    acct a;
    sgw_err rv = acct_load(s, &a, tenant, month);
    if (rv == SGW_OK && (month != sgw_ledger_month(sgw_now_ms()) ||
                         a.quota - a.used < quota || a.wallet < wallet))
        rv = SGW_ESTATE;
    if (rv == SGW_OK) {
        a.used += (int)quota;
        a.wallet -= wallet;
        a.dirty = 1;
        rv = acct_put(s, wb, &a);
    }
    json_decref(a.doc);
    return rv;
}

void sgw_ledger_debit_end_(sgw_store *s, unsigned stripe)
{
    pthread_mutex_unlock(sgw_store_ledger_lock_(s, stripe));
}

sgw_err sgw_ledger_refunds_begin_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_sms *recs,
                                  const int *state, int n, sgw_ledger_refunds *ref)
{
    const char *tenants[SGW_LEDGER_STRIPES * 4];
    acct accts[16];
    int nt = 0;
    memset(ref, 0, sizeof *ref);
    for (int i = 0; i < n; i++) {
        if (!(state[i] & 8))
            continue;
        ref->n++;
        int seen = 0;
        for (int j = 0; j < nt && !seen; j++)
            seen = strcmp(tenants[j], recs[i].tenant) == 0;
        if (!seen && nt < (int)(sizeof accts / sizeof accts[0]))
            tenants[nt++] = recs[i].tenant;
    }
    if (!ref->n)
        return SGW_OK;
    ref->nlocked = lock_stripes(s, tenants, nt, ref->locked);
    int month = sgw_ledger_month(sgw_now_ms());
    sgw_err rv = SGW_OK;
    int loaded = 0;
    for (; loaded < nt && rv == SGW_OK; loaded++)
        rv = acct_load(s, &accts[loaded], tenants[loaded], month);
    for (int i = 0; i < n && rv == SGW_OK; i++) {
        if (!(state[i] & 8))
            continue;
        acct *a = acct_find(accts, nt, recs[i].tenant);
        if (!a)
            continue; /* over 16 tenants in one batch: not credited (logged below) */
        if (recs[i].charge_month == a->month) {
            a->used -= recs[i].charge_quota;
            if (a->used < 0)
                a->used = 0;
        }
        a->wallet += recs[i].charge_wallet;
        a->dirty = 1;
    }
    for (int j = 0; j < nt && rv == SGW_OK; j++)
        rv = acct_put(s, wb, &accts[j]);
    for (int j = 0; j < loaded; j++)
        json_decref(accts[j].doc);
    return rv;
}

void sgw_ledger_refunds_end_(sgw_store *s, sgw_ledger_refunds *ref)
{
    unlock_stripes(s, ref->locked, ref->nlocked);
    ref->nlocked = 0;
}

sgw_err sgw_store_tenant_update(sgw_store *s, const char *tenant, sgw_tenant_fn fn, void *ctx,
                                char **json_out)
{
    unsigned stripe = sgw_ledger_stripe_(tenant);
    pthread_mutex_t *lock = sgw_store_ledger_lock_(s, stripe);
    pthread_mutex_lock(lock);
    char *text = NULL;
    sgw_err rv = sgw_store_doc_get(s, SGW_DOC_TENANT, tenant, &text);
    if (rv == SGW_OK) {
        char *changed = fn(ctx, text);
        if (!changed) {
            rv = SGW_EINVAL; /* the callback refused (and answered) */
        } else {
            sgw_doc_op op = { SGW_DOC_TENANT, tenant, changed };
            rv = sgw_store_docs_write(s, &op, 1);
            if (rv == SGW_OK && json_out)
                *json_out = changed;
            else
                free(changed);
        }
    }
    free(text);
    pthread_mutex_unlock(lock);
    return rv;
}

sgw_err sgw_store_tenant_usage(sgw_store *s, const char *tenant, int *month, int *quota_used)
{
    char key[64], *text;
    *month = sgw_ledger_month(sgw_now_ms());
    *quota_used = 0;
    snprintf(key, sizeof key, "usage/%s", tenant);
    if (sgw_store_doc_get(s, SGW_DOC_META, key, &text) != SGW_OK)
        return SGW_OK;
    json_t *u = json_loads(text, 0, NULL);
    free(text);
    if ((int)json_integer_value(json_object_get(u, "month")) == *month)
        *quota_used = (int)json_integer_value(json_object_get(u, "quotaUsed"));
    json_decref(u);
    return SGW_OK;
}
