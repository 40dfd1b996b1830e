/*
 * http/h_admin.c — tenants and apps (SPEC sections 1 and 3).
 *
 * Documents (JSON, in the store's tenants/apps/keys keyspaces):
 *   tenant {id, name, status, monthlyQuota, wallet, currency, createdAt, updatedAt}
 *   app    {appId, name, tenantId, role, mode, webhookUrl, webhookSecret,
 *           apiKeyPrefix, keyHash, createdAt, updatedAt}
 *   key    (id = sha256 of the API key) {appId, tenantId, role, test}
 * An app's keyHash and webhookSecret are never shown after creation.
 * Anything of another tenant is 404, as if it did not exist.
 */
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"
#include "transport/transport.h"

static json_t *now_json(void)
{
    char ts[32];
    sgw_time_format(ts, sgw_now_ms());
    return json_string(ts);
}

static json_t *doc_load(sgw_req *r, sgw_doc_kind kind, const char *id)
{
    char *doc;
    if (sgw_store_doc_get(r->srv->deps.store, kind, id, &doc) != SGW_OK)
        return NULL;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    return o;
}

static char *doc_dump(json_t *o) { return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS); }

static int require_admin(sgw_req *r)
{
    if (r->auth.role == SGW_ROLE_ADMIN)
        return 1;
    sgw_reply_error(r, 403, "forbidden", "This needs an admin key");
    return 0;
}

static int write_docs(sgw_req *r, const sgw_doc_op *ops, int n)
{
    if (sgw_store_docs_write(r->srv->deps.store, ops, n) == SGW_OK)
        return 1;
    sgw_reply_error(r, 503, "unavailable", "Store unavailable");
    return 0;
}

/* ---------------------------------------------------------------- tenants */

/* Validate the optional tenant fields present in req into t. */
static int tenant_fields(sgw_req *r, json_t *req, json_t *t, int allow_status)
{
    json_t *v;
    if ((v = json_object_get(req, "name")) || !json_object_get(t, "name")) {
        const char *name = json_string_value(v);
        size_t n = name ? strlen(name) : 0;
        if (!name || n < 1 || n > 100) {
            sgw_reply_error(r, 400, "validation_error", "name must be 1-100 characters");
            return 0;
        }
        json_object_set(t, "name", v);
    }
    static const char *const ints[] = { "monthlyQuota", "wallet" };
    for (int i = 0; i < 2; i++) {
        if (!(v = json_object_get(req, ints[i])))
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            char msg[80];
            snprintf(msg, sizeof msg, "%s must be a non-negative integer", ints[i]);
            sgw_reply_error(r, 400, "validation_error", msg);
            return 0;
        }
        json_object_set(t, ints[i], v);
    }
    if ((v = json_object_get(req, "currency"))) {
        const char *c = json_string_value(v);
        if (!c || strlen(c) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' ||
            c[2] < 'A' || c[2] > 'Z') {
            sgw_reply_error(r, 400, "validation_error",
                            "currency must be an ISO 4217 code such as USD");
            return 0;
        }
        json_object_set(t, "currency", v);
    }
    if ((v = json_object_get(req, "status"))) {
        const char *s = json_string_value(v);
        if (!allow_status || !s ||
            (strcmp(s, "active") && strcmp(s, "suspended") && strcmp(s, "inactive"))) {
            sgw_reply_error(r, 400, "validation_error",
                            "status must be active, suspended or inactive");
            return 0;
        }
        json_object_set(t, "status", v);
    }
    return 1;
}

void h_tenants_create(sgw_req *r)
{
    if (!require_admin(r))
        return;
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    char id[32];
    sgw_random_id(id, sizeof id, "tenant_", 16);
    json_t *t = json_pack("{s:s, s:s, s:I, s:I, s:s}", "id", id, "status", "active",
                          "monthlyQuota", (json_int_t)0, "wallet", (json_int_t)0, "currency",
                          "USD");
    if (!tenant_fields(r, req, t, 0)) {
        json_decref(req);
        json_decref(t);
        return;
    }
    json_object_set_new(t, "createdAt", now_json());
    json_object_set_new(t, "updatedAt", now_json());
    char *doc = doc_dump(t);
    sgw_doc_op op = { SGW_DOC_TENANT, id, doc };
    if (write_docs(r, &op, 1))
        sgw_reply_json(r, 201, json_incref(t));
    free(doc);
    json_decref(t);
    json_decref(req);
}

