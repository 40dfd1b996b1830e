/*
 * http/h_rc.c — the RingCentral OAuth connect flow (SPEC section 10, as
 * Gravity has it), for tenants who authorize the operator's RingCentral app
 * themselves instead of handing over JWT credentials:
 *
 *   POST /v1/rc/connect-token   app key (admin: with tenantId) -> a single-use
 *                               connect link, valid connect_token_ttl_s;
 *                               connect_tokens_per_hour per tenant
 *   GET  /v1/rc/connect?token=  a confirmation page; the token stays unused
 *   POST /v1/rc/connect         uses the token: 303 to RingCentral's
 *                               authorize page, with a single-use state
 *   GET  /v1/rc/callback?code=&state=
 *                               exchanges the code (authorization_code grant),
 *                               checks the account's numbers, stores the
 *                               tokens sealed as the tenant's connection
 *   GET  /v1/rc/status          {connected, expiresAt, rcAccountId}
 *   POST /v1/rc/disconnect      removes the tenant's connection
 *
 * The operator's app is transport.ringcentral.oauth (client id and secret,
 * server, redirect URI). Connect tokens and states live in this process's
 * memory only (hashed), so a restart voids pending links: they are minutes
 * long, and the user asks for a new one.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

#define FLOW_MAX 1024
#define STATE_TTL_MS (10 * 60 * 1000)

enum { FLOW_TOKEN = 1, FLOW_STATE = 2 };

typedef struct flow_entry {
    int kind;             /* 0: free */
    char hash[65];        /* sha256 of the token or state */
    char tenant[32];
    int64_t expires_ms;
} flow_entry;

typedef struct flow_issue {
    char tenant[32];
    int64_t at_ms;
} flow_issue;

struct sgw_rc_flow {
    pthread_mutex_t lock;
    flow_entry e[FLOW_MAX];
    flow_issue issued[FLOW_MAX]; /* a ring of connect tokens issued */
    int issued_next;
    const char *client_id, *client_secret, *server, *redirect;
    char redirect_default[300];
    int64_t token_ttl_ms;
    int per_hour;
};

sgw_err sgw_rc_flow_new(const sgw_cfg *cfg, struct sgw_rc_flow **out)
{
    struct sgw_rc_flow *f = calloc(1, sizeof *f);
    if (!f)
        return SGW_ENOMEM;
    pthread_mutex_init(&f->lock, NULL);
    f->client_id = sgw_cfg_str(cfg, "transport.ringcentral.oauth.client_id");
    f->client_secret = sgw_cfg_str(cfg, "transport.ringcentral.oauth.client_secret");
    f->server = sgw_cfg_str(cfg, "transport.ringcentral.oauth.server_url");
    f->redirect = sgw_cfg_str(cfg, "transport.ringcentral.oauth.redirect_uri");
    if (!f->redirect[0]) {
        snprintf(f->redirect_default, sizeof f->redirect_default, "http://%s/v1/rc/callback",
                 sgw_cfg_str(cfg, "listen"));
        f->redirect = f->redirect_default;
    }
    f->token_ttl_ms = sgw_cfg_int(cfg, "transport.ringcentral.oauth.connect_token_ttl_s") * 1000;
    f->per_hour = (int)sgw_cfg_int(cfg, "transport.ringcentral.oauth.connect_tokens_per_hour");
    *out = f;
    return SGW_OK;
}

void sgw_rc_flow_destroy(struct sgw_rc_flow **fp)
{
    if (!fp || !*fp)
        return;
    pthread_mutex_destroy(&(*fp)->lock);
    free(*fp);
    *fp = NULL;
}

/* Keep a hashed entry; 0 when the table is full of live entries. */
static int flow_put(struct sgw_rc_flow *f, int kind, const char *secret, const char *tenant,
                    int64_t expires_ms)
{
    int64_t now = sgw_now_ms();
    int ok = 0;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < FLOW_MAX; i++) {
        flow_entry *e = &f->e[i];
        if (e->kind && e->expires_ms > now)
            continue;
        e->kind = kind;
        sgw_sha256_hex(e->hash, secret, strlen(secret));
        snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
        e->expires_ms = expires_ms;
        ok = 1;
        break;
    }
    pthread_mutex_unlock(&f->lock);
    return ok;
}

