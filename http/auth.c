/*
 * http/auth.c — who is calling, and may they.
 *
 * Keys: "Authorization: Bearer <key>". A key is stored only as its SHA-256
 * (keys keyspace: hash -> {appId, tenantId, role, test}); the operator's
 * admin key from the config/environment is compared by hash in constant
 * time. An app key's tenant must be active (403 otherwise).
 *
 * Limits (all from config `limits`):
 *   per key: app keys app_key_per_min, admin keys admin_key_per_min
 *     requests per key_window_s, as a sliding window (the previous fixed
 *     window's count weighted by how much of it still overlaps). Over it:
 *     429 with Retry-After and X-RateLimit-Limit/Remaining/Reset.
 *   per IP: auth_fail_max failed authentications in auth_fail_window_s
 *     block the IP for auth_block_s: 429 on every request, even with a
 *     valid key.
 * State is in memory, one mutex per table (short critical sections).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

#define LIMIT_BUCKETS 4096

typedef struct window_entry {
    char key[72];
    int64_t win_start;     /* start of the current fixed window, ms */
    int64_t cur, prev;     /* counts in the current and previous windows */
    int64_t blocked_until; /* IP table only */
    struct window_entry *next;
} window_entry;

typedef struct window_table {
    pthread_mutex_t lock;
    window_entry *b[LIMIT_BUCKETS];
} window_table;

struct sgw_limits {
    window_table keys, ips;
    int64_t app_max, admin_max, key_window_ms;
    int64_t fail_max, fail_window_ms, block_ms;
};

static void table_init(window_table *t) { pthread_mutex_init(&t->lock, NULL); }

