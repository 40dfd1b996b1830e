/*
 * http/h_conn.c — a tenant's provider connections (SPEC section 10):
 *
 *   PUT    /v1/tenants/:id/connections/:provider   admin: connect (verified)
 *   GET    /v1/tenants/:id/connections/:provider   admin, or the tenant's app
 *   DELETE /v1/tenants/:id/connections/:provider   admin: disconnect
 *
 * A PUT is checked with the provider before anything is stored (for
 * RingCentral: a token from its OAuth endpoint and the account's numbers);
 * then its secret fields are sealed in the store (AES-256-GCM) and never
 * returned, logged or shown again. Each provider's fields are listed once,
 * in conn_kinds below.
 */
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"
#include "transport/twilio.h"

typedef struct conn_field {
    const char *name;
    int secret;        /* sealed, never returned */
    size_t max;
    int optional;      /* may be left out */
} conn_field;

typedef struct conn_kind {
    const char *provider;
    const conn_field fields[6];
} conn_kind;

static const conn_kind conn_kinds[] = {
    { "ringcentral",
      { { "serverUrl", 0, 2000, 0 }, { "clientId", 0, 256, 0 }, { "clientSecret", 1, 256, 0 },
        { "jwt", 1, 8192, 0 }, { NULL, 0, 0, 0 } } },
    { "twilio",
      { { "accountSid", 0, 34, 0 }, { "authToken", 1, 256, 0 },
        { "messagingServiceSid", 0, 34, 1 }, { NULL, 0, 0, 0 } } },
    { NULL, { { NULL, 0, 0, 0 } } },
};

static const conn_kind *conn_kind_of(sgw_req *r, const struct sgw_transport_ops **ops)
{
    for (const conn_kind *k = conn_kinds; k->provider; k++)
        if (strcmp(k->provider, r->param[1]) == 0) {
            *ops = sgw_transport_find(k->provider);
            if (*ops)
                return k;
        }
    sgw_reply_error(r, 404, "not_found", "Unknown provider");
    return NULL;
}

static void conn_not_found(sgw_req *r, const struct sgw_transport_ops *ops)
{
    char msg[96];
    snprintf(msg, sizeof msg, "%s not connected for this tenant", ops->title);
    sgw_reply_error(r, 404, "not_found", msg);
}

static json_t *conn_answer(const char *tenant, const char *provider, json_t *pub)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "tenantId", tenant, "provider", provider,
                          "connected", 1);
    json_object_update(o, pub);
    return o;
}

/* The provider and tenant of the path, if the caller may act on them;
 * else answers and returns NULL. */
static const conn_kind *conn_target(sgw_req *r, int admin_only,
                                    const struct sgw_transport_ops **ops)
{
    if (admin_only && r->auth.role != SGW_ROLE_ADMIN) {
        sgw_reply_error(r, 403, "forbidden", "This needs an admin key");
        return NULL;
    }
    const conn_kind *k = conn_kind_of(r, ops);
    if (!k)
        return NULL;
    json_t *t = sgw_tenant_visible(r);
    if (!t)
        return NULL;
    json_decref(t);
    return k;
}

void h_conn_put(sgw_req *r)
{
    const struct sgw_transport_ops *ops;
    const conn_kind *k = conn_target(r, 1, &ops);
    if (!k)
        return;
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    json_t *pub = json_object(), *sec = json_object();
    for (const conn_field *f = k->fields; f->name; f++) {
        const char *v = json_string_value(json_object_get(req, f->name));
        if (f->optional && !json_object_get(req, f->name))
            continue;
        if (!v || !*v || strlen(v) > f->max) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s is required (a string of at most %zu characters)",
                     f->name, f->max);
            sgw_reply_error(r, 400, "validation_error", msg);
            goto done;
        }
        json_object_set_new(f->secret ? sec : pub, f->name, json_string(v));
    }
    const char *url = json_string_value(json_object_get(pub, "serverUrl"));
    if (url && !sgw_url_ok(url)) {
        sgw_reply_error(r, 400, "validation_error",
                        "Invalid serverUrl: must be https:// (or http:// to loopback for "
                        "development), max 2000 chars");
        goto done;
    }
    /* what the adapter is given: both parts */
    json_t *all = json_deep_copy(pub);
    json_object_update(all, sec);
    char *account = json_dumps(all, JSON_COMPACT);
    json_decref(all);
    char *info = NULL, why[512] = "";
    sgw_err rv = account ? ops->verify(r->srv->deps.cfg, account, &info, why, sizeof why)
                         : SGW_ENOMEM;
    if (account) {
        memset(account, 0, strlen(account));
        free(account);
    }
    if (rv != SGW_OK) {
        sgw_log(SGW_LOG_INFO, "http", "%s connection for %s refused: %s", ops->title,
                r->param[0], why);
        if (rv == SGW_EIO)
            sgw_reply_error(r, 502, "provider_unavailable", why);
        else if (rv == SGW_EINVAL)
            sgw_reply_error(r, 400, "validation_error", why);
        else
            sgw_reply_error(r, 500, "internal", "Could not check the connection");
        goto done;
    }
    json_t *facts = json_loads(info, 0, NULL);
    free(info);
    json_object_update(pub, facts);
    json_decref(facts);
    json_object_set_new(pub, "authMethod",
                        json_string(strcmp(k->provider, "twilio") == 0 ? "basic" : "jwt"));
    if (sgw_conn_store(r, r->param[0], k->provider, json_incref(pub), json_incref(sec))) {
        sgw_log(SGW_LOG_INFO, "http", "%s connected for %s", ops->title, r->param[0]);
        sgw_reply_json(r, 200, conn_answer(r->param[0], k->provider, pub));
    }