/* Find a live entry (and remove it when take): its tenant into tenant. */
static int flow_find(struct sgw_rc_flow *f, int kind, const char *secret, int take,
                     char tenant[32])
{
    char h[65];
    sgw_sha256_hex(h, secret, strlen(secret));
    int64_t now = sgw_now_ms();
    int found = 0;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < FLOW_MAX; i++) {
        flow_entry *e = &f->e[i];
        if (e->kind != kind || e->expires_ms <= now || !sgw_ct_equal(e->hash, h, 64))
            continue;
        snprintf(tenant, 32, "%s", e->tenant);
        if (take)
            e->kind = 0;
        found = 1;
        break;
    }
    pthread_mutex_unlock(&f->lock);
    return found;
}

static int flow_configured(sgw_req *r)
{
    struct sgw_rc_flow *f = r->srv->rc_flow;
    if (f->client_id[0] && f->client_secret[0])
        return 1;
    sgw_reply_error(r, 503, "unavailable",
                    "RingCentral OAuth is not configured on this gateway "
                    "(transport.ringcentral.oauth)");
    return 0;
}

void h_rc_connect_token(sgw_req *r)
{
    struct sgw_rc_flow *f = r->srv->rc_flow;
    json_t *body = NULL;
    if (r->body_len > 0 && !(body = sgw_req_json_object(r)))
        return;
    char tenant[32];
    if (!sgw_req_tenant(r, body, tenant) || !flow_configured(r)) {
        json_decref(body);
        return;
    }
    json_decref(body);
    int64_t now = sgw_now_ms(), oldest = 0;
    int n = 0;
    pthread_mutex_lock(&f->lock);
    for (int i = 0; i < FLOW_MAX; i++) {
        const flow_issue *x = &f->issued[i];
        if (x->at_ms > now - 3600 * 1000 && strcmp(x->tenant, tenant) == 0) {
            n++;
            if (!oldest || x->at_ms < oldest)
                oldest = x->at_ms;
        }
    }
    if (n < f->per_hour) {
        flow_issue *x = &f->issued[f->issued_next];
        f->issued_next = (f->issued_next + 1) % FLOW_MAX;
        snprintf(x->tenant, sizeof x->tenant, "%s", tenant);
        x->at_ms = now;
    }
    pthread_mutex_unlock(&f->lock);
    if (n >= f->per_hour) {
        int64_t wait_s = (oldest + 3600 * 1000 - now + 999) / 1000;
        snprintf(r->extra_headers, sizeof r->extra_headers, "Retry-After: %lld\r\n",
                 (long long)(wait_s > 0 ? wait_s : 1));
        sgw_reply_error(r, 429, "rate_limit_exceeded", "Too many requests");
        return;
    }
    char token[80];
    sgw_random_id(token, sizeof token, "rct_", 64);
    if (!flow_put(f, FLOW_TOKEN, token, tenant, now + f->token_ttl_ms)) {
        sgw_reply_error(r, 503, "unavailable", "Too many connect links pending");
        return;
    }
    char url[128];
    snprintf(url, sizeof url, "/v1/rc/connect?token=%s", token);
    sgw_reply_json(r, 200, json_pack("{s:s, s:I}", "connectUrl", url, "expiresIn",
                                     (json_int_t)(f->token_ttl_ms / 1000)));
}

void h_rc_connect_page(sgw_req *r)
{
    char token[80] = "", tenant[32];
    sgw_req_query(r, "token", token, sizeof token);
    if (!sgw_id_valid(token, "rct_", 64) ||
        !flow_find(r->srv->rc_flow, FLOW_TOKEN, token, 0, tenant)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid or expired token");
        return;
    }
    /* token and tenant are hex ids: nothing here needs escaping */
    char html[2048];
    snprintf(html, sizeof html,
             "<!doctype html><html><head><meta charset=\"utf-8\"><title>Connect RingCentral"
             "</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:4em auto\">"
             "<h1>Connect RingCentral</h1><p>smsgw will send and receive SMS for tenant "
             "<code>%s</code> through your RingCentral account. RingCentral will ask you to "
             "sign in and allow it.</p><form method=\"post\" action=\"/v1/rc/connect\">"
             "<input type=\"hidden\" name=\"token\" value=\"%s\">"
             "<button type=\"submit\">Continue to RingCentral</button></form></body></html>",
             tenant, token);
    sgw_reply_html(r, 200, html);
}