static int collect_docs(void *ctx, const char *id, const char *json, size_t len)
{
    (void)id;
    json_t *o = json_loadb(json, len, 0, NULL);
    if (o)
        json_array_append_new(ctx, o);
    return 1;
}

void h_tenants_list(sgw_req *r)
{
    if (!require_admin(r))
        return;
    json_t *arr = json_array();
    sgw_store_doc_scan(r->srv->deps.store, SGW_DOC_TENANT, collect_docs, arr);
    sgw_reply_json(r, 200, json_pack("{s:o}", "tenants", arr));
}

/* The document of kind named in the path (its id: prefix and 16 hex), if
 * the caller is an admin or it is the caller's own (id == own); else
 * answers 400 "Invalid <field> format" or 404 "<noun> not found". */
static json_t *doc_visible(sgw_req *r, sgw_doc_kind kind, const char *prefix, const char *own,
                           const char *field, const char *noun)
{
    const char *id = r->param[0];
    char msg[64];
    if (!sgw_id_valid(id, prefix, 16)) {
        snprintf(msg, sizeof msg, "Invalid %s format", field);
        sgw_reply_error(r, 400, "validation_error", msg);
        return NULL;
    }
    json_t *doc = NULL;
    if (r->auth.role == SGW_ROLE_ADMIN || strcmp(id, own) == 0)
        doc = doc_load(r, kind, id);
    if (!doc) {
        snprintf(msg, sizeof msg, "%s not found", noun);
        sgw_reply_error(r, 404, "not_found", msg);
    }
    return doc;
}

/* The tenant named in the path, if the caller may see it; else answers. */
json_t *sgw_tenant_visible(sgw_req *r)
{
    return doc_visible(r, SGW_DOC_TENANT, "tenant_", r->auth.tenant, "tenantId", "Tenant");
}

/* A tenant as shown: its document and this month's quota use. */
static json_t *tenant_shown(sgw_req *r, json_t *t)
{
    int month, used;
    sgw_store_tenant_usage(r->srv->deps.store, json_string_value(json_object_get(t, "id")),
                           &month, &used);
    char m[16];
    snprintf(m, sizeof m, "%04d-%02d", month / 100, month % 100);
    json_object_set_new(t, "usage", json_pack("{s:s, s:i}", "month", m, "quotaUsed", used));
    return t;
}

void h_tenants_get(sgw_req *r)
{
    json_t *t = sgw_tenant_visible(r);
    if (t)
        sgw_reply_json(r, 200, tenant_shown(r, t));
}

typedef struct patch_ctx {
    sgw_req *r;
    json_t *req;
    int answered;
} patch_ctx;

/* Under the tenant's ledger lock (store/ledger.c): no debit is lost. */
static char *tenant_patch_fn(void *ctx, const char *json)
{
    patch_ctx *p = ctx;
    json_t *t = json_loads(json, 0, NULL);
    char *doc = NULL;
    if (t && tenant_fields(p->r, p->req, t, 1)) {
        json_object_set_new(t, "updatedAt", now_json());
        doc = doc_dump(t);
    } else {
        p->answered = 1;
    }
    json_decref(t);
    return doc;
}

void h_tenants_patch(sgw_req *r)
{
    if (!require_admin(r))
        return;
    json_t *t = sgw_tenant_visible(r);
    if (!t)
        return;
    json_decref(t);
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    patch_ctx p = { r, req, 0 };
    char *out = NULL;
    sgw_err rv = sgw_store_tenant_update(r->srv->deps.store, r->param[0], tenant_patch_fn, &p,
                                         &out);
    if (rv == SGW_OK)
        sgw_reply_json(r, 200, tenant_shown(r, json_loads(out, 0, NULL)));
    else if (!p.answered)
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
    free(out);
    json_decref(req);
}

