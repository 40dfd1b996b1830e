/*
 * store/idem.c — Idempotency-Key records (store.h, "idempotency" block).
 *
 * Column family "idem":
 *   "K" id                  -> record: version byte (1), state byte,
 *                              be32 status, be64 created_ms, be64 expires_ms,
 *                              then six be32-length-prefixed strings:
 *                              req_hash, tenant, app, body, headers, ref
 *                              (records written before ref have five)
 *   "E" be64(expires_ms) id -> "" : expiry order
 *
 * Writes of one id and the purge's read-then-delete of it take the same
 * striped lock, so the purge never deletes a record that was replaced
 * after it looked. Reads take no lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "store/store.h"
#include "store/store_int.h"

#define IDEM_ID_MAX 128
#define IDEM_STRIPES 64

static pthread_mutex_t stripes[IDEM_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    for (int i = 0; i < IDEM_STRIPES; i++)
        pthread_mutex_init(&stripes[i], NULL);
}

static pthread_mutex_t *stripe(const char *id, size_t n)
{
    pthread_once(&stripes_once, stripes_init);
    unsigned h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    return &stripes[h % IDEM_STRIPES];
}

static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static size_t kkey(char *out, const char *id, size_t n)
{
    out[0] = 'K';
    memcpy(out + 1, id, n);
    return n + 1;
}

static size_t ekey(char *out, int64_t expires, const char *id, size_t n)
{
    out[0] = 'E';
    put_be((unsigned char *)out + 1, (uint64_t)(expires < 0 ? 0 : expires), 8);
    memcpy(out + 9, id, n);
    return n + 9;
}

void sgw_idem_rec_clear(sgw_idem_rec *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- codec */

static unsigned char *encode(const sgw_idem_rec *r, size_t *outlen)
{
    /* the sixth string (ref) came later: a record without it decodes with
     * ref "" */
    const char *str[6] = { r->req_hash, r->tenant, r->app, r->body ? r->body : "",
                           r->headers ? r->headers : "", r->ref };
    size_t len[6] = { strlen(r->req_hash), strlen(r->tenant), strlen(r->app),
                      r->body ? r->body_len : 0, r->headers ? strlen(r->headers) : 0,
                      strlen(r->ref) };
    size_t total = 2 + 4 + 8 + 8;
    for (int i = 0; i < 6; i++)
        total += 4 + len[i];
    unsigned char *b = malloc(total), *p = b;
    if (!b)
        return NULL;
    *p++ = 1;
    *p++ = (unsigned char)r->state;
    put_be(p, (uint32_t)r->status, 4), p += 4;
    put_be(p, (uint64_t)r->created_ms, 8), p += 8;
    put_be(p, (uint64_t)r->expires_ms, 8), p += 8;
    for (int i = 0; i < 6; i++) {
        put_be(p, (uint32_t)len[i], 4), p += 4;
        memcpy(p, str[i], len[i]);
        p += len[i];
    }
    *outlen = total;
    return b;
}

static sgw_err decode(const char *v, size_t vl, sgw_idem_rec *r)
{
    const unsigned char *p = (const unsigned char *)v, *end = p + vl;
    memset(r, 0, sizeof *r);
    if (vl < 22 || p[0] != 1)
        return SGW_EPROTO;
    r->state = p[1];
    r->status = (int)get_be(p + 2, 4);
    r->created_ms = (int64_t)get_be(p + 6, 8);
    r->expires_ms = (int64_t)get_be(p + 14, 8);
    p += 22;
    for (int i = 0; i < 6; i++) {
        if (i == 5 && p == end)
            break; /* written before ref existed */
        if (end - p < 4)
            goto bad;
        size_t n = (size_t)get_be(p, 4);
        p += 4;
        if ((size_t)(end - p) < n)
            goto bad;
        char *fixed = i == 0 ? r->req_hash : i == 1 ? r->tenant : i == 2 ? r->app
                      : i == 5 ? r->ref : NULL;
        size_t cap = i == 0 ? sizeof r->req_hash : i == 5 ? sizeof r->ref : sizeof r->tenant;
        if (fixed) {
            if (n >= cap)
                goto bad;
            memcpy(fixed, p, n);
            fixed[n] = '\0';
        } else if (i == 3 ? r->state == SGW_IDEM_DONE : n > 0) {
            char *h = malloc(n + 1);
            if (!h) {
                sgw_idem_rec_clear(r);
                return SGW_ENOMEM;
            }
            memcpy(h, p, n);
            h[n] = '\0';
            if (i == 3) {
                r->body = h;
                r->body_len = n;
            } else {
                r->headers = h;
            }
        }
        p += n;
    }
    return SGW_OK;
bad:
    sgw_idem_rec_clear(r);
    return SGW_EPROTO;
}

/* ---------------------------------------------------------------- API */