/* token from a form body (token=...), a JSON body or the query */
static void connect_token_of(sgw_req *r, char *out, size_t outsz)
{
    out[0] = '\0';
    if (r->body && r->body_len > 0) {
        json_t *o = json_loads(r->body, 0, NULL);
        const char *t = json_string_value(json_object_get(o, "token"));
        if (t)
            snprintf(out, outsz, "%s", t);
        json_decref(o);
        if (!out[0] && mg_get_var(r->body, r->body_len, "token", out, outsz) < 0)
            out[0] = '\0';
    }
    if (!out[0])
        sgw_req_query(r, "token", out, outsz);
}

void h_rc_connect(sgw_req *r)
{
    struct sgw_rc_flow *f = r->srv->rc_flow;
    char token[80], tenant[32];
    connect_token_of(r, token, sizeof token);
    if (!sgw_id_valid(token, "rct_", 64) || !flow_find(f, FLOW_TOKEN, token, 1, tenant)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid or expired token");
        return;
    }
    if (!flow_configured(r))
        return;
    char state[40];
    sgw_random_id(state, sizeof state, "", 32);
    if (!flow_put(f, FLOW_STATE, state, tenant, sgw_now_ms() + STATE_TTL_MS)) {
        sgw_reply_error(r, 503, "unavailable", "Too many connect links pending");
        return;
    }
    char cid[512], uri[1024], loc[2400];
    mg_url_encode(f->client_id, cid, sizeof cid);
    mg_url_encode(f->redirect, uri, sizeof uri);
    snprintf(loc, sizeof loc,
             "%s/restapi/oauth/authorize?response_type=code&client_id=%s&redirect_uri=%s"
             "&state=%s",
             f->server, cid, uri, state);
    sgw_log(SGW_LOG_INFO, "http", "RingCentral connect started for %s", tenant);
    sgw_reply_redirect(r, loc);
}