/* ---------------------------------------------------------------- routes */

/* A tenant's provider route as shown: its own, or the configured default. */
static json_t *route_shown(sgw_req *r, json_t *t)
{
    json_t *own = json_object_get(t, "route");
    json_t *providers = json_array();
    int mine = json_is_array(own) && json_array_size(own) > 0;
    if (mine) {
        json_array_extend(providers, own);
    } else {
        const config_setting_t *d =
            sgw_cfg_setting(r->srv->deps.cfg, "transport.default_route");
        for (int i = 0; d && i < config_setting_length(d); i++) {
            const char *name = config_setting_get_string_elem(d, i);
            if (name && name[0])
                json_array_append_new(providers, json_string(name));
        }
    }
    return json_pack("{s:O, s:o, s:s}", "tenantId", json_object_get(t, "id"), "providers",
                     providers, "source", mine ? "tenant" : "default");
}

void h_tenants_route_get(sgw_req *r)
{
    json_t *t = sgw_tenant_visible(r);
    if (!t)
        return;
    sgw_reply_json(r, 200, route_shown(r, t));
    json_decref(t);
}

typedef struct route_ctx {
    json_t *providers; /* NULL: remove the tenant's own route */
} route_ctx;

static char *route_fn(void *ctx, const char *json)
{
    route_ctx *c = ctx;
    json_t *t = json_loads(json, 0, NULL);
    if (!t)
        return NULL;
    if (c->providers)
        json_object_set(t, "route", c->providers);
    else
        json_object_del(t, "route");
    json_object_set_new(t, "updatedAt", now_json());
    char *doc = doc_dump(t);
    json_decref(t);
    return doc;
}