done:
    /* the request held secrets: wipe our copy of the body */
    if (r->body)
        memset(r->body, 0, r->body_len);
    json_decref(req);
    json_decref(pub);
    json_decref(sec);
}

int sgw_conn_store(sgw_req *r, const char *tenant, const char *provider, json_t *pub,
                   json_t *sec)
{
    char ts[32];
    sgw_time_format(ts, sgw_now_ms());
    json_object_set_new(pub, "connectedAt", json_string(ts));
    char *pub_text = json_dumps(pub, JSON_COMPACT), *sec_text = json_dumps(sec, JSON_COMPACT);
    /* RingCentral: the webhook subscription follows the connection */
    int rc = strcmp(provider, "ringcentral") == 0;
    char *old = rc ? sgw_rcwh_conn_before(r, tenant) : NULL;
    sgw_err rv = pub_text && sec_text ? sgw_store_conn_put(r->srv->deps.store, tenant, provider,
                                                           pub_text, sec_text)
                                      : SGW_ENOMEM;
    if (rc)
        sgw_rcwh_conn_after(r, tenant, old, rv == SGW_OK, 1);
    free(pub_text);
    if (sec_text) {
        memset(sec_text, 0, strlen(sec_text));
        free(sec_text);
    }
    json_decref(pub);
    json_decref(sec);
    if (rv != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return 0;
    }
    return 1;
}

void h_conn_get(sgw_req *r)
{
    const struct sgw_transport_ops *ops;
    const conn_kind *k = conn_target(r, 0, &ops);
    if (!k)
        return;
    char *pub_text = NULL;
    if (sgw_store_conn_get(r->srv->deps.store, r->param[0], k->provider, &pub_text, NULL, NULL) !=
        SGW_OK) {
        conn_not_found(r, ops);
        return;
    }
    json_t *pub = json_loads(pub_text, 0, NULL);
    free(pub_text);
    json_t *ans = conn_answer(r->param[0], k->provider, pub);
    if (strcmp(k->provider, "ringcentral") == 0)
        sgw_rcwh_describe(r, r->param[0], ans);
    char base[512];
    if (strcmp(k->provider, "twilio") == 0 && sgw_twilio_public_base(r->srv->deps.cfg, base,
                                                                     sizeof base))
        /* what to set as the SMS webhook (SmsUrl) of the tenant's numbers */
        json_object_set_new(ans, "webhookUrl",
                            json_sprintf("%s/v1/webhooks/twilio/%s", base, r->param[0]));
    sgw_reply_json(r, 200, ans);
    json_decref(pub);
}

void h_conn_delete(sgw_req *r)
{
    const struct sgw_transport_ops *ops;
    const conn_kind *k = conn_target(r, 1, &ops);
    if (!k)
        return;
    if (sgw_store_conn_get(r->srv->deps.store, r->param[0], k->provider, NULL, NULL, NULL) !=
        SGW_OK) {
        conn_not_found(r, ops);
        return;
    }
    int rc = strcmp(k->provider, "ringcentral") == 0;
    char *old = rc ? sgw_rcwh_conn_before(r, r->param[0]) : NULL;
    sgw_err rv = sgw_store_conn_delete(r->srv->deps.store, r->param[0], k->provider);
    if (rc) /* its webhook subscription is deleted too */
        sgw_rcwh_conn_after(r, r->param[0], old, rv == SGW_OK, 0);
    if (rv != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    sgw_log(SGW_LOG_INFO, "http", "%s disconnected for %s", ops->title, r->param[0]);
    sgw_reply_json(r, 200, json_pack("{s:s, s:s, s:b}", "tenantId", r->param[0], "provider",
                                     k->provider, "connected", 0));
}