static void table_fini(window_table *t)
{
    for (int i = 0; i < LIMIT_BUCKETS; i++)
        for (window_entry *e = t->b[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    pthread_mutex_destroy(&t->lock);
}

/* Under t->lock. NULL only when out of memory. */
static window_entry *table_get(window_table *t, const char *key)
{
    unsigned h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    window_entry **b = &t->b[h % LIMIT_BUCKETS];
    for (window_entry *e = *b; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    window_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    snprintf(e->key, sizeof e->key, "%s", key);
    e->next = *b;
    *b = e;
    return e;
}

/* Roll e's windows forward to now. */
static void window_roll(window_entry *e, int64_t now, int64_t width)
{
    int64_t start = now - now % width;
    if (e->win_start == start)
        return;
    e->prev = e->win_start == start - width ? e->cur : 0;
    e->cur = 0;
    e->win_start = start;
}

/* The sliding-window estimate of requests in the last `width` ms. */
static int64_t window_count(const window_entry *e, int64_t now, int64_t width)
{
    double overlap = 1.0 - (double)(now - e->win_start) / (double)width;
    return e->cur + (int64_t)((double)e->prev * overlap);
}

sgw_err sgw_limits_new(const sgw_cfg *cfg, struct sgw_limits **out)
{
    struct sgw_limits *l = calloc(1, sizeof *l);
    if (!l)
        return SGW_ENOMEM;
    table_init(&l->keys);
    table_init(&l->ips);
    l->app_max = sgw_cfg_int(cfg, "limits.app_key_per_min");
    l->admin_max = sgw_cfg_int(cfg, "limits.admin_key_per_min");
    l->key_window_ms = sgw_cfg_int(cfg, "limits.key_window_s") * 1000;
    l->fail_max = sgw_cfg_int(cfg, "limits.auth_fail_max");
    l->fail_window_ms = sgw_cfg_int(cfg, "limits.auth_fail_window_s") * 1000;
    l->block_ms = sgw_cfg_int(cfg, "limits.auth_block_s") * 1000;
    *out = l;
    return SGW_OK;
}

void sgw_limits_destroy(struct sgw_limits **lp)
{
    if (!lp || !*lp)
        return;
    table_fini(&(*lp)->keys);
    table_fini(&(*lp)->ips);
    free(*lp);
    *lp = NULL;
}

static void too_many(sgw_req *r, int64_t retry_after_s)
{
    size_t n = strlen(r->extra_headers);
    snprintf(r->extra_headers + n, sizeof r->extra_headers - n, "Retry-After: %lld\r\n",
             (long long)(retry_after_s < 1 ? 1 : retry_after_s));
    sgw_reply_error(r, 429, "rate_limit_exceeded", "Too many requests");
}

int sgw_auth_ip_blocked(sgw_req *r)
{
    struct sgw_limits *l = r->srv->limits;
    int64_t now = sgw_now_ms(), until = 0;
    pthread_mutex_lock(&l->ips.lock);
    window_entry *e = table_get(&l->ips, r->ri->remote_addr);
    if (e && e->blocked_until > now)
        until = e->blocked_until;
    pthread_mutex_unlock(&l->ips.lock);
    if (!until)
        return 0;
    too_many(r, (until - now + 999) / 1000);
    return 1;
}

static void auth_failed(sgw_req *r, const char *error)
{
    struct sgw_limits *l = r->srv->limits;
    int64_t now = sgw_now_ms();
    pthread_mutex_lock(&l->ips.lock);
    window_entry *e = table_get(&l->ips, r->ri->remote_addr);
    if (e) {
        window_roll(e, now, l->fail_window_ms);
        e->cur++;
        if (window_count(e, now, l->fail_window_ms) >= l->fail_max) {
            e->blocked_until = now + l->block_ms;
            sgw_log(SGW_LOG_WARN, "http", "blocking %s for %llds after %lld failed "
                    "authentications", r->ri->remote_addr, (long long)(l->block_ms / 1000),
                    (long long)l->fail_max);
        }
    }
    pthread_mutex_unlock(&l->ips.lock);
    sgw_reply_error(r, 401, "unauthorized", error);
}

/* Count this request against the key's window; 0 (answered 429) if over. */
static int key_limit(sgw_req *r)
{
    struct sgw_limits *l = r->srv->limits;
    int64_t max = r->auth.role == SGW_ROLE_ADMIN ? l->admin_max : l->app_max;
    int64_t now = sgw_now_ms(), count = 0, reset_ms;
    int ok;
    pthread_mutex_lock(&l->keys.lock);
    window_entry *e = table_get(&l->keys, r->auth.key_hash);
    if (!e) {
        pthread_mutex_unlock(&l->keys.lock);
        return 1;
    }
    window_roll(e, now, l->key_window_ms);
    count = window_count(e, now, l->key_window_ms);
    ok = count < max;
    if (ok) {
        e->cur++;
        count++;
    }
    reset_ms = e->win_start + l->key_window_ms;
    pthread_mutex_unlock(&l->keys.lock);
    snprintf(r->extra_headers, sizeof r->extra_headers,
             "X-RateLimit-Limit: %lld\r\nX-RateLimit-Remaining: %lld\r\n"
             "X-RateLimit-Reset: %lld\r\n",
             (long long)max, (long long)(max - count > 0 ? max - count : 0),
             (long long)(reset_ms / 1000));
    if (!ok)
        too_many(r, (reset_ms - now + 999) / 1000);
    return ok;
}

int sgw_auth_lookup(sgw_http *srv, const char *key, sgw_auth *out)
{
    sgw_sha256_hex(out->key_hash, key, strlen(key));
    if (srv->admin_key_hash[0] && sgw_ct_equal(srv->admin_key_hash, out->key_hash, 64)) {
        out->role = SGW_ROLE_ADMIN;
        snprintf(out->app, sizeof out->app, "admin");
        return 2;
    }
    char *doc = NULL;
    if (sgw_store_doc_get(srv->deps.store, SGW_DOC_KEY, out->key_hash, &doc) != SGW_OK)
        return 0;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    const char *app = json_string_value(json_object_get(o, "appId"));
    const char *tenant = json_string_value(json_object_get(o, "tenantId"));
    const char *role = json_string_value(json_object_get(o, "role"));
    if (!app || !role) {
        json_decref(o);
        return 0;
    }
    out->role = strcmp(role, "admin") == 0 ? SGW_ROLE_ADMIN : SGW_ROLE_APP;
    out->test = json_is_true(json_object_get(o, "test"));
    snprintf(out->app, sizeof out->app, "%s", app);
    snprintf(out->tenant, sizeof out->tenant, "%s", tenant ? tenant : "");
    json_decref(o);
    return 1;
}

int sgw_auth_check(sgw_req *r)
{
    const char *h = mg_get_header(r->conn, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0 || !h[7]) {
        auth_failed(r, "Missing or invalid API key");
        return 0;
    }
    const char *key = h + 7;
    while (*key == ' ')
        key++;
    if (strlen(key) > 64) {
        auth_failed(r, "Invalid API key");
        return 0;
    }
    sgw_http *srv = r->srv;
    int found = sgw_auth_lookup(srv, key, &r->auth);
    if (found == 2)
        return key_limit(r);
    if (!found) {
        auth_failed(r, "Invalid API key");
        return 0;
    }
    if (!key_limit(r))
        return 0;
    if (r->auth.role == SGW_ROLE_APP &&
        sgw_store_tenant_active(srv->deps.store, r->auth.tenant) != 1) {
        sgw_reply_error(r, 403, "tenant_inactive", "Tenant suspended or inactive");
        return 0;
    }
    return 1;
}

sgw_err sgw_key_new(int test, char key[48], char hash[65])
{
    sgw_err rv = sgw_random_id(key, 48, test ? "sgw_test_" : "sgw_", 32);
    if (rv == SGW_OK)
        sgw_sha256_hex(hash, key, strlen(key));
    return rv;
}