void h_rc_callback(sgw_req *r)
{
    struct sgw_rc_flow *f = r->srv->rc_flow;
    char state[64] = "", code[1024] = "", err[256] = "", tenant[32];
    sgw_req_query(r, "state", state, sizeof state);
    sgw_req_query(r, "code", code, sizeof code);
    if (!state[0] || !flow_find(f, FLOW_STATE, state, 1, tenant)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid or expired state");
        return;
    }
    if (sgw_req_query(r, "error", err, sizeof err) || !code[0]) {
        char desc[256] = "", msg[600];
        sgw_req_query(r, "error_description", desc, sizeof desc);
        snprintf(msg, sizeof msg, "RingCentral did not authorize: %s%s%s",
                 err[0] ? err : "no code", desc[0] ? ": " : "", desc);
        sgw_reply_error(r, 400, "validation_error", msg);
        return;
    }
    const struct sgw_transport_ops *ops = sgw_transport_find("ringcentral");
    json_t *acct = json_pack("{s:s, s:s, s:s, s:s, s:s}", "serverUrl", f->server, "clientId",
                             f->client_id, "clientSecret", f->client_secret, "authCode", code,
                             "redirectUri", f->redirect);
    char *account = acct ? json_dumps(acct, JSON_COMPACT) : NULL;
    json_decref(acct);
    char *info = NULL, why[512] = "";
    sgw_err rv = account && ops ? ops->verify(r->srv->deps.cfg, account, &info, why, sizeof why)
                                : SGW_ENOMEM;
    if (account) {
        memset(account, 0, strlen(account));
        free(account);
    }
    if (rv != SGW_OK) {
        sgw_log(SGW_LOG_INFO, "http", "RingCentral connect for %s failed: %s", tenant, why);
        if (rv == SGW_EIO)
            sgw_reply_error(r, 502, "provider_unavailable", why);
        else
            sgw_reply_error(r, 400, "validation_error", why);
        return;
    }
    json_t *facts = json_loads(info, 0, NULL);
    memset(info, 0, strlen(info));
    free(info);
    json_t *sec = json_incref(json_object_get(facts, "secret"));
    json_object_del(facts, "secret");
    if (!json_is_object(sec)) {
        json_decref(sec);
        json_decref(facts);
        sgw_reply_error(r, 502, "provider_unavailable", "RingCentral gave no refresh token");
        return;
    }
    json_object_set_new(sec, "clientSecret", json_string(f->client_secret));
    json_t *pub = json_pack("{s:s, s:s, s:s}", "serverUrl", f->server, "clientId", f->client_id,
                            "authMethod", "oauth");
    json_object_update(pub, facts);
    json_decref(facts);
    if (!sgw_conn_store(r, tenant, "ringcentral", pub, sec))
        return;
    sgw_log(SGW_LOG_INFO, "http", "RingCentral connected for %s (OAuth)", tenant);
    char html[1024];
    snprintf(html, sizeof html,
             "<!doctype html><html><head><meta charset=\"utf-8\"><title>RingCentral connected"
             "</title></head><body style=\"font-family:sans-serif;max-width:32em;margin:4em auto\">"
             "<h1>RingCentral connected</h1><p>Tenant <code>%s</code> now sends SMS through "
             "RingCentral. You can close this window.</p></body></html>",
             tenant);
    sgw_reply_html(r, 200, html);
}

void h_rc_status(sgw_req *r)
{
    char tenant[32];
    if (!sgw_req_tenant(r, NULL, tenant))
        return;
    char *pub_text = NULL;
    if (sgw_store_conn_get(r->srv->deps.store, tenant, "ringcentral", &pub_text, NULL, NULL) !=
        SGW_OK) {
        sgw_reply_json(r, 200, json_pack("{s:b, s:n, s:n}", "connected", 0, "expiresAt",
                                         "rcAccountId"));
        return;
    }
    json_t *pub = json_loads(pub_text, 0, NULL);
    free(pub_text);
    json_t *exp = json_object_get(pub, "expiresAt"), *acc = json_object_get(pub, "rcAccountId");
    sgw_reply_json(r, 200, json_pack("{s:b, s:O, s:O, s:O, s:O}", "connected", 1, "expiresAt",
                                     exp ? exp : json_null(), "rcAccountId",
                                     acc ? acc : json_null(), "authMethod",
                                     json_object_get(pub, "authMethod")
                                         ? json_object_get(pub, "authMethod")
                                         : json_null(),
                                     "connectedAt",
                                     json_object_get(pub, "connectedAt")
                                         ? json_object_get(pub, "connectedAt")
                                         : json_null()));
    json_decref(pub);
}

void h_rc_disconnect(sgw_req *r)
{
    json_t *body = NULL;
    if (r->body_len > 0 && !(body = sgw_req_json_object(r)))
        return;
    char tenant[32];
    int ok = sgw_req_tenant(r, body, tenant);
    json_decref(body);
    if (!ok)
        return;
    if (sgw_store_conn_get(r->srv->deps.store, tenant, "ringcentral", NULL, NULL, NULL) ==
        SGW_OK) {
        /* the webhook subscription goes with the connection */
        char *old = sgw_rcwh_conn_before(r, tenant);
        sgw_err rv = sgw_store_conn_delete(r->srv->deps.store, tenant, "ringcentral");
        sgw_rcwh_conn_after(r, tenant, old, rv == SGW_OK, 0);
        if (rv != SGW_OK) {
            sgw_reply_error(r, 503, "unavailable", "Store unavailable");
            return;
        }
    }
    sgw_log(SGW_LOG_INFO, "http", "RingCentral disconnected for %s", tenant);
    sgw_reply_json(r, 200, json_pack("{s:b}", "connected", 0));
}