/* PUT (providers given) or DELETE (back to the default). */
static void route_write(sgw_req *r, json_t *providers)
{
    route_ctx c = { providers };
    char *out = NULL;
    if (sgw_store_tenant_update(r->srv->deps.store, r->param[0], route_fn, &c, &out) !=
        SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    json_t *t = json_loads(out, 0, NULL);
    free(out);
    if (!t) {
        sgw_reply_error(r, 500, "internal", "Tenant document unreadable");
        return;
    }
    sgw_log(SGW_LOG_INFO, "http", "%s: route set by %s", r->param[0], r->auth.app);
    sgw_reply_json(r, 200, route_shown(r, t));
    json_decref(t);
}

void h_tenants_route_put(sgw_req *r)
{
    if (!require_admin(r))
        return;
    json_t *t = sgw_tenant_visible(r);
    if (!t)
        return;
    json_decref(t);
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    json_t *p = json_object_get(req, "providers");
    size_t n = json_array_size(p);
    char why[160] = "";
    if (!json_is_array(p) || n == 0)
        snprintf(why, sizeof why, "providers must be a non-empty array of provider names");
    else if (n > SGW_HTTP_ROUTE_PROVIDERS_MAX)
        snprintf(why, sizeof why, "providers may name at most %d providers",
                 SGW_HTTP_ROUTE_PROVIDERS_MAX);
    for (size_t i = 0; !why[0] && i < n; i++) {
        const char *name = json_string_value(json_array_get(p, i));
        if (!name) {
            snprintf(why, sizeof why, "providers[%zu] must be a string", i);
        } else if (!sgw_transport_find(name)) {
            snprintf(why, sizeof why, "Unknown provider: %.40s", name);
        } else {
            for (size_t j = 0; j < i; j++)
                if (strcmp(name, json_string_value(json_array_get(p, j))) == 0)
                    snprintf(why, sizeof why, "providers names %.40s twice", name);
        }
    }
    if (why[0])
        sgw_reply_error(r, 400, "validation_error", why);
    else
        route_write(r, p);
    json_decref(req);
}

void h_tenants_route_delete(sgw_req *r)
{
    if (!require_admin(r))
        return;
    json_t *t = sgw_tenant_visible(r);
    if (!t)
        return;
    json_decref(t);
    route_write(r, NULL);
}

/* ---------------------------------------------------------------- apps */

static json_t *app_public(json_t *app)
{
    json_t *o = json_deep_copy(app);
    json_object_del(o, "keyHash");
    json_object_del(o, "webhookSecret");
    return o;
}

/* webhookUrl: https://, or http:// to loopback (development), <= 2000. */
int sgw_url_ok(const char *u)
{
    if (!u || strlen(u) > 2000)
        return 0;
    if (strncmp(u, "https://", 8) == 0)
        return u[8] != '\0';
    return strncmp(u, "http://127.0.0.1", 16) == 0 || strncmp(u, "http://localhost", 16) == 0 ||
           strncmp(u, "http://[::1]", 12) == 0;
}

void h_apps_register(sgw_req *r)
{
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    const char *name = json_string_value(json_object_get(req, "name"));
    json_t *tid = json_object_get(req, "tenantId");
    json_t *wh = json_object_get(req, "webhookUrl");
    const char *role = "app", *mode = "live";
    json_t *v;
    json_t *tenant = NULL;
    if (!name || strlen(name) < 1 || strlen(name) > 100) {
        sgw_reply_error(r, 400, "validation_error", "name must be 1-100 characters");
        goto out;
    }
    if ((v = json_object_get(req, "role"))) {
        role = json_string_value(v);
        if (!role || (strcmp(role, "app") && strcmp(role, "admin"))) {
            sgw_reply_error(r, 400, "validation_error", "role must be app or admin");
            goto out;
        }
        if (strcmp(role, "admin") == 0 && r->auth.role != SGW_ROLE_ADMIN) {
            sgw_reply_error(r, 403, "forbidden", "Only an admin key may create admin apps");
            goto out;
        }
    }
    if ((v = json_object_get(req, "mode"))) {
        mode = json_string_value(v);
        if (!mode || (strcmp(mode, "live") && strcmp(mode, "test"))) {
            sgw_reply_error(r, 400, "validation_error", "mode must be live or test");
            goto out;
        }
    }
    if (!tid || json_is_null(tid)) {
        sgw_reply_error(r, 400, "validation_error", "tenantId is required when registering new apps");
        goto out;
    }
    if (!json_is_string(tid) || !sgw_id_valid(json_string_value(tid), "tenant_", 16)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid tenantId format");
        goto out;
    }
    const char *tenant_id = json_string_value(tid);
    if (r->auth.role == SGW_ROLE_ADMIN || strcmp(tenant_id, r->auth.tenant) == 0)
        tenant = doc_load(r, SGW_DOC_TENANT, tenant_id);
    const char *tst = json_string_value(json_object_get(tenant, "status"));
    if (!tenant || !tst || strcmp(tst, "active") != 0) {
        sgw_reply_error(r, 400, "validation_error", "Tenant not found or not active");
        goto out;
    }
    if (wh && !json_is_null(wh) && !sgw_url_ok(json_string_value(wh))) {
        sgw_reply_error(r, 400, "validation_error",
                        "Invalid webhookUrl: must be https:// in production, max 2000 chars");
        goto out;
    }
    int test = strcmp(mode, "test") == 0;
    char app_id[32], key[48], hash[65], prefix[9], secret[80] = "";
    sgw_random_id(app_id, sizeof app_id, "app_", 16);
    sgw_key_new(test, key, hash);
    snprintf(prefix, sizeof prefix, "%.8s", key);
    json_t *app = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "appId", app_id,
                            "name", name, "tenantId", tenant_id, "role", role, "mode", mode,
                            "apiKeyPrefix", prefix, "keyHash", hash, "createdAt", now_json(),
                            "updatedAt", now_json());
    if (wh && json_is_string(wh)) {
        sgw_random_id(secret, sizeof secret, "whsec_", 64);
        json_object_set(app, "webhookUrl", wh);
        json_object_set_new(app, "webhookSecret", json_string(secret));
    } else {
        json_object_set_new(app, "webhookUrl", json_null());
    }
    json_t *kd = json_pack("{s:s, s:s, s:s, s:b}", "appId", app_id, "tenantId", tenant_id,
                           "role", role, "test", test);
    char *appdoc = doc_dump(app), *keydoc = doc_dump(kd);
    sgw_doc_op ops[2] = { { SGW_DOC_APP, app_id, appdoc }, { SGW_DOC_KEY, hash, keydoc } };
    if (write_docs(r, ops, 2)) {
        json_t *ans = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "appId", app_id, "name", name,
                                "apiKey", key, "apiKeyPrefix", prefix, "role", role,
                                "tenantId", tenant_id);
        if (secret[0])
            json_object_set_new(ans, "webhookSecret", json_string(secret));
        json_object_set_new(ans, "mode", json_string(mode));
        sgw_reply_json(r, 201, ans);
    }
    free(appdoc);
    free(keydoc);
    json_decref(app);
    json_decref(kd);