static sgw_err get_raw(sgw_store *s, const char *id, size_t n, sgw_idem_rec *out)
{
    char k[1 + IDEM_ID_MAX], *err = NULL;
    size_t vl = 0;
    memset(out, 0, sizeof *out);
    char *v = rocksdb_get_cf(sgw_store_db_(s), sgw_store_ropts_(s), sgw_store_cf_idem_(s), k,
                             kkey(k, id, n), &vl, &err);
    if (err) {
        sgw_log(SGW_LOG_ERROR, "store", "idem get: %s", err);
        rocksdb_free(err);
        return SGW_EIO;
    }
    if (!v)
        return SGW_ENOENT;
    sgw_err rv = decode(v, vl, out);
    rocksdb_free(v);
    if (rv == SGW_EPROTO)
        sgw_log(SGW_LOG_ERROR, "store", "idempotency record is corrupt: ignored");
    return rv;
}

sgw_err sgw_store_idem_get(sgw_store *s, const char *id, int64_t now_ms, sgw_idem_rec *out)
{
    size_t n = strlen(id);
    if (n == 0 || n > IDEM_ID_MAX)
        return SGW_EINVAL;
    sgw_err rv = get_raw(s, id, n, out);
    if (rv == SGW_EPROTO)
        return SGW_ENOENT;
    if (rv == SGW_OK && out->expires_ms <= now_ms) {
        sgw_idem_rec_clear(out);
        return SGW_ENOENT; /* expired: as good as gone; the purge deletes it */
    }
    return rv;
}

sgw_err sgw_store_idem_put(sgw_store *s, const char *id, const sgw_idem_rec *r)
{
    size_t n = strlen(id);
    if (n == 0 || n > IDEM_ID_MAX || (r->state != SGW_IDEM_PENDING && r->state != SGW_IDEM_DONE))
        return SGW_EINVAL;
    size_t vl;
    unsigned char *v = encode(r, &vl);
    if (!v)
        return SGW_ENOMEM;
    char k[1 + IDEM_ID_MAX], e[9 + IDEM_ID_MAX];
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_column_family_handle_t *cf = sgw_store_cf_idem_(s);
    rocksdb_writebatch_put_cf(wb, cf, k, kkey(k, id, n), (const char *)v, vl);
    rocksdb_writebatch_put_cf(wb, cf, e, ekey(e, r->expires_ms, id, n), "", 0);
    pthread_mutex_t *mu = stripe(id, n);
    pthread_mutex_lock(mu);
    sgw_err rv = sgw_store_write_kind_(s, wb, 1, 0, SGW_SW_IDEM);
    pthread_mutex_unlock(mu);
    rocksdb_writebatch_destroy(wb);
    free(v);
    return rv;
}

sgw_err sgw_store_idem_delete(sgw_store *s, const char *id, int64_t expires_ms)
{
    size_t n = strlen(id);
    if (n == 0 || n > IDEM_ID_MAX)
        return SGW_EINVAL;
    char k[1 + IDEM_ID_MAX], e[9 + IDEM_ID_MAX];
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    rocksdb_column_family_handle_t *cf = sgw_store_cf_idem_(s);
    rocksdb_writebatch_delete_cf(wb, cf, k, kkey(k, id, n));
    rocksdb_writebatch_delete_cf(wb, cf, e, ekey(e, expires_ms, id, n));
    pthread_mutex_t *mu = stripe(id, n);
    pthread_mutex_lock(mu);
    sgw_err rv = sgw_store_write_kind_(s, wb, 1, 0, SGW_SW_IDEM);
    pthread_mutex_unlock(mu);
    rocksdb_writebatch_destroy(wb);
    return rv;
}

int sgw_store_idem_purge(sgw_store *s, int64_t now_ms, int max)
{
    rocksdb_column_family_handle_t *cf = sgw_store_cf_idem_(s);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s), cf);
    char first[9];
    rocksdb_iter_seek(it, first, ekey(first, 0, "", 0));
    int done = 0;
    for (; done < max && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *ek = rocksdb_iter_key(it, &kl);
        if (kl < 10 || ek[0] != 'E' || kl - 9 > IDEM_ID_MAX)
            break;
        int64_t exp = (int64_t)get_be((const unsigned char *)ek + 1, 8);
        if (exp > now_ms)
            break;
        char id[IDEM_ID_MAX + 1], e[9 + IDEM_ID_MAX], k[1 + IDEM_ID_MAX];
        size_t n = kl - 9;
        memcpy(id, ek + 9, n);
        id[n] = '\0';
        memcpy(e, ek, kl);
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        rocksdb_writebatch_delete_cf(wb, cf, e, kl);
        pthread_mutex_t *mu = stripe(id, n);
        pthread_mutex_lock(mu);
        /* delete the record only if it is still the one this entry is for */
        sgw_idem_rec r;
        sgw_err g = get_raw(s, id, n, &r);
        if ((g == SGW_OK && r.expires_ms == exp) || g == SGW_EPROTO)
            rocksdb_writebatch_delete_cf(wb, cf, k, kkey(k, id, n));
        sgw_idem_rec_clear(&r);
        /* losing a purge at a power cut is harmless: expired is as good as gone */
        sgw_err rv = sgw_store_write_kind_(s, wb, 1, 1, SGW_SW_IDEM);
        pthread_mutex_unlock(mu);
        rocksdb_writebatch_destroy(wb);
        if (rv != SGW_OK)
            break;
        done++;
    }
    rocksdb_iter_destroy(it);
    return done;
}