out:
    json_decref(tenant);
    json_decref(req);
}

typedef struct app_filter {
    json_t *arr;
    const char *tenant; /* NULL: all */
} app_filter;

static int collect_apps(void *ctx, const char *id, const char *json, size_t len)
{
    app_filter *f = ctx;
    (void)id;
    json_t *o = json_loadb(json, len, 0, NULL);
    const char *t = json_string_value(json_object_get(o, "tenantId"));
    if (o && (!f->tenant || (t && strcmp(t, f->tenant) == 0)))
        json_array_append_new(f->arr, app_public(o));
    json_decref(o);
    return 1;
}

void h_apps_list(sgw_req *r)
{
    json_t *arr = json_array();
    if (r->auth.role == SGW_ROLE_ADMIN) {
        char tenant[64];
        app_filter f = { arr, sgw_req_query(r, "tenantId", tenant, sizeof tenant) ? tenant : NULL };
        sgw_store_doc_scan(r->srv->deps.store, SGW_DOC_APP, collect_apps, &f);
    } else {
        json_t *app = doc_load(r, SGW_DOC_APP, r->auth.app);
        if (app)
            json_array_append_new(arr, app_public(app));
        json_decref(app);
    }
    sgw_reply_json(r, 200, json_pack("{s:o}", "apps", arr));
}

/* The app in the path, if the caller may manage it; else answers. */
static json_t *app_visible(sgw_req *r)
{
    return doc_visible(r, SGW_DOC_APP, "app_", r->auth.app, "appId", "App");
}

void h_apps_get(sgw_req *r)
{
    json_t *app = app_visible(r);
    if (app)
        sgw_reply_json(r, 200, app_public(app));
    json_decref(app);
}

void h_apps_put(sgw_req *r)
{
    json_t *app = app_visible(r);
    if (!app)
        return;
    json_t *req = sgw_req_json_object(r);
    json_t *v;
    char secret[80] = "";
    if (!req)
        goto out;
    if ((v = json_object_get(req, "name"))) {
        const char *name = json_string_value(v);
        if (!name || strlen(name) < 1 || strlen(name) > 100) {
            sgw_reply_error(r, 400, "validation_error", "name must be 1-100 characters");
            goto out;
        }
        json_object_set(app, "name", v);
    }
    if ((v = json_object_get(req, "webhookUrl"))) {
        if (json_is_null(v)) {
            json_object_set_new(app, "webhookUrl", json_null());
            json_object_del(app, "webhookSecret");
        } else if (!sgw_url_ok(json_string_value(v))) {
            sgw_reply_error(r, 400, "validation_error",
                            "Invalid webhookUrl: must be https:// in production, max 2000 chars");
            goto out;
        } else {
            json_object_set(app, "webhookUrl", v);
            if (!json_object_get(app, "webhookSecret")) {
                sgw_random_id(secret, sizeof secret, "whsec_", 64);
                json_object_set_new(app, "webhookSecret", json_string(secret));
            }
        }
    }
    json_object_set_new(app, "updatedAt", now_json());
    char *doc = doc_dump(app);
    sgw_doc_op op = { SGW_DOC_APP, r->param[0], doc };
    if (write_docs(r, &op, 1)) {
        json_t *ans = app_public(app);
        if (secret[0]) /* a new secret is shown once, like at registration */
            json_object_set_new(ans, "webhookSecret", json_string(secret));
        sgw_reply_json(r, 200, ans);
    }
    free(doc);
out:
    json_decref(req);
    json_decref(app);
}

void h_apps_delete(sgw_req *r)
{
    json_t *app = app_visible(r);
    if (!app)
        return;
    const char *hash = json_string_value(json_object_get(app, "keyHash"));
    sgw_doc_op ops[2] = { { SGW_DOC_APP, r->param[0], NULL }, { SGW_DOC_KEY, hash ? hash : "", NULL } };
    if (write_docs(r, ops, hash ? 2 : 1))
        sgw_reply_json(r, 200, json_pack("{s:s, s:b}", "appId", r->param[0], "deleted", 1));
    json_decref(app);
}

void h_apps_rotate(sgw_req *r)
{
    json_t *app = app_visible(r);
    if (!app)
        return;
    const char *old = json_string_value(json_object_get(app, "keyHash"));
    const char *mode = json_string_value(json_object_get(app, "mode"));
    int test = mode && strcmp(mode, "test") == 0;
    char key[48], hash[65], prefix[9];
    sgw_key_new(test, key, hash);
    snprintf(prefix, sizeof prefix, "%.8s", key);
    char oldhash[65];
    snprintf(oldhash, sizeof oldhash, "%s", old ? old : "");
    json_object_set_new(app, "keyHash", json_string(hash));
    json_object_set_new(app, "apiKeyPrefix", json_string(prefix));
    json_object_set_new(app, "updatedAt", now_json());
    const char *tenant = json_string_value(json_object_get(app, "tenantId"));
    const char *role = json_string_value(json_object_get(app, "role"));
    json_t *kd = json_pack("{s:s, s:o, s:s, s:b}", "appId", r->param[0], "tenantId",
                           tenant ? json_string(tenant) : json_null(), "role",
                           role ? role : "app", "test", test);
    char *appdoc = doc_dump(app), *keydoc = doc_dump(kd);
    sgw_doc_op ops[3] = { { SGW_DOC_APP, r->param[0], appdoc },
                          { SGW_DOC_KEY, hash, keydoc },
                          { SGW_DOC_KEY, oldhash, NULL } };
    if (write_docs(r, ops, oldhash[0] ? 3 : 2))
        sgw_reply_json(r, 200, json_pack("{s:s, s:s}", "apiKey", key, "apiKeyPrefix", prefix));
    free(appdoc);
    free(keydoc);
    json_decref(kd);
    json_decref(app);
}

/* The tenant the caller acts for: an app key's own; an admin names one
 * (tenantId in the body or the query). Answers and returns 0 when there is
 * none. */
int sgw_req_tenant(sgw_req *r, json_t *body, char tenant[32])
{
    if (r->auth.role != SGW_ROLE_ADMIN) {
        snprintf(tenant, 32, "%s", r->auth.tenant);
        return 1;
    }
    char q[64] = "";
    const char *t = json_string_value(json_object_get(body, "tenantId"));
    if (!t && sgw_req_query(r, "tenantId", q, sizeof q))
        t = q;
    if (!t) {
        sgw_reply_error(r, 400, "validation_error", "tenantId is required with an admin key");
        return 0;
    }
    if (!sgw_id_valid(t, "tenant_", 16)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid tenantId format");
        return 0;
    }
    if (sgw_store_tenant_active(r->srv->deps.store, t) < 0) {
        sgw_reply_error(r, 404, "not_found", "Tenant not found");
        return 0;
    }
    snprintf(tenant, 32, "%s", t);
    return 1;
}
