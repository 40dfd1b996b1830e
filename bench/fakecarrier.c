/*
 * bench/fakecarrier.c — a fake of RingCentral's REST API for smsgw's tests,
 * benchmarks and users' load tests. It follows transport/README.md (the
 * contract of the RingCentral adapter, with its public sources).
 *
 *   fakecarrier [--listen 127.0.0.1:0] [options]
 *
 * It binds (port 0: any free port), prints exactly one line
 *   fakecarrier listening on http://127.0.0.1:PORT
 * to stdout, then logs only to stderr; SIGTERM or SIGINT stop it (exit 0).
 * `fakecarrier --help` lists every option.
 *
 * Identity (flags): account --account-id 100000001; app --client-id
 * fake-client-id / --client-secret fake-client-secret; accepted JWT
 * assertions --jwt ASSERTION[:EXT] (repeatable, default fake-jwt owned by
 * --jwt-owner 200000001, the first --jwt replaces the default); numbers
 * --number +15551234567:200000001:SmsSender,A2PSmsSender (repeatable, the
 * first replaces the defaults: +15551234567 ext 200000001 SmsSender;
 * +15557654321 ext 200000002 SmsSender,A2PSmsSender; +15550000000 ext
 * 200000001 CallerId).
 *
 * RingCentral endpoints (~ = the token's account / extension):
 *   POST /restapi/oauth/token      Basic client auth; grants jwt-bearer,
 *                                  authorization_code, refresh_token (single
 *                                  use: it rotates)
 *   GET  /restapi/oauth/authorize  auto-approves: 302 to
 *                                  redirect_uri?code=&state=&expires_in=60
 *   POST /restapi/oauth/revoke     token=... (its pair is revoked too)
 *   GET  /restapi/v1.0/account/~/phone-number            (Heavy; no features)
 *   GET  /restapi/v1.0/account/~/extension/~             (Light)
 *   GET  /restapi/v1.0/account/~/extension/~/phone-number (Light; features)
 *   POST /restapi/v1.0/account/~/extension/~/sms          (Medium)
 *   GET  /restapi/v1.0/account/~/extension/~/message-store[/{id}] (Light)
 *   POST/GET /restapi/v1.0/subscription, GET/PUT/DELETE .../{id},
 *   POST .../{id}/renew            WebHook only; creation first POSTs the
 *                                  address with Validation-Token and needs
 *                                  it echoed in a 200 within
 *                                  webhook_timeout_ms
 *   POST/GET /restapi/v1.0/account/~/a2p-sms/batches, GET .../batches/{id},
 *   GET .../a2p-sms/messages[/{id}]  High Volume (A2P) SMS: bench/fc/a2p.h
 *                                  (rejected[] per recipient, paging by
 *                                  pageToken, "api": "a2p" in /_fake/messages)
 * The message-store list also takes phoneNumber= (a message's from or one
 * of its to), as RingCentral's Get Message List does.
 *   POST /2010-04-01/Accounts/{AC}/Messages.json and the rest of Twilio's
 *                                  Messages API, signed status callbacks
 *                                  and inbound webhooks: bench/fc/twilio.h
 *                                  (--tw-* flags, /_fake/twilio/...,
 *                                  "provider": "twilio" in /_fake/messages)
 * A send answers 200 Queued; the message becomes Sent after ~latency_ms
 * and Delivered (DeliveryFailed for --undeliverable numbers) dlr_delay_ms
 * later. Each change is notified to matching message-store subscriptions
 * (counts only, as RingCentral does); inbound messages also to
 * message-store/instant?type=SMS subscriptions (the full message), with
 * the subscription's Verification-Token header.
 *
 * Fault knobs (flags --name-with-dashes VALUE, or POST /_fake/config
 * {"name": value}): latency_ms, latency_jitter_ms, rate_5xx, rate_429,
 * rate_timeout, rate_drop, timeout_hold_ms, retry_after_s, token_ttl_s,
 * refresh_ttl_s, ext_limit, ext_window_s, dlr_delay_ms,
 * webhook_timeout_ms, notify_copies, group_limits; lists undeliverable, invalid_to
 * (--undeliverable/--invalid-to NUMBER, repeatable) and fail_next
 * (--fail-next 503,503: forced outcomes "500", "503", "429", "timeout",
 * "drop", "401", one per SMS send or A2P batch create that passed
 * authentication and rate limits, before the random rates; the random
 * rates apply to both too).
 *
 * Control API (not RingCentral's; no auth: bind it to loopback):
 *   GET  /_fake/messages[?direction=Outbound|Inbound|all&after=ID&limit=N]
 *   GET  /_fake/stats           counters and the knobs in force
 *   GET  /_fake/config          the knobs; POST sets some (unknown -> 400)
 *   GET  /_fake/subscriptions   every live subscription
 *   POST /_fake/expire-tokens   every access token issued so far expires
 *   POST /_fake/inbound {from, to, text}   an inbound SMS to `to`'s owner
 *   POST /_fake/message-status {id, status} an outbound message's status
 *                               changes (subscribers are told)
 *   POST /_fake/reset           clears messages, counters and fail_next
 *
 * Wire details (transport/README.md has the sources):
 *   REST errors   {"errorCode", "message", "errors": [{"errorCode",
 *                 "message", "parameterName"?, "parameterValue"?}],
 *                 "parameterName"?}: CMN-101 bad parameter, CMN-102 not
 *                 found (404), CMN-103 unparsable JSON, CMN-120 unknown
 *                 path (404), CMN-202 wrong method (405), CMN-404 another
 *                 extension (403), CMN-406 duplicate `to`, MSG-245 `from`
 *                 not the account's (400), MSG-304 `from` another
 *                 extension's (403), MSG-367 `from` without SmsSender
 *                 (403), MSG-338 text over 1000 UTF-16 units; injected
 *                 CMN-203 (500), CMN-201 (503 + Retry-After), CMN-301 (429
 *                 + Retry-After); SUB-520/522/525 and CMN-101 when a
 *                 webhook fails validation, SUB-505/405/406/508 otherwise.
 *   401s          AGW-401 no Authorization; AGW-402 not Bearer;
 *                 TokenInvalid outside, OAU-213 "Token not found" inside;
 *                 TokenExpired outside, OAU-128 "Access token expired"
 *                 inside.
 *   OAuth errors  {"error", "error_description", "errors": [{"errorCode",
 *                 "message"}]}: 401 invalid_client OAU-123 (no Basic
 *                 auth) / OAU-146 (wrong id or secret); 400 invalid_grant
 *                 OAU-140 (JWT), OAU-106/108/109 (code unknown or used /
 *                 expired / other redirect_uri), OAU-213/211/210 (refresh
 *                 token unknown / used or revoked / expired); 400
 *                 unauthorized_client OAU-251 (other grant types).
 *   Rate limits   X-Rate-Limit-Group (light, medium, heavy, auth),
 *                 -Limit, -Remaining, -Window on every authenticated
 *                 /restapi/v1.0 answer and the OAuth token/revoke ones,
 *                 counted per token extension and group. Only ext_limit
 *                 (SMS sends) and, with group_limits, the group limits
 *                 are enforced; otherwise Remaining stays at Limit.
 *   Ids           message ids are consecutive from 1000000001 and JSON
 *                 numbers in REST answers (strings in instant-message
 *                 notification bodies, as RingCentral's samples show).
 *   Drop          civetweb 1.15 cannot close a server connection from a
 *                 handler, so "drop" finds the request's socket by its
 *                 address pair and shuts it down (bench/fc/http.h).
 *
 * Threads: civetweb workers (--threads, 64) answer requests; latency and
 * timeouts sleep there without any lock. One timer thread moves messages
 * along; --notify-threads threads post notifications from bounded queues.
 * See bench/fc/state.h for the locking and memory bounds.
 */
#include "fc/http.h"

/* ------------------------------------------------------------ helpers */

static void jset_id(json_t *o, const char *k, const char *id)
{
    long long v = fc_parse_uint(id);
    if (v >= 0)
        jset_i(o, k, v);
    else
        jset_s(o, k, id);
}

/* A query or form variable; "" when absent. */
static int get_var(const char *data, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    if (!data)
        return -1;
    int n = mg_get_var(data, strlen(data), name, out, cap);
    if (n < 0)
        out[0] = 0;
    return n;
}

static int is_http_url(const char *s)
{
    return s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
           strlen(s) < 2048;
}

/* "~" or this account. 0, or the status of the 404 answered. */
static int check_account(fc_req *r, const char *acc)
{
    if (strcmp(acc, "~") == 0 || strcmp(acc, G.account) == 0)
        return 0;
    return rc_not_found(r, "accountId", acc);
}

/* "~" or a known extension into out. Sending and reading messages are
 * only for the token's own extension: RingCentral lets no one, not even
 * an admin, send on another extension's behalf (transport/README.md
 * section 2). 0, or the status answered. */
static int resolve_ext(fc_req *r, const char *ext, int own_only, char out[FC_ID])
{
    if (strcmp(ext, "~") == 0) {
        fc_copy(out, FC_ID, r->owner);
        return 0;
    }
    if (!fc_ext_find(ext))
        return rc_not_found(r, "extensionId", ext);
    if (own_only && strcmp(ext, r->owner) != 0)
        return rc_error(r, 403, "CMN-404", "Attempt to access another extension", "extensionId",
                        ext);
    fc_copy(out, FC_ID, ext);
    return 0;
}

/* page and perPage query parameters. 0, or the status answered. */
static int get_paging(fc_req *r, long long *page, long long *per, long long per_default)
{
    char buf[32];
    *page = 1;
    *per = per_default;
    if (get_var(r->ri->query_string, "page", buf, sizeof buf) >= 0 && buf[0]) {
        *page = fc_parse_uint(buf);
        if (*page < 1)
            return rc_bad_param(r, "page", buf);
    }
    if (get_var(r->ri->query_string, "perPage", buf, sizeof buf) >= 0 && buf[0]) {
        *per = fc_parse_uint(buf);
        if (*per < 1)
            return rc_bad_param(r, "perPage", buf);
        if (*per > 1000)
            *per = 1000;
    }
    return 0;
}

/* ------------------------------------------------------------ OAuth */

static int token_answer(fc_req *r, const char *owner, const char *endpoint, long long want_ttl,
                        long long want_rttl)
{
    pthread_mutex_lock(&G.mu);
    long long ttl = G.k.token_ttl_s, rttl = G.k.refresh_ttl_s;
    if (want_ttl > 0 && want_ttl < ttl)
        ttl = want_ttl;
    if (want_rttl > 0 && want_rttl < rttl)
        rttl = want_rttl;
    fc_token *at = tok_new_locked(TOK_ACCESS, owner, ttl);
    fc_token *rt = at ? tok_new_locked(TOK_REFRESH, owner, rttl) : NULL;
    json_t *o = NULL;
    if (at && rt) {
        fc_copy(at->pair, sizeof at->pair, rt->tok);
        fc_copy(rt->pair, sizeof rt->pair, at->tok);
        if (endpoint && *endpoint)
            fc_copy(at->endpoint, sizeof at->endpoint, endpoint);
        else
            fc_random_hex(at->endpoint, 11);
        fc_copy(rt->endpoint, sizeof rt->endpoint, at->endpoint);
        o = json_object();
        jset_s(o, "access_token", at->tok);
        jset_s(o, "token_type", "bearer");
        jset_i(o, "expires_in", ttl);
        jset_s(o, "refresh_token", rt->tok);
        jset_i(o, "refresh_token_expires_in", rttl);
        jset_s(o, "scope", "ReadAccounts ReadMessages SMS A2PSMS SubscriptionWebhook");
        jset_s(o, "owner_id", owner);
        jset_s(o, "endpoint_id", at->endpoint);
    }
    pthread_mutex_unlock(&G.mu);
    if (!o)
        return oauth_error(r, 503, "temporarily_unavailable", "CMN-201",
                           "Service Temporary Unavailable");
    return reply_json(r, 200, o);
}

static void count_grant(long long *counter, int refused)
{
    pthread_mutex_lock(&G.mu);
    (*counter)++;
    if (refused)
        G.st.tok_refused++;
    pthread_mutex_unlock(&G.mu);
}

static int h_token(fc_req *r)
{
    int st;
    if (!req_is(r, "POST"))
        return oauth_error(r, 405, "invalid_request", "CMN-202", "Operation is not supported");
    if ((st = req_rate(r, G_AUTH, G.client_id, 0)) != 0)
        return st;
    if (req_read_body(r) != 0)
        return oauth_error(r, 400, "invalid_request", "CMN-104", "Cannot parse request");
    char grant[128], buf[64];
    get_var(r->body, "grant_type", grant, sizeof grant);
    long long *counter = strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") == 0
                             ? &G.st.tok_jwt
                         : strcmp(grant, "authorization_code") == 0 ? &G.st.tok_code
                         : strcmp(grant, "refresh_token") == 0      ? &G.st.tok_refresh
                                                                    : &G.st.tok_other;
    if ((st = req_client_auth(r)) != 0) {
        count_grant(counter, 1);
        return st;
    }
    long long want_ttl = -1, want_rttl = -1;
    if (get_var(r->body, "access_token_ttl", buf, sizeof buf) >= 0)
        want_ttl = fc_parse_uint(buf);
    if (get_var(r->body, "refresh_token_ttl", buf, sizeof buf) >= 0)
        want_rttl = fc_parse_uint(buf);
    char endpoint[32];
    get_var(r->body, "endpoint_id", endpoint, sizeof endpoint);

    if (counter == &G.st.tok_jwt) {
        char assertion[8192];
        if (get_var(r->body, "assertion", assertion, sizeof assertion) < 0 || !assertion[0]) {
            count_grant(counter, 1);
            return oauth_error(r, 400, "invalid_request", "OAU-101",
                               "Parameter [assertion] is required");
        }
        const char *owner = NULL;
        for (size_t i = 0; i < G.njwts; i++)
            if (strcmp(G.jwts[i].assertion, assertion) == 0)
                owner = G.jwts[i].ext;
        if (!owner) {
            count_grant(counter, 1);
            return oauth_error(r, 400, "invalid_grant", "OAU-140",
                               "Invalid resource owner credentials");
        }
        count_grant(counter, 0);
        return token_answer(r, owner, endpoint, want_ttl, want_rttl);
    }
    if (counter == &G.st.tok_code) {
        char code[128], redirect[2048];
        get_var(r->body, "code", code, sizeof code);
        get_var(r->body, "redirect_uri", redirect, sizeof redirect);
        const char *err = NULL, *desc = NULL;
        char owner[FC_ID] = "";
        pthread_mutex_lock(&G.mu);
        fc_token *k = code[0] ? tok_find_locked(code) : NULL;
        if (!k || k->kind != TOK_CODE || k->revoked) {
            err = "OAU-106";
            desc = "Invalid authorization code";
        } else if (k->expires_ms <= fc_mono_ms()) {
            err = "OAU-108";
            desc = "Authorization code is expired";
        } else if (!k->redirect || strcmp(k->redirect, redirect) != 0) {
            err = "OAU-109";
            desc = "Redirect URIs do not match";
        } else {
            k->revoked = 1; /* single use */
            fc_copy(owner, sizeof owner, k->owner);
        }
        pthread_mutex_unlock(&G.mu);
        count_grant(counter, err != NULL);
        if (err)
            return oauth_error(r, 400, "invalid_grant", err, desc);
        return token_answer(r, owner, endpoint, want_ttl, want_rttl);
    }
    if (counter == &G.st.tok_refresh) {
        char rt[128];
        get_var(r->body, "refresh_token", rt, sizeof rt);
        const char *err = NULL, *desc = NULL;
        char owner[FC_ID] = "", ep[32] = "";
        pthread_mutex_lock(&G.mu);
        fc_token *k = rt[0] ? tok_find_locked(rt) : NULL;
        if (!k || k->kind != TOK_REFRESH) {
            err = "OAU-213";
            desc = "Token not found";
        } else if (k->revoked) {
            err = "OAU-211";
            desc = "Token revoked";
        } else if (k->expires_ms <= fc_mono_ms()) {
            err = "OAU-210";
            desc = "Token expired";
        } else {
            k->revoked = 1; /* rotates: each refresh token works once */
            fc_copy(owner, sizeof owner, k->owner);
            fc_copy(ep, sizeof ep, k->endpoint);
        }
        pthread_mutex_unlock(&G.mu);
        count_grant(counter, err != NULL);
        if (err)
            return oauth_error(r, 400, "invalid_grant", err, desc);
        return token_answer(r, owner, endpoint[0] ? endpoint : ep, want_ttl, want_rttl);
    }
    count_grant(counter, 1);
    return oauth_error(r, 400, "unauthorized_client", "OAU-251",
                       "Unauthorized for this grant type");
}

static int h_authorize(fc_req *r)
{
    if (!req_is(r, "GET"))
        return oauth_error(r, 405, "invalid_request", "CMN-202", "Operation is not supported");
    const char *q = r->ri->query_string;
    char type[32], client[256], redirect[2048], state[1024], enc[3 * 1024 + 1];
    get_var(q, "response_type", type, sizeof type);
    get_var(q, "client_id", client, sizeof client);
    get_var(q, "redirect_uri", redirect, sizeof redirect);
    if (get_var(q, "state", state, sizeof state) < 0)
        state[0] = 0;
    if (strcmp(client, G.client_id) != 0)
        return oauth_error(r, 400, "invalid_client", "OAU-153", "Invalid client");
    if (strcmp(type, "code") != 0)
        return oauth_error(r, 400, "unsupported_response_type", "OAU-101",
                           "Parameter [response_type] is invalid");
    if (!is_http_url(redirect))
        return oauth_error(r, 400, "invalid_request", "OAU-113",
                           "Parameter [redirect_uri] is invalid");
    char code[64];
    pthread_mutex_lock(&G.mu);
    fc_token *k = tok_new_locked(TOK_CODE, G.owner, FC_CODE_TTL_S);
    if (k) {
        k->redirect = strdup(redirect);
        fc_copy(code, sizeof code, k->tok);
    }
    pthread_mutex_unlock(&G.mu);
    if (!k || !k->redirect)
        return oauth_error(r, 503, "temporarily_unavailable", "CMN-201",
                           "Service Temporary Unavailable");
    char loc[4096];
    int n = snprintf(loc, sizeof loc, "%s%scode=%s", redirect, strchr(redirect, '?') ? "&" : "?",
                     code);
    if (state[0]) {
        mg_url_encode(state, enc, sizeof enc);
        n += snprintf(loc + n, sizeof loc - (size_t)n, "&state=%s", enc);
    }
    snprintf(loc + n, sizeof loc - (size_t)n, "&expires_in=%d", FC_CODE_TTL_S);
    req_header(r, "Location: %s", loc);
    return reply_raw(r, 302, "text/plain", "", 0);
}

static int h_revoke(fc_req *r)
{
    int st;
    if (!req_is(r, "POST"))
        return oauth_error(r, 405, "invalid_request", "CMN-202", "Operation is not supported");
    if ((st = req_rate(r, G_AUTH, G.client_id, 0)) != 0)
        return st;
    if (req_read_body(r) != 0)
        return oauth_error(r, 400, "invalid_request", "CMN-104", "Cannot parse request");
    if ((st = req_client_auth(r)) != 0)
        return st;
    char t[128];
    get_var(r->body, "token", t, sizeof t);
    pthread_mutex_lock(&G.mu);
    fc_token *k = t[0] ? tok_find_locked(t) : NULL;
    if (k && k->kind != TOK_CODE) {
        k->revoked = 1;
        fc_token *p = k->pair[0] ? tok_find_locked(k->pair) : NULL;
        if (p)
            p->revoked = 1;
    }
    pthread_mutex_unlock(&G.mu);
    return reply_raw(r, 200, "application/json", "", 0); /* RFC 7009: 200 regardless */
}

/* ------------------------------------------------------------ phone numbers */

static json_t *number_json(const fc_number *n, int with_features)
{
    char buf[256];
    json_t *o = json_object();
    snprintf(buf, sizeof buf, "%s/restapi/v1.0/account/%s/phone-number/%lld", G.base, G.account,
             n->id);
    jset_s(o, "uri", buf);
    jset_i(o, "id", n->id);
    jset_s(o, "phoneNumber", n->phone);
    jset_s(o, "paymentType", "Local");
    jset_s(o, "type", "VoiceFax");
    jset_s(o, "usageType", "DirectNumber");
    jset_s(o, "status", "Normal");
    if (with_features)
        json_object_set_new(o, "features", features_json(n->feat));
    json_t *country = json_object();
    jset_s(country, "id", "1");
    jset_s(country, "name", "United States");
    json_object_set_new(o, "country", country);
    const fc_ext *x = fc_ext_find(n->ext);
    json_t *e = json_object();
    jset_id(e, "id", n->ext);
    snprintf(buf, sizeof buf, "%s/restapi/v1.0/account/%s/extension/%s", G.base, G.account,
             n->ext);
    jset_s(e, "uri", buf);
    jset_s(e, "extensionNumber", x ? x->number : "");
    json_object_set_new(o, "extension", e);
    return o;
}

/* Account numbers (ext NULL, no features: transport/README.md section 2)
 * or one extension's (with features). */
static int h_numbers(fc_req *r, const char *ext)
{
    long long page, per;
    int st;
    if ((st = get_paging(r, &page, &per, 100)) != 0)
        return st;
    long long total = 0;
    for (size_t i = 0; i < G.nnums; i++)
        total += !ext || strcmp(G.nums[i].ext, ext) == 0;
    char path[256];
    if (ext)
        snprintf(path, sizeof path, "/restapi/v1.0/account/%s/extension/%s/phone-number",
                 G.account, ext);
    else
        snprintf(path, sizeof path, "/restapi/v1.0/account/%s/phone-number", G.account);
    long long skip = (page - 1) * per, seen = 0, shown = 0;
    json_t *recs = json_array();
    for (size_t i = 0; i < G.nnums && shown < per; i++) {
        if (ext && strcmp(G.nums[i].ext, ext) != 0)
            continue;
        if (seen++ < skip)
            continue;
        json_array_append_new(recs, number_json(&G.nums[i], ext != NULL));
        shown++;
    }
    json_t *o = page_json(path, page, per, total, shown);
    json_object_set_new(o, "records", recs);
    return reply_json(r, 200, o);
}

static int h_extension(fc_req *r, const char *ext)
{
    const fc_ext *x = fc_ext_find(ext);
    char buf[256];
    json_t *o = json_object();
    snprintf(buf, sizeof buf, "%s/restapi/v1.0/account/%s/extension/%s", G.base, G.account, ext);
    jset_s(o, "uri", buf);
    jset_id(o, "id", ext);
    jset_s(o, "extensionNumber", x ? x->number : "");
    snprintf(buf, sizeof buf, "Fake User %s", x ? x->number : ext);
    jset_s(o, "name", buf);
    jset_s(o, "type", "User");
    jset_s(o, "status", "Enabled");
    json_t *acc = json_object();
    jset_id(acc, "id", G.account);
    json_object_set_new(o, "account", acc);
    return reply_json(r, 200, o);
}

/* ------------------------------------------------------------ SMS */

/* The outcome forced by fail_next, else drawn from the rates. */
static fc_fail draw_fault(void)
{
    fc_fail f = FAIL_NONE;
    pthread_mutex_lock(&G.mu);
    if (G.fail_n > 0) {
        f = G.failq[G.fail_head];
        G.fail_head = (G.fail_head + 1) % FC_FAIL_QUEUE;
        G.fail_n--;
    } else {
        double u = fc_rand01(), acc = 0;
        if (u < (acc += G.k.rate_drop))
            f = FAIL_DROP;
        else if (u < (acc += G.k.rate_timeout))
            f = FAIL_TIMEOUT;
        else if (u < (acc += G.k.rate_429))
            f = FAIL_429;
        else if (u < (acc += G.k.rate_5xx))
            f = fc_rand01() < 0.5 ? FAIL_500 : FAIL_503;
    }
    pthread_mutex_unlock(&G.mu);
    return f;
}

static long long knob_retry_after(void)
{
    pthread_mutex_lock(&G.mu);
    long long s = G.k.retry_after_s;
    pthread_mutex_unlock(&G.mu);
    return s;
}

/* Answer a forced or random fault; 0 when there is none. The connection
 * faults (a drop; a timeout: held, then dropped) and the Retry-After of a
 * 429 or 503 are every provider's; answer(r, f) writes the provider's error
 * body for the others. */
static int fault_answer(fc_req *r, fc_fail f, int (*answer)(fc_req *r, fc_fail f))
{
    switch (f) {
    case FAIL_NONE:
        return 0;
    case FAIL_DROP:
        return req_drop(r);
    case FAIL_TIMEOUT: {
        pthread_mutex_lock(&G.mu);
        long long hold = G.k.timeout_hold_ms;
        G.st.timeouts++;
        pthread_mutex_unlock(&G.mu);
        fc_sleep_ms(hold);
        return req_drop(r);
    }
    case FAIL_429:
    case FAIL_503:
        req_header(r, "Retry-After: %lld", knob_retry_after());
        break;
    default:
        break;
    }
    return answer(r, f);
}

static int rc_fault_body(fc_req *r, fc_fail f)
{
    switch (f) {
    case FAIL_429:
        return rc_error(r, 429, "CMN-301", "Request rate exceeded", NULL, NULL);
    case FAIL_500:
        return rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
    case FAIL_503:
        return rc_error(r, 503, "CMN-201", "Service Temporary Unavailable", NULL, NULL);
    case FAIL_401:
        return rc_error_full(r, 401, "TokenInvalid", "Token not found", "OAU-213",
                             "Token not found", NULL, NULL);
    default:
        return 0;
    }
}

static int apply_fault(fc_req *r, fc_fail f)
{
    return fault_answer(r, f, rc_fault_body);
}

static void count_sms(long long *counter)
{
    pthread_mutex_lock(&G.mu);
    (*counter)++;
    pthread_mutex_unlock(&G.mu);
}

/* Validate a send body into m (to, from, text). 0, or the status of the
 * refusal answered. */
static int sms_validate(fc_req *r, json_t *body, const char *ext, fc_msg *m)
{
    if (!body)
        return rc_error(r, 400, "CMN-103", "JSON can't be parsed.", NULL, NULL);
    if (!json_is_object(body))
        return rc_error(r, 400, "CMN-104", "Cannot parse request", NULL, NULL);
    json_t *text = json_object_get(body, "text");
    if (!json_is_string(text) || json_string_length(text) == 0)
        return rc_bad_param(r, "text", NULL);
    if (fc_utf16_len(json_string_value(text)) > FC_MAX_TEXT)
        return rc_error(r, 400, "MSG-338", "Message size limit exceeded", "text", NULL);
    json_t *from = json_object_get(body, "from");
    const char *fromnum = json_string_value(json_object_get(from, "phoneNumber"));
    if (!fc_is_e164(fromnum))
        return rc_bad_param(r, "from.phoneNumber", fromnum);
    json_t *to = json_object_get(body, "to");
    if (!json_is_array(to) || json_array_size(to) == 0 || json_array_size(to) > FC_MAX_TO)
        return rc_bad_param(r, "to", NULL);
    size_t i;
    json_t *t;
    m->nto = 0;
    json_array_foreach(to, i, t)
    {
        const char *num = json_string_value(json_object_get(t, "phoneNumber"));
        if (!fc_is_e164(num))
            return rc_bad_param(r, "to.phoneNumber", num);
        for (int j = 0; j < m->nto; j++)
            if (strcmp(m->to[j], num) == 0) {
                char msg[128];
                snprintf(msg, sizeof msg, "Duplicate value for parameter to: %s found in request",
                         num);
                return rc_error(r, 400, "CMN-406", msg, "to", num);
            }
        fc_copy(m->to[m->nto++], FC_PHONE, num);
    }
    pthread_mutex_lock(&G.mu);
    const char *invalid = NULL;
    m->undeliverable = 0;
    for (int j = 0; j < m->nto; j++) {
        if (!invalid && fc_phones_has(&G.invalid_to, m->to[j]))
            invalid = m->to[j];
        if (fc_phones_has(&G.undeliverable, m->to[j]))
            m->undeliverable = 1;
    }
    pthread_mutex_unlock(&G.mu);
    if (invalid)
        return rc_bad_param(r, "to.phoneNumber", invalid);
    const fc_number *n = fc_number_find(fromnum);
    if (!n) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Parameter [from] value [%s] is invalid [Cannot find the phone number which "
                 "belongs to user]",
                 fromnum);
        return rc_error(r, 400, "MSG-245", msg, "from", fromnum);
    }
    if (strcmp(n->ext, ext) != 0)
        return rc_error(r, 403, "MSG-304", "Phone number doesn't belong to extension", "from",
                        fromnum);
    if (!(n->feat & FEAT_SMS))
        return rc_error(r, 403, "MSG-367", "\"from\" phone number does not support SMS", "from",
                        fromnum);
    fc_copy(m->from, sizeof m->from, fromnum);
    m->text = strdup(json_string_value(text));
    return m->text ? 0 : rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
}

static long long conversation_id(const char *a, const char *b)
{
    /* the same pair in either order is one conversation */
    uint64_t h = strcmp(a, b) < 0 ? fc_fnv1a(fc_fnv1a(0, a), b) : fc_fnv1a(fc_fnv1a(0, b), a);
    return (long long)(h & ((1ULL << 53) - 1)) + 1;
}

/* Store a new message (taken) and tell subscribers; answers it. */
static int store_and_answer(fc_req *r, fc_msg *m)
{
    int64_t now = fc_wall_ms();
    m->created = m->modified = now;
    m->segments = fc_segments(m->text);
    m->conv = conversation_id(m->from, m->to[0]);
    fc_msg snap;
    int64_t due = 0;
    pthread_mutex_lock(&G.mu);
    msg_store_locked(m);
    if (m->inbound)
        G.st.inbound++;
    else {
        G.st.sms_accepted++;
        due = fc_mono_ms() + latency_sample_locked();
    }
    int ok = msg_snapshot_locked(m, &snap) == 0;
    pthread_mutex_unlock(&G.mu);
    if (ok)
        notify_message(&snap, 1);
    if (due) {
        /* only now: the creation is notified before any status change */
        pthread_mutex_lock(&G.mu);
        timer_push_locked(due, snap.id);
        pthread_mutex_unlock(&G.mu);
    }
    if (!ok || !r) { /* r NULL: stored, no answer (timeout_after_create) */
        free(snap.text);
        return r ? rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL) : 0;
    }
    int st = reply_json(r, 200, msg_json(&snap));
    free(snap.text);
    return st;
}

static int h_sms(fc_req *r, const char *ext)
{
    int st;
    json_t *body = NULL;
    if (req_read_body(r) == 0)
        body = json_loadb(r->body, r->len, 0, NULL);

    /* how many requests like this one were seen: tells retries apart */
    int attempt = 1;
    if (json_is_object(body)) {
        uint64_t fp = fc_fnv1a(0, ext);
        fp = fc_fnv1a(fp, "|");
        const char *f = json_string_value(json_object_get(json_object_get(body, "from"), "phoneNumber"));
        fp = fc_fnv1a(fp, f ? f : "");
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(body, "to"), i, t)
        {
            const char *n = json_string_value(json_object_get(t, "phoneNumber"));
            fp = fc_fnv1a(fp, "|");
            fp = fc_fnv1a(fp, n ? n : "");
        }
        const char *tx = json_string_value(json_object_get(body, "text"));
        fp = fc_fnv1a(fp, "|");
        fp = fc_fnv1a(fp, tx ? tx : "");
        pthread_mutex_lock(&G.mu);
        attempt = fingerprint_count_locked(fp);
        pthread_mutex_unlock(&G.mu);
    }

    pthread_mutex_lock(&G.mu);
    int64_t delay = latency_sample_locked();
    pthread_mutex_unlock(&G.mu);
    if (fc_sleep_ms(delay) != 0) {
        json_decref(body);
        return rc_error(r, 503, "CMN-201", "Service Temporary Unavailable", NULL, NULL);
    }

    fc_fail fault = draw_fault();
    pthread_mutex_lock(&G.mu);
    int lost = fault == FAIL_TIMEOUT && G.k.timeout_after_create;
    pthread_mutex_unlock(&G.mu);
    if (!lost && (st = apply_fault(r, fault)) != 0) {
        json_decref(body);
        return st;
    }

    fc_msg *m = calloc(1, sizeof *m);
    if (!m) {
        json_decref(body);
        return rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
    }
    st = sms_validate(r, body, ext, m);
    json_decref(body);
    if (st != 0) {
        msg_free(m);
        count_sms(&G.st.sms_refused);
        return st;
    }
    fc_copy(m->ext, sizeof m->ext, ext);
    m->status = ST_QUEUED;
    m->attempt = attempt;
    if (lost) { /* the message is made, its answer is lost */
        store_and_answer(NULL, m);
        return apply_fault(r, FAIL_TIMEOUT);
    }
    return store_and_answer(r, m);
}

/* ------------------------------------------------------------ message store */

static int h_message(fc_req *r, const char *ext, const char *idstr)
{
    long long id = fc_parse_uint(idstr);
    fc_msg snap;
    int found = 0;
    pthread_mutex_lock(&G.mu);
    fc_msg *m = id >= 0 ? msg_find_locked(id) : NULL;
    if (m && strcmp(m->ext, ext) == 0)
        found = msg_snapshot_locked(m, &snap) == 0;
    pthread_mutex_unlock(&G.mu);
    if (!found)
        return rc_not_found(r, "messageId", idstr);
    int st = reply_json(r, 200, msg_json(&snap));
    free(snap.text);
    return st;
}

/* The extension's messages, newest first (messageType, direction,
 * dateFrom (default: 24 hours ago), dateTo, page, perPage). */
static int h_messages(fc_req *r, const char *ext)
{
    const char *q = r->ri->query_string;
    char type[32], dir[32], from[64], to[64], phone[64];
    long long page, per;
    int st;
    if ((st = get_paging(r, &page, &per, 100)) != 0)
        return st;
    get_var(q, "messageType", type, sizeof type);
    get_var(q, "direction", dir, sizeof dir);
    get_var(q, "dateFrom", from, sizeof from);
    get_var(q, "dateTo", to, sizeof to);
    get_var(q, "phoneNumber", phone, sizeof phone);
    if (dir[0] && strcmp(dir, "Inbound") != 0 && strcmp(dir, "Outbound") != 0)
        return rc_bad_param(r, "direction", dir);
    int64_t tfrom = from[0] ? fc_parse_iso(from) : fc_wall_ms() - 24LL * 3600 * 1000;
    int64_t tto = to[0] ? fc_parse_iso(to) : INT64_MAX;
    if (tfrom < 0)
        return rc_bad_param(r, "dateFrom", from);
    if (tto < 0)
        return rc_bad_param(r, "dateTo", to);
    int sms_only = !type[0] || strcmp(type, "SMS") == 0;
    long long skip = (page - 1) * per, total = 0, shown = 0;
    json_t *recs = json_array();
    pthread_mutex_lock(&G.mu);
    for (long long id = G.next_id - 1; sms_only && id >= G.first_id; id--) {
        fc_msg *m = msg_find_locked(id);
        if (!m || strcmp(m->ext, ext) != 0 || m->created < tfrom || m->created > tto)
            continue;
        if (dir[0] && strcmp(dir, m->inbound ? "Inbound" : "Outbound") != 0)
            continue;
        if (phone[0] && strcmp(m->from, phone) != 0 && strcmp(m->to[0], phone) != 0)
            continue;
        if (total++ >= skip && shown < per) {
            json_array_append_new(recs, msg_json(m));
            shown++;
        }
    }
    pthread_mutex_unlock(&G.mu);
    char path[256];
    snprintf(path, sizeof path, "/restapi/v1.0/account/%s/extension/%s/message-store", G.account,
             ext);
    json_t *o = page_json(path, page, per, total, shown);
    json_object_set_new(o, "records", recs);
    return reply_json(r, 200, o);
}

#include "fc/a2p.h"
#include "fc/twilio.h"

/* ------------------------------------------------------------ subscriptions */

/* Resolve one event filter for owner into out (malloc'd). 0, or the
 * status answered. */
static int resolve_filter(fc_req *r, const char *f, char **out)
{
    char path[512], query[256] = "";
    const char *qm = strchr(f, '?');
    size_t plen = qm ? (size_t)(qm - f) : strlen(f);
    if (plen >= sizeof path || (qm && strlen(qm + 1) >= sizeof query))
        goto invalid;
    memcpy(path, f, plen);
    path[plen] = 0;
    if (qm)
        fc_copy(query, sizeof query, qm + 1);

    if (strncmp(path, "/restapi/v1.0/subscription/~", 28) == 0 && path[28] == 0) {
        /* renewal reminders: accepted, never sent by this fake */
        *out = strdup(f);
        return *out ? 0 : rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
    }
    char *seg[12];
    int n = 0;
    char tmp[512];
    fc_copy(tmp, sizeof tmp, path);
    char *save = NULL;
    for (char *s = strtok_r(tmp, "/", &save); s && n < 12; s = strtok_r(NULL, "/", &save))
        seg[n++] = s;
    /* restapi v1.0 account A extension E message-store [instant] */
    if (n < 7 || n > 8 || strcmp(seg[0], "restapi") != 0 || strcmp(seg[1], "v1.0") != 0 ||
        strcmp(seg[2], "account") != 0 || strcmp(seg[4], "extension") != 0 ||
        strcmp(seg[6], "message-store") != 0 || (n == 8 && strcmp(seg[7], "instant") != 0))
        goto invalid;
    if (n == 8) {
        char t[16];
        if (get_var(query, "type", t, sizeof t) < 0 || strcmp(t, "SMS") != 0)
            goto invalid;
    }
    if (strcmp(seg[3], "~") != 0 && strcmp(seg[3], G.account) != 0)
        return rc_error(r, 403, "SUB-406", "Not allowed subscribe for events to extensions of "
                                           "other account", NULL, NULL);
    if (strcmp(seg[5], "~") != 0 && strcmp(seg[5], r->owner) != 0)
        return rc_error(r, 403, "SUB-405", "Not allowed subscribe for messages to other "
                                           "extensions", NULL, NULL);
    char buf[1024];
    snprintf(buf, sizeof buf, "/restapi/v1.0/account/%s/extension/%s/message-store%s%s%s",
             G.account, r->owner, n == 8 ? "/instant" : "", query[0] ? "?" : "", query);
    *out = strdup(buf);
    return *out ? 0 : rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
invalid:;
    char msg[700];
    snprintf(msg, sizeof msg, "Invalid event filters: [%.600s]", f);
    return rc_error(r, 400, "SUB-508", msg, "eventFilters", NULL);
}

/* eventFilters of a request into a new array. 0, or the status answered. */
static int resolve_filters(fc_req *r, json_t *arr, char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 64)
        return rc_bad_param(r, "eventFilters", NULL);
    char **v = calloc(json_array_size(arr), sizeof *v);
    if (!v)
        return rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
    size_t i;
    json_t *f;
    json_array_foreach(arr, i, f)
    {
        int st;
        if (!json_is_string(f))
            st = rc_bad_param(r, "eventFilters", NULL);
        else
            st = resolve_filter(r, json_string_value(f), &v[i]);
        if (st != 0) {
            for (size_t j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return st;
        }
    }
    *out = v;
    *nout = json_array_size(arr);
    return 0;
}

/* expiresIn of a request: absent -> def; bad -> -1; capped at the
 * WebHook maximum. */
static long long get_expires_in(json_t *body, long long def)
{
    json_t *e = json_object_get(body, "expiresIn");
    if (!e)
        return def;
    if (!json_is_integer(e) || json_integer_value(e) < 1)
        return -1;
    long long v = (long long)json_integer_value(e);
    return v > FC_WEBHOOK_MAX_TTL ? FC_WEBHOOK_MAX_TTL : v;
}

static void sub_set_ttl(fc_sub *s, long long ttl)
{
    s->ttl = ttl;
    s->expires = fc_mono_ms() + ttl * 1000;
    s->expires_w = fc_wall_ms() + ttl * 1000;
}

static int h_sub_create(fc_req *r)
{
    json_t *body = NULL;
    if (req_read_body(r) == 0)
        body = json_loadb(r->body, r->len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return rc_error(r, 400, "CMN-103", "JSON can't be parsed.", NULL, NULL);
    }
    int st = 0;
    fc_sub *s = calloc(1, sizeof *s);
    json_t *dm = json_object_get(body, "deliveryMode");
    const char *transport = json_string_value(json_object_get(dm, "transportType"));
    const char *address = json_string_value(json_object_get(dm, "address"));
    json_t *vt = json_object_get(dm, "verificationToken");
    long long ttl = get_expires_in(body, FC_WEBHOOK_DEFAULT_TTL);
    if (!s)
        st = rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
    else if ((st = resolve_filters(r, json_object_get(body, "eventFilters"), &s->filters,
                                   &s->nfilters)) != 0)
        ;
    else if (!transport || strcasecmp(transport, "WebHook") != 0)
        st = rc_bad_param(r, "deliveryMode.transportType", transport);
    else if (!is_http_url(address))
        st = rc_bad_param(r, "deliveryMode.address", address);
    else if (vt && (!json_is_string(vt) || json_string_length(vt) == 0 ||
                    json_string_length(vt) > 64 || strpbrk(json_string_value(vt), "\r\n")))
        st = rc_bad_param(r, "deliveryMode.verificationToken", NULL);
    else if (ttl < 0)
        st = rc_bad_param(r, "expiresIn", NULL);
    if (st == 0) {
        s->address = strdup(address);
        s->vtoken = vt ? strdup(json_string_value(vt)) : NULL;
        if (!s->address || (vt && !s->vtoken))
            st = rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
    }
    json_decref(body);
    if (st != 0) {
        sub_free(s);
        return st;
    }
    pthread_mutex_lock(&G.mu);
    subs_purge_expired_locked();
    int full = subs_count_owner_locked(r->owner) >= FC_MAX_SUBS_PER_EXT;
    pthread_mutex_unlock(&G.mu);
    if (full) {
        sub_free(s);
        return rc_error(r, 403, "SUB-505", "Subscriptions limit exceeded", NULL, NULL);
    }

    const char *code = NULL;
    char msg[256];
    if ((st = validate_webhook(s->address, &code, msg, sizeof msg)) != 0) {
        pthread_mutex_lock(&G.mu);
        G.st.validations_failed++;
        pthread_mutex_unlock(&G.mu);
        sub_free(s);
        return rc_error(r, st, code, msg, NULL, NULL);
    }

    fc_uuid(s->id);
    fc_copy(s->owner, sizeof s->owner, r->owner);
    s->created = fc_wall_ms();
    sub_set_ttl(s, ttl);
    json_t *o = NULL;
    pthread_mutex_lock(&G.mu);
    if (subs_count_owner_locked(r->owner) < FC_MAX_SUBS_PER_EXT) {
        if (G.nsubs == G.capsubs) {
            size_t nc = G.capsubs ? G.capsubs * 2 : 16;
            fc_sub **v = realloc(G.subs, sizeof *v * nc);
            if (v) {
                G.subs = v;
                G.capsubs = nc;
            }
        }
        if (G.nsubs < G.capsubs) {
            G.subs[G.nsubs++] = s;
            G.st.subs_created++;
            o = sub_json_locked(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&G.mu);
    if (s) {
        sub_free(s);
        return rc_error(r, 403, "SUB-505", "Subscriptions limit exceeded", NULL, NULL);
    }
    return reply_json(r, 200, o);
}

static int h_sub_list(fc_req *r)
{
    char uri[256];
    json_t *recs = json_array();
    pthread_mutex_lock(&G.mu);
    subs_purge_expired_locked();
    for (size_t i = 0; i < G.nsubs; i++)
        if (strcmp(G.subs[i]->owner, r->owner) == 0)
            json_array_append_new(recs, sub_json_locked(G.subs[i]));
    pthread_mutex_unlock(&G.mu);
    json_t *o = json_object();
    snprintf(uri, sizeof uri, "%s/restapi/v1.0/subscription", G.base);
    jset_s(o, "uri", uri);
    json_object_set_new(o, "records", recs);
    return reply_json(r, 200, o);
}

/* GET, PUT, DELETE /subscription/{id} and POST .../renew. */
static int h_sub_one(fc_req *r, const char *id, int renew)
{
    json_t *body = NULL;
    char **filters = NULL;
    size_t nfilters = 0;
    long long ttl = 0;
    int st;
    if (req_is(r, "PUT")) {
        if (req_read_body(r) != 0)
            return rc_error(r, 400, "CMN-104", "Cannot parse request", NULL, NULL);
        if (r->len > 0) {
            body = json_loadb(r->body, r->len, 0, NULL);
            if (!json_is_object(body)) {
                json_decref(body);
                return rc_error(r, 400, "CMN-103", "JSON can't be parsed.", NULL, NULL);
            }
        }
        ttl = get_expires_in(body, FC_WEBHOOK_DEFAULT_TTL);
        if (ttl < 0) {
            json_decref(body);
            return rc_bad_param(r, "expiresIn", NULL);
        }
        json_t *ef = json_object_get(body, "eventFilters");
        if (ef && (st = resolve_filters(r, ef, &filters, &nfilters)) != 0) {
            json_decref(body);
            return st;
        }
        json_decref(body);
    }
    json_t *o = NULL;
    int deleted = 0;
    pthread_mutex_lock(&G.mu);
    fc_sub *s = sub_find_locked(id);
    if (s && strcmp(s->owner, r->owner) == 0) {
        if (req_is(r, "DELETE")) {
            for (size_t i = 0; i < G.nsubs; i++)
                if (G.subs[i] == s) {
                    G.subs[i] = G.subs[--G.nsubs];
                    break;
                }
            sub_free(s);
            deleted = 1;
        } else {
            if (renew)
                sub_set_ttl(s, s->ttl);
            else if (req_is(r, "PUT")) {
                sub_set_ttl(s, ttl);
                if (filters) {
                    char **old = s->filters;
                    size_t nold = s->nfilters;
                    s->filters = filters;
                    s->nfilters = nfilters;
                    filters = old;
                    nfilters = nold;
                }
            }
            o = sub_json_locked(s);
        }
    }
    pthread_mutex_unlock(&G.mu);
    for (size_t i = 0; i < nfilters; i++)
        free(filters[i]);
    free(filters);
    if (deleted)
        return reply_raw(r, 204, "", "", 0);
    if (!o)
        return rc_not_found(r, "subscriptionId", id);
    return reply_json(r, 200, o);
}

/* ------------------------------------------------------------ routing /restapi/v1.0 */

/* The routes under /restapi/v1.0 (seg[0..1] are "restapi", "v1.0"). */
typedef enum {
    R_NONE,
    R_SUBS,      /* subscription */
    R_SUB,       /* subscription/{id} */
    R_SUB_RENEW, /* subscription/{id}/renew */
    R_ACC_NUMS,  /* account/{a}/phone-number */
    R_EXT,       /* account/{a}/extension/{e} */
    R_EXT_NUMS,  /* account/{a}/extension/{e}/phone-number */
    R_SMS,       /* account/{a}/extension/{e}/sms */
    R_MSGS,      /* account/{a}/extension/{e}/message-store */
    R_MSG,       /* account/{a}/extension/{e}/message-store/{id} */
} fc_route;

static fc_route classify_v1(char **s, int n)
{
    if (n >= 1 && strcmp(s[0], "subscription") == 0)
        return n == 1 ? R_SUBS : n == 2 ? R_SUB
               : n == 3 && strcmp(s[2], "renew") == 0 ? R_SUB_RENEW
                                                       : R_NONE;
    if (n < 3 || strcmp(s[0], "account") != 0)
        return R_NONE;
    if (n == 3)
        return strcmp(s[2], "phone-number") == 0 ? R_ACC_NUMS : R_NONE;
    if (strcmp(s[2], "extension") != 0)
        return R_NONE;
    if (n == 4)
        return R_EXT;
    if (n == 5 && strcmp(s[4], "phone-number") == 0)
        return R_EXT_NUMS;
    if (n == 5 && strcmp(s[4], "sms") == 0)
        return R_SMS;
    if (strcmp(s[4], "message-store") == 0)
        return n == 5 ? R_MSGS : n == 6 ? R_MSG : R_NONE;
    return R_NONE;
}

/* The method a route takes, and its RingCentral rate-limit group
 * (transport/README.md section 6). */
static int route_allows(fc_route rt, const char *m, int *group)
{
    int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), put = !strcmp(m, "PUT"),
        del = !strcmp(m, "DELETE");
    switch (rt) {
    case R_SUBS:
        *group = post ? G_MEDIUM : G_LIGHT;
        return get || post;
    case R_SUB:
        *group = get ? G_LIGHT : G_MEDIUM;
        return get || put || del;
    case R_SUB_RENEW:
        *group = G_LIGHT;
        return post;
    case R_ACC_NUMS:
        *group = G_HEAVY;
        return get;
    case R_SMS:
        *group = G_MEDIUM;
        return post;
    case R_EXT:
    case R_EXT_NUMS:
    case R_MSGS:
    case R_MSG:
        *group = G_LIGHT;
        return get;
    case R_NONE:
        break;
    }
    *group = G_NONE;
    return 0;
}

static int route_v1(fc_req *r)
{
    char **s = r->seg + 2;
    int n = r->nseg - 2, st, group;
    fc_route rt = classify_v1(s, n);
    int allowed = route_allows(rt, r->method, &group);
    if (rt == R_SMS)
        count_sms(&G.st.sms_requests);
    if ((st = req_auth(r)) != 0)
        return st;
    if (n >= 3 && strcmp(s[0], "account") == 0 && strcmp(s[2], "a2p-sms") == 0)
        return a2p_route(r, s, n);
    if (rt == R_NONE)
        return rc_error(r, 404, "CMN-120", "Invalid URI", NULL, NULL);
    /* limits are kept per (user, app, group): the token's extension */
    if ((st = req_rate(r, group, r->owner, rt == R_SMS && allowed)) != 0)
        return st;
    if (!allowed)
        return rc_error(r, 405, "CMN-202", "Operation is not supported", NULL, NULL);

    switch (rt) {
    case R_SUBS:
        return req_is(r, "POST") ? h_sub_create(r) : h_sub_list(r);
    case R_SUB:
        return h_sub_one(r, s[1], 0);
    case R_SUB_RENEW:
        return h_sub_one(r, s[1], 1);
    default:
        break;
    }
    char ext[FC_ID];
    if ((st = check_account(r, s[1])) != 0)
        return st;
    if (rt == R_ACC_NUMS)
        return h_numbers(r, NULL);
    /* sending and reading messages: the token's own extension only */
    int own = rt == R_SMS || rt == R_MSGS || rt == R_MSG;
    if ((st = resolve_ext(r, s[3], own, ext)) != 0)
        return st;
    switch (rt) {
    case R_EXT:
        return h_extension(r, ext);
    case R_EXT_NUMS:
        return h_numbers(r, ext);
    case R_SMS:
        return h_sms(r, ext);
    case R_MSGS:
        return h_messages(r, ext);
    case R_MSG:
        return h_message(r, ext, s[5]);
    default:
        return rc_error(r, 404, "CMN-120", "Invalid URI", NULL, NULL);
    }
}

/* ------------------------------------------------------------ control API */

static int parse_fail(const char *s, fc_fail *out)
{
    for (int f = FAIL_500; f <= FAIL_401; f++)
        if (strcmp(s, fc_fail_names[f]) == 0) {
            *out = (fc_fail)f;
            return 0;
        }
    return -1;
}

/* Parse "503,503,timeout" into v; count or -1 (err says why). */
static int parse_fail_list(const char *s, fc_fail *v, size_t cap, char *err, size_t errcap)
{
    char buf[8192];
    fc_copy(buf, sizeof buf, s);
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (n == cap) {
            snprintf(err, errcap, "fail_next: at most %zu outcomes", cap);
            return -1;
        }
        if (parse_fail(t, &v[n]) != 0) {
            snprintf(err, errcap,
                     "fail_next: unknown outcome '%s' (500, 503, 429, timeout, drop, 401)", t);
            return -1;
        }
        n++;
    }
    return (int)n;
}

static const struct fc_knob_def *knob_find(const char *name)
{
    for (size_t i = 0; i < FC_NKNOBS; i++)
        if (strcmp(fc_knob_defs[i].name, name) == 0)
            return &fc_knob_defs[i];
    return NULL;
}

/* Set a knob in k from text (flags). 0, or -1 with err. */
static int knob_set_str(fc_knobs *k, const struct fc_knob_def *d, const char *v, char *err,
                        size_t cap)
{
    char *p = (char *)k + d->off;
    if (d->type == K_BOOL) {
        if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"))
            *(int *)p = 1;
        else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no"))
            *(int *)p = 0;
        else
            goto bad;
        return 0;
    }
    char *end;
    errno = 0;
    if (d->type == K_INT) {
        long long x = strtoll(v, &end, 10);
        if (errno || *end || end == v || x < d->min || x > d->max)
            goto bad;
        *(long long *)p = x;
    } else {
        double x = strtod(v, &end);
        if (errno || *end || end == v || !(x >= 0.0 && x <= 1.0))
            goto bad;
        *(double *)p = x;
    }
    return 0;
bad:
    if (d->type == K_BOOL)
        snprintf(err, cap, "%s must be true or false", d->name);
    else if (d->type == K_PROB)
        snprintf(err, cap, "%s must be a probability from 0 to 1", d->name);
    else
        snprintf(err, cap, "%s must be an integer from %lld to %lld", d->name, d->min, d->max);
    return -1;
}

/* Set a knob from a JSON value (POST /_fake/config). */
static int knob_set_json(fc_knobs *k, const struct fc_knob_def *d, json_t *v, char *err,
                         size_t cap)
{
    char buf[64];
    if (d->type == K_BOOL && json_is_boolean(v))
        fc_copy(buf, sizeof buf, json_is_true(v) ? "true" : "false");
    else if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v) && d->type == K_PROB)
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    else if (json_is_real(v) && d->type == K_INT && json_real_value(v) == floor(json_real_value(v)))
        snprintf(buf, sizeof buf, "%.0f", json_real_value(v));
    else
        fc_copy(buf, sizeof buf, "?");
    return knob_set_str(k, d, buf, err, cap);
}

/* A JSON array of E.164 strings into l (replacing it). */
static int phones_from_json(json_t *a, fc_phones *l, const char *name, char *err, size_t cap)
{
    if (!json_is_array(a)) {
        snprintf(err, cap, "%s must be an array of E.164 numbers", name);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        if (!fc_is_e164(s)) {
            snprintf(err, cap, "%s: not an E.164 number: %s", name, s ? s : "(not a string)");
            return -1;
        }
        if (fc_phones_add(l, s) != 0) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int h_fake_config_set(fc_req *r)
{
    if (req_read_body(r) != 0)
        return fake_error(r, 400, "cannot read the body");
    json_t *body = json_loadb(r->body, r->len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return fake_error(r, 400, "the body must be a JSON object");
    }
    char err[256] = "";
    fc_phones und = { 0 }, inv = { 0 };
    int set_und = 0, set_inv = 0, set_fail = 0, nfail = 0;
    fc_fail fails[FC_FAIL_QUEUE];
    pthread_mutex_lock(&G.mu);
    fc_knobs k = G.k;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        const struct fc_knob_def *d = knob_find(key);
        if (d) {
            if (knob_set_json(&k, d, v, err, sizeof err) != 0)
                break;
        } else if (strcmp(key, "undeliverable") == 0) {
            set_und = 1;
            if (phones_from_json(v, &und, key, err, sizeof err) != 0)
                break;
        } else if (strcmp(key, "invalid_to") == 0) {
            set_inv = 1;
            if (phones_from_json(v, &inv, key, err, sizeof err) != 0)
                break;
        } else if (strcmp(key, "fail_next") == 0) {
            set_fail = 1;
            if (json_is_string(v)) {
                nfail = parse_fail_list(json_string_value(v), fails, FC_FAIL_QUEUE, err, sizeof err);
                if (nfail < 0)
                    break;
            } else if (json_is_array(v)) {
                size_t i;
                json_t *f;
                nfail = 0;
                json_array_foreach(v, i, f)
                {
                    const char *s = json_string_value(f);
                    char tmp[16];
                    if (!s && json_is_integer(f)) {
                        snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(f));
                        s = tmp;
                    }
                    if ((size_t)nfail == FC_FAIL_QUEUE || !s || parse_fail(s, &fails[nfail]) != 0) {
                        snprintf(err, sizeof err,
                                 "fail_next: unknown outcome (500, 503, 429, timeout, drop, 401)");
                        break;
                    }
                    nfail++;
                }
                if (err[0])
                    break;
            } else {
                snprintf(err, sizeof err, "fail_next must be an array of outcomes");
                break;
            }
        } else {
            snprintf(err, sizeof err, "unknown knob: %s", key);
            break;
        }
    }
    json_t *o = NULL;
    if (!err[0]) {
        G.k = k;
        if (set_und) {
            fc_phones_free(&G.undeliverable);
            G.undeliverable = und;
            und.v = NULL;
        }
        if (set_inv) {
            fc_phones_free(&G.invalid_to);
            G.invalid_to = inv;
            inv.v = NULL;
        }
        if (set_fail) {
            G.fail_head = 0;
            G.fail_n = (size_t)nfail;
            memcpy(G.failq, fails, sizeof fails[0] * (size_t)nfail);
        }
        o = knobs_json_locked();
    }
    pthread_mutex_unlock(&G.mu);
    fc_phones_free(&und);
    fc_phones_free(&inv);
    json_decref(body);
    if (err[0])
        return fake_error(r, 400, "%s", err);
    return reply_json(r, 200, o);
}

static int h_fake_messages(fc_req *r)
{
    const char *q = r->ri->query_string;
    char dir[16], buf[32];
    get_var(q, "direction", dir, sizeof dir);
    if (!dir[0])
        fc_copy(dir, sizeof dir, "Outbound");
    if (strcmp(dir, "Outbound") != 0 && strcmp(dir, "Inbound") != 0 && strcmp(dir, "all") != 0)
        return fake_error(r, 400, "direction must be Outbound, Inbound or all");
    long long after = 0, limit = LLONG_MAX;
    if (get_var(q, "after", buf, sizeof buf) >= 0 && buf[0] && (after = fc_parse_uint(buf)) < 0)
        return fake_error(r, 400, "after must be a message id");
    if (get_var(q, "limit", buf, sizeof buf) >= 0 && buf[0] && (limit = fc_parse_uint(buf)) < 0)
        return fake_error(r, 400, "limit must be a number");
    char prov[16];
    get_var(q, "provider", prov, sizeof prov);
    if (prov[0] && strcmp(prov, "ringcentral") != 0 && strcmp(prov, "twilio") != 0)
        return fake_error(r, 400, "provider must be ringcentral or twilio");
    json_t *a = json_array();
    pthread_mutex_lock(&G.mu);
    long long start = after >= G.first_id ? after + 1 : G.first_id;
    for (long long id = start; id < G.next_id && (long long)json_array_size(a) < limit &&
                               strcmp(prov, "twilio") != 0; id++) {
        fc_msg *m = msg_find_locked(id);
        if (!m)
            continue;
        if (strcmp(dir, "all") != 0 && strcmp(dir, m->inbound ? "Inbound" : "Outbound") != 0)
            continue;
        json_t *mj = msg_fake_json(m);
        jset_s(mj, "provider", "ringcentral");
        json_array_append_new(a, mj);
    }
    if (strcmp(prov, "ringcentral") != 0) /* Twilio's (bench/fc/twilio.h) */
        tw_fake_messages_locked(a, dir, limit);
    pthread_mutex_unlock(&G.mu);
    json_t *o = json_object();
    json_object_set_new(o, "messages", a);
    return reply_json(r, 200, o);
}

static int h_fake_stats(fc_req *r)
{
    json_t *o = json_object();
    pthread_mutex_lock(&G.mu);
    subs_purge_expired_locked();
    const fc_stats *s = &G.st;
    json_t *tr = json_object();
    jset_i(tr, "jwt", s->tok_jwt);
    jset_i(tr, "authorization_code", s->tok_code);
    jset_i(tr, "refresh_token", s->tok_refresh);
    jset_i(tr, "other", s->tok_other);
    json_object_set_new(o, "token_requests", tr);
    jset_i(o, "token_refused", s->tok_refused);
    jset_i(o, "sms_requests", s->sms_requests);
    jset_i(o, "sms_accepted", s->sms_accepted);
    jset_i(o, "sms_refused", s->sms_refused);
    json_t *resp = json_object();
    for (int c = 100; c < 600; c++)
        if (s->responses[c]) {
            char k[8];
            snprintf(k, sizeof k, "%d", c);
            jset_i(resp, k, s->responses[c]);
        }
    json_object_set_new(o, "responses", resp);
    jset_i(o, "dropped", s->dropped);
    jset_i(o, "timeouts", s->timeouts);
    jset_i(o, "inbound", s->inbound);
    jset_i(o, "messages_stored", G.next_id - G.first_id);
    jset_i(o, "messages_evicted", s->evicted);
    jset_i(o, "subscriptions", (long long)G.nsubs);
    jset_i(o, "subscriptions_created", s->subs_created);
    jset_i(o, "validations_failed", s->validations_failed);
    jset_i(o, "notifications_sent", s->notif_sent);
    jset_i(o, "notifications_failed", s->notif_failed);
    jset_i(o, "notifications_dropped", s->notif_dropped);
    jset_i(o, "timers_dropped", s->timers_dropped);
    jset_i(o, "tokens", (long long)G.ntok);
    json_object_set_new(o, "a2p", a2p_stats_locked());
    json_object_set_new(o, "twilio", tw_stats_locked());
    json_object_set_new(o, "knobs", knobs_json_locked());
    pthread_mutex_unlock(&G.mu);
    return reply_json(r, 200, o);
}

static int h_fake_subscriptions(fc_req *r)
{
    json_t *a = json_array();
    pthread_mutex_lock(&G.mu);
    subs_purge_expired_locked();
    for (size_t i = 0; i < G.nsubs; i++) {
        json_t *o = sub_json_locked(G.subs[i]);
        jset_s(o, "ownerId", G.subs[i]->owner);
        if (G.subs[i]->vtoken)
            jset_s(o, "verificationToken", G.subs[i]->vtoken);
        json_array_append_new(a, o);
    }
    pthread_mutex_unlock(&G.mu);
    json_t *o = json_object();
    json_object_set_new(o, "subscriptions", a);
    return reply_json(r, 200, o);
}

static int h_fake_inbound(fc_req *r)
{
    if (req_read_body(r) != 0)
        return fake_error(r, 400, "cannot read the body");
    json_t *body = json_loadb(r->body, r->len, 0, NULL);
    const char *from = json_string_value(json_object_get(body, "from"));
    const char *to = json_string_value(json_object_get(body, "to"));
    const char *text = json_string_value(json_object_get(body, "text"));
    const fc_number *n = to ? fc_number_find(to) : NULL;
    int st = 0;
    if (!json_is_object(body))
        st = fake_error(r, 400, "the body must be a JSON object {from, to, text}");
    else if (!fc_is_e164(from))
        st = fake_error(r, 400, "from must be an E.164 number");
    else if (!n)
        st = fake_error(r, 400, "to must be one of the account's numbers");
    else if (!(n->feat & FEAT_SMS))
        st = fake_error(r, 400, "to (%s) cannot receive SMS: no SmsSender feature", to);
    else if (!text || !*text || fc_utf16_len(text) > FC_MAX_TEXT)
        st = fake_error(r, 400, "text must be 1 to %d characters", FC_MAX_TEXT);
    if (st) {
        json_decref(body);
        return st;
    }
    fc_msg *m = calloc(1, sizeof *m);
    if (m)
        m->text = strdup(text);
    if (!m || !m->text) {
        msg_free(m);
        json_decref(body);
        return fake_error(r, 500, "out of memory");
    }
    fc_copy(m->ext, sizeof m->ext, n->ext);
    fc_copy(m->from, sizeof m->from, from);
    fc_copy(m->to[0], FC_PHONE, to);
    m->nto = 1;
    m->inbound = 1;
    m->status = ST_RECEIVED;
    json_decref(body);
    return store_and_answer(r, m);
}

/* POST /_fake/message-status {id, status}: a message's status becomes
 * status (Queued, Sent, Delivered, DeliveryFailed, SendingFailed), as if
 * the carrier said so, and message-store subscribers are told (a late or
 * contradictory report, for the receivers' tests). */
static int h_fake_message_status(fc_req *r)
{
    if (req_read_body(r) != 0)
        return fake_error(r, 400, "cannot read the body");
    json_t *body = json_loadb(r->body, r->len, 0, NULL);
    json_t *idv = json_object_get(body, "id");
    const char *name = json_string_value(json_object_get(body, "status"));
    long long id = json_is_integer(idv) ? (long long)json_integer_value(idv)
                   : json_is_string(idv) ? fc_parse_uint(json_string_value(idv))
                                         : -1;
    int st = -1;
    for (int i = ST_QUEUED; name && i < ST_RECEIVED; i++)
        if (strcmp(name, fc_status_names[i]) == 0)
            st = i;
    json_decref(body);
    if (id < 0 || st < 0)
        return fake_error(r, 400, "the body must be {id, status: Queued|Sent|Delivered|"
                                  "DeliveryFailed|SendingFailed}");
    fc_msg snap;
    int found = 0;
    pthread_mutex_lock(&G.mu);
    fc_msg *m = msg_find_locked(id);
    if (m && !m->inbound) {
        m->status = (fc_status)st;
        m->modified = fc_wall_ms();
        if (st == ST_DELIVERED && !m->delivered)
            m->delivered = m->modified;
        found = msg_snapshot_locked(m, &snap) == 0;
    }
    pthread_mutex_unlock(&G.mu);
    if (!found)
        return fake_error(r, 404, "no outbound message %lld", id);
    notify_message(&snap, 0);
    json_t *o = msg_fake_json(&snap);
    free(snap.text);
    return reply_json(r, 200, o);
}

static int h_fake(fc_req *r)
{
    if (r->nseg >= 2 && strcmp(r->seg[1], "twilio") == 0)
        return tw_fake(r);
    const char *what = r->nseg >= 2 ? r->seg[1] : "";
    if (r->nseg == 2 && strcmp(what, "messages") == 0 && req_is(r, "GET"))
        return h_fake_messages(r);
    if (r->nseg == 2 && strcmp(what, "stats") == 0 && req_is(r, "GET"))
        return h_fake_stats(r);
    if (r->nseg == 2 && strcmp(what, "subscriptions") == 0 && req_is(r, "GET"))
        return h_fake_subscriptions(r);
    if (r->nseg == 2 && strcmp(what, "config") == 0) {
        if (req_is(r, "POST"))
            return h_fake_config_set(r);
        if (req_is(r, "GET")) {
            pthread_mutex_lock(&G.mu);
            json_t *o = knobs_json_locked();
            pthread_mutex_unlock(&G.mu);
            return reply_json(r, 200, o);
        }
    }
    if (r->nseg == 2 && strcmp(what, "expire-tokens") == 0 && req_is(r, "POST")) {
        pthread_mutex_lock(&G.mu);
        G.expire_seq = G.tok_seq;
        pthread_mutex_unlock(&G.mu);
        json_t *o = json_object();
        json_object_set_new(o, "expired", json_true());
        return reply_json(r, 200, o);
    }
    if (r->nseg == 2 && strcmp(what, "inbound") == 0 && req_is(r, "POST"))
        return h_fake_inbound(r);
    if (r->nseg == 2 && strcmp(what, "message-status") == 0 && req_is(r, "POST"))
        return h_fake_message_status(r);
    if (r->nseg == 2 && strcmp(what, "reset") == 0 && req_is(r, "POST")) {
        pthread_mutex_lock(&G.mu);
        msg_clear_locked();
        G.nheap = 0;
        memset(&G.st, 0, sizeof G.st);
        G.fail_head = G.fail_n = 0;
        G.nwin = 0;
        memset(G.fps, 0, sizeof G.fps[0] * FC_FPS);
        a2p_reset_locked();
        tw_clear_locked();
        pthread_mutex_unlock(&G.mu);
        json_t *o = json_object();
        json_object_set_new(o, "reset", json_true());
        return reply_json(r, 200, o);
    }
    return fake_error(r, 404, "no such control endpoint: %s %s", r->method, r->ri->local_uri);
}

/* ------------------------------------------------------------ dispatch */

/* Set (release) once G.base is known, after civetweb has started: a
 * request checks it (acquire) first, so it sees G.base complete. */
static atomic_int fc_ready;

static int on_request(struct mg_connection *c)
{
    if (!atomic_load_explicit(&fc_ready, memory_order_acquire)) {
        mg_printf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        return 503;
    }
    fc_req *r = calloc(1, sizeof *r);
    if (!r) {
        mg_printf(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        return 500;
    }
    r->c = c;
    r->ri = mg_get_request_info(c);
    r->method = r->ri->request_method;
    fc_copy(r->path, sizeof r->path, r->ri->local_uri ? r->ri->local_uri : "/");
    char *save = NULL;
    for (char *s = strtok_r(r->path, "/", &save); s && r->nseg < 16; s = strtok_r(NULL, "/", &save))
        r->seg[r->nseg++] = s;

    int restapi = r->restapi = r->nseg >= 1 && strcmp(r->seg[0], "restapi") == 0;
    int st;
    if (restapi) {
        char rid[40];
        fc_uuid(rid);
        req_header(r, "RCRequestId: %s", rid);
    }
    if (restapi && r->nseg == 3 && strcmp(r->seg[1], "oauth") == 0) {
        if (strcmp(r->seg[2], "token") == 0)
            st = h_token(r);
        else if (strcmp(r->seg[2], "authorize") == 0)
            st = h_authorize(r);
        else if (strcmp(r->seg[2], "revoke") == 0)
            st = h_revoke(r);
        else
            st = rc_error(r, 404, "CMN-120", "Invalid URI", NULL, NULL);
    } else if (restapi && r->nseg >= 2 && strcmp(r->seg[1], "v1.0") == 0) {
        st = route_v1(r);
    } else if (r->nseg >= 1 && strcmp(r->seg[0], "2010-04-01") == 0) {
        st = tw_route(r); /* Twilio: bench/fc/twilio.h */
    } else if (r->nseg >= 1 && strcmp(r->seg[0], "_fake") == 0) {
        st = h_fake(r);
    } else {
        st = rc_error(r, 404, "CMN-120", "Invalid URI", NULL, NULL);
    }
    if (st <= 0) /* never let civetweb take over */
        st = reply_raw(r, 500, "application/json", "{}", 2);
    if (fc_verbose)
        fc_log("%s %s%s%s -> %d", r->method, r->ri->local_uri,
               r->ri->query_string ? "?" : "", r->ri->query_string ? r->ri->query_string : "",
               st);
    free(r->body);
    free(r);
    return st;
}

static int on_log(const struct mg_connection *c, const char *msg)
{
    (void)c;
    if (fc_verbose)
        fc_log("civetweb: %s", msg);
    return 1;
}

/* ------------------------------------------------------------ timer */

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&G.mu);
    while (!atomic_load(&fc_stopping)) {
        if (G.nheap == 0) {
            pthread_cond_wait(&G.timer_cv, &G.mu);
            continue;
        }
        int64_t now = fc_mono_ms();
        if (G.heap[0].due > now) {
            struct timespec ts = fc_abs_mono(G.heap[0].due);
            pthread_cond_timedwait(&G.timer_cv, &G.mu, &ts);
            continue;
        }
        fc_timer t = timer_pop_locked();
        fc_msg *m = msg_find_locked(t.id);
        if (!m)
            continue;
        if (m->status == ST_QUEUED) {
            m->status = ST_SENT;
            timer_push_locked(now + G.k.dlr_delay_ms, m->id);
        } else if (m->status == ST_SENT) {
            m->status = m->undeliverable ? ST_DELIVERY_FAILED : ST_DELIVERED;
        } else {
            continue;
        }
        m->modified = fc_wall_ms();
        if (m->status == ST_DELIVERED)
            m->delivered = m->modified;
        fc_msg snap;
        int ok = msg_snapshot_locked(m, &snap) == 0;
        pthread_mutex_unlock(&G.mu);
        if (ok)
            notify_message(&snap, 0);
        free(snap.text);
        pthread_mutex_lock(&G.mu);
    }
    pthread_mutex_unlock(&G.mu);
    return NULL;
}

/* ------------------------------------------------------------ options */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fakecarrier [--listen 127.0.0.1:0] [options]\n"
            "A fake of RingCentral's REST API (OAuth, phone numbers, SMS, message store,\n"
            "WebHook subscriptions, A2P batches) with fault injection and a control API\n"
            "under /_fake/.\n"
            "Prints 'fakecarrier listening on http://HOST:PORT' once bound; logs to stderr;\n"
            "SIGTERM/SIGINT stop it. Options take a value as --opt VALUE or --opt=VALUE.\n\n"
            "Server:\n"
            "  --listen HOST:PORT      address to bind (127.0.0.1:0 = any free port)\n"
            "  --threads N             civetweb worker threads (64)\n"
            "  --max-messages N        messages kept, oldest dropped (100000)\n"
            "  --max-tokens N          tokens and codes kept, oldest dropped (100000)\n"
            "  --notify-threads N      threads posting notifications (4)\n"
            "  --notify-queue N        notifications waiting, at most (10000)\n"
            "  --verbose               log every request to stderr\n"
            "  --help                  this text\n\n"
            "Identity:\n"
            "  --account-id ID         account id (100000001)\n"
            "  --client-id ID          app client id (fake-client-id)\n"
            "  --client-secret S       app client secret (fake-client-secret)\n"
            "  --jwt ASSERTION[:EXT]   accepted JWT assertion and its extension (repeatable;\n"
            "                          default fake-jwt; the first --jwt replaces it)\n"
            "  --jwt-owner EXT         extension of JWTs given without one, and of\n"
            "                          authorization codes (200000001)\n"
            "  --number NUM:EXT[:FEATURES]  a phone number, its extension and comma-separated\n"
            "                          features (CallerId, SmsSender, A2PSmsSender, MmsSender,\n"
            "                          InternationalSmsSender, Delegated); repeatable, the\n"
            "                          first replaces the defaults:\n"
            "                          +15551234567:200000001:SmsSender\n"
            "                          +15557654321:200000002:SmsSender,A2PSmsSender\n"
            "                          +15550000000:200000001:CallerId\n\n"
            "Faults and timing (also POST /_fake/config {\"name_with_underscores\": value}):\n");
    for (size_t i = 0; i < FC_NKNOBS; i++) {
        const struct fc_knob_def *d = &fc_knob_defs[i];
        char name[48], flag[64];
        fc_copy(name, sizeof name, d->name);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '-';
        snprintf(flag, sizeof flag, "--%s%s", name,
                 d->type == K_INT ? " N" : d->type == K_PROB ? " P" : "[=BOOL]");
        fprintf(f, "  %-24s%s\n", flag, d->help);
    }
    fprintf(f,
            "  --undeliverable NUM     accepted, then DeliveryFailed (repeatable)\n"
            "  --invalid-to NUM        refused at send: 400 CMN-101 (repeatable)\n"
            "  --fail-next LIST        forced outcomes, one per SMS send (or A2P batch) before the random\n"
            "                          rates: 500, 503, 429, timeout, drop, 401 (e.g. 503,503)\n\n"
            "%s"
            "Control API (no auth; keep it on loopback):\n"
            "  GET  /_fake/messages[?direction=Outbound|Inbound|all&after=ID&limit=N]\n"
            "  GET  /_fake/stats            counters and the knobs in force\n"
            "  GET  /_fake/config           the knobs; POST /_fake/config sets some\n"
            "  GET  /_fake/subscriptions    every live subscription\n"
            "  POST /_fake/expire-tokens    every access token issued so far expires now\n"
            "  POST /_fake/inbound          {from, to, text}: an inbound SMS to to's owner\n"
            "  POST /_fake/message-status   {id, status}: an outbound message's status changes\n"
            "  POST /_fake/reset            clears messages, counters and fail_next\n",
            tw_usage);
}

static int add_number(const char *spec, char *err, size_t cap)
{
    char buf[256];
    fc_copy(buf, sizeof buf, spec);
    char *ext = strchr(buf, ':');
    if (!ext) {
        snprintf(err, cap, "--number %s: expected NUMBER:EXTENSION[:FEATURES]", spec);
        return -1;
    }
    *ext++ = 0;
    char *feats = strchr(ext, ':');
    if (feats)
        *feats++ = 0;
    if (!fc_is_e164(buf) || !*ext || strlen(ext) >= FC_ID) {
        snprintf(err, cap, "--number %s: expected +E164:EXTENSION[:FEATURES]", spec);
        return -1;
    }
    if (fc_number_find(buf)) {
        snprintf(err, cap, "--number %s: listed twice", buf);
        return -1;
    }
    unsigned feat = 0;
    char *save = NULL;
    for (char *f = feats ? strtok_r(feats, ",", &save) : NULL; f; f = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof fc_feature_names / sizeof fc_feature_names[0]; i++)
            if (strcmp(f, fc_feature_names[i].name) == 0)
                break;
        if (i == sizeof fc_feature_names / sizeof fc_feature_names[0]) {
            snprintf(err, cap, "--number %s: unknown feature %s", spec, f);
            return -1;
        }
        feat |= fc_feature_names[i].bit;
    }
    fc_number *v = realloc(G.nums, sizeof *v * (G.nnums + 1));
    if (!v) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    G.nums = v;
    fc_number *n = &G.nums[G.nnums];
    memset(n, 0, sizeof *n);
    fc_copy(n->phone, sizeof n->phone, buf);
    fc_copy(n->ext, sizeof n->ext, ext);
    n->feat = feat;
    n->id = 300000001LL + (long long)G.nnums;
    G.nnums++;
    return 0;
}

static int add_jwt(const char *spec, char *err, size_t cap)
{
    const char *colon = strrchr(spec, ':');
    const char *ext = colon ? colon + 1 : G.owner;
    size_t alen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (alen == 0 || !*ext || strlen(ext) >= FC_ID) {
        snprintf(err, cap, "--jwt %s: expected ASSERTION[:EXTENSION]", spec);
        return -1;
    }
    fc_jwt *v = realloc(G.jwts, sizeof *v * (G.njwts + 1));
    if (!v) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    G.jwts = v;
    G.jwts[G.njwts].assertion = strndup(spec, alen);
    if (!G.jwts[G.njwts].assertion) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    fc_copy(G.jwts[G.njwts].ext, FC_ID, ext);
    G.njwts++;
    return 0;
}

static void add_ext(const char *id)
{
    if (fc_ext_find(id))
        return;
    fc_ext *v = realloc(G.exts, sizeof *v * (G.nexts + 1));
    if (!v)
        return;
    G.exts = v;
    fc_copy(G.exts[G.nexts].id, FC_ID, id);
    snprintf(G.exts[G.nexts].number, sizeof G.exts[G.nexts].number, "%zu", 101 + G.nexts);
    G.nexts++;
}

typedef struct fc_opts {
    const char *listen;
    long long threads, notify_threads, notify_queue;
} fc_opts;

static long long opt_num(const char *name, const char *v, long long lo, long long hi)
{
    long long x = fc_parse_uint(v);
    if (x < lo || x > hi) {
        fprintf(stderr, "fakecarrier: %s must be an integer from %lld to %lld\n", name, lo, hi);
        exit(2);
    }
    return x;
}

static void die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "fakecarrier: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see fakecarrier --help)\n");
    exit(2);
}

static void parse_args(int argc, char **argv, fc_opts *o)
{
    int numbers_given = 0, jwts_given = 0;
    char err[512];
    const char **jwt_specs = calloc((size_t)argc, sizeof *jwt_specs);
    size_t njwt_specs = 0;
    if (!jwt_specs)
        exit(1);
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *a = argv[i], *val = NULL;
        if (strncmp(a, "--", 2) != 0)
            die_usage("unexpected argument: %s", a);
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nlen >= sizeof name)
            die_usage("unknown option: %s", a);
        memcpy(name, a + 2, nlen);
        name[nlen] = 0;
        for (char *p = name; *p; p++)
            if (*p == '-')
                *p = '_';
        if (strcmp(name, "help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(name, "verbose") == 0) {
            fc_verbose = 1;
            continue;
        }
        const struct fc_knob_def *d = knob_find(name);
        if (d && d->type == K_BOOL && !eq) {
            *(int *)((char *)&G.k + d->off) = 1;
            continue;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            die_usage("%s needs a value", a);

        if (d) {
            if (knob_set_str(&G.k, d, val, err, sizeof err) != 0)
                die_usage("%s", err);
        } else if (!strcmp(name, "listen")) {
            o->listen = val;
        } else if (!strcmp(name, "threads")) {
            o->threads = opt_num("--threads", val, 1, 1024);
        } else if (!strcmp(name, "max_messages")) {
            G.max_messages = (size_t)opt_num("--max-messages", val, 1, 100000000);
        } else if (!strcmp(name, "max_tokens")) {
            G.max_tokens = (size_t)opt_num("--max-tokens", val, 16, 100000000);
        } else if (!strcmp(name, "notify_threads")) {
            o->notify_threads = opt_num("--notify-threads", val, 1, 256);
        } else if (!strcmp(name, "notify_queue")) {
            o->notify_queue = opt_num("--notify-queue", val, 1, 100000000);
        } else if (!strcmp(name, "account_id")) {
            if (!*val || strlen(val) >= FC_ID)
                die_usage("bad --account-id: %s", val);
            fc_copy(G.account, sizeof G.account, val);
        } else if (!strcmp(name, "client_id")) {
            fc_copy(G.client_id, sizeof G.client_id, val);
        } else if (!strcmp(name, "client_secret")) {
            fc_copy(G.client_secret, sizeof G.client_secret, val);
        } else if (!strcmp(name, "jwt_owner")) {
            if (!*val || strlen(val) >= FC_ID)
                die_usage("bad --jwt-owner: %s", val);
            fc_copy(G.owner, sizeof G.owner, val);
        } else if (!strcmp(name, "jwt")) {
            jwts_given = 1;
            jwt_specs[njwt_specs++] = val; /* after --jwt-owner is known */
        } else if (!strcmp(name, "number")) {
            if (!numbers_given) {
                G.nnums = 0;
                numbers_given = 1;
            }
            if (add_number(val, err, sizeof err) != 0)
                die_usage("%s", err);
        } else if (!strcmp(name, "undeliverable") || !strcmp(name, "invalid_to")) {
            if (!fc_is_e164(val))
                die_usage("not an E.164 number: %s", val);
            fc_phones_add(!strcmp(name, "undeliverable") ? &G.undeliverable : &G.invalid_to, val);
        } else if (!strcmp(name, "fail_next")) {
            int n = parse_fail_list(val, G.failq + G.fail_n, FC_FAIL_QUEUE - G.fail_n, err,
                                    sizeof err);
            if (n < 0)
                die_usage("%s", err);
            G.fail_n += (size_t)n;
        } else {
            int tw = tw_option(name, val, err, sizeof err); /* --tw-*: bench/fc/twilio.h */
            if (tw < 0)
                die_usage("%s", err);
            if (tw == 0)
                die_usage("unknown option: %s", a);
        }
    }
    if (!jwts_given)
        jwt_specs[njwt_specs++] = "fake-jwt";
    for (size_t i = 0; i < njwt_specs; i++)
        if (add_jwt(jwt_specs[i], err, sizeof err) != 0)
            die_usage("%s", err);
    free(jwt_specs);
    if (!numbers_given) {
        static const char *const defaults[] = { "+15551234567:200000001:SmsSender",
                                                "+15557654321:200000002:SmsSender,A2PSmsSender",
                                                "+15550000000:200000001:CallerId" };
        for (size_t i = 0; i < 3; i++)
            add_number(defaults[i], err, sizeof err);
    }
    add_ext(G.owner);
    for (size_t i = 0; i < G.nnums; i++)
        add_ext(G.nums[i].ext);
    for (size_t i = 0; i < G.njwts; i++)
        add_ext(G.jwts[i].ext);
}

/* ------------------------------------------------------------ main */

static atomic_int fc_mg_stopped;

static void *mg_stop_thread(void *ctx)
{
    mg_stop(ctx);
    atomic_store(&fc_mg_stopped, 1);
    return NULL;
}

/* civetweb's mg_stop waits for its accept loop, which polls the listening
 * socket with a 2-second timeout; a connection wakes it at once. */
static void poke_listener(const char *host, int port)
{
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    memset(&in4, 0, sizeof in4);
    memset(&in6, 0, sizeof in6);
    int fd = -1;
    if (inet_pton(AF_INET, host, &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        in4.sin_port = htons((uint16_t)port);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0)
            (void)!connect(fd, (struct sockaddr *)&in4, sizeof in4);
    } else if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons((uint16_t)port);
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        if (fd >= 0)
            (void)!connect(fd, (struct sockaddr *)&in6, sizeof in6);
    }
    if (fd >= 0)
        close(fd);
}

/* Stop civetweb: mg_stop in a thread while the listener is poked. */
static void stop_server(struct mg_context *ctx, const char *host, int port)
{
    pthread_t th;
    if (pthread_create(&th, NULL, mg_stop_thread, ctx) != 0) {
        mg_stop(ctx);
        return;
    }
    while (!atomic_load(&fc_mg_stopped)) {
        poke_listener(host, port);
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    pthread_join(th, NULL);
}

static void state_free(void)
{
    msg_clear_locked();
    free(G.ring);
    free(G.heap);
    while (G.tok_oldest)
        tok_evict_oldest_locked();
    free(G.tok_buckets);
    for (size_t i = 0; i < G.nsubs; i++)
        sub_free(G.subs[i]);
    free(G.subs);
    free(G.fps);
    fc_phones_free(&G.undeliverable);
    fc_phones_free(&G.invalid_to);
    for (size_t i = 0; i < G.njwts; i++)
        free(G.jwts[i].assertion);
    free(G.jwts);
    free(G.nums);
    free(G.exts);
    pthread_cond_destroy(&G.timer_cv);
    pthread_mutex_destroy(&G.mu);
}

int main(int argc, char **argv)
{
    fc_opts o = { "127.0.0.1:0", 64, 4, 10000 };
    pthread_mutex_init(&G.mu, NULL);
    fc_cond_init_mono(&G.timer_cv);
    fc_cond_init_mono(&fc_stop_cv);
    G.k = fc_knob_defaults;
    fc_copy(G.account, sizeof G.account, "100000001");
    fc_copy(G.client_id, sizeof G.client_id, "fake-client-id");
    fc_copy(G.client_secret, sizeof G.client_secret, "fake-client-secret");
    fc_copy(G.owner, sizeof G.owner, "200000001");
    G.max_messages = 100000;
    G.max_tokens = 100000;
    G.first_id = G.next_id = FC_MSG_ID_BASE;
    parse_args(argc, argv, &o);

    G.ring = calloc(G.max_messages, sizeof *G.ring);
    G.tok_buckets = calloc(FC_TOK_BUCKETS, sizeof *G.tok_buckets);
    G.fps = calloc(FC_FPS, sizeof *G.fps);
    if (!G.ring || !G.tok_buckets || !G.fps) {
        fprintf(stderr, "fakecarrier: out of memory\n");
        return 1;
    }

    /* signals go to sigwait below, never to a worker */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    mg_init_library(0);
    if (notify_start((int)o.notify_threads, (size_t)o.notify_queue) != 0) {
        fprintf(stderr, "fakecarrier: cannot start the notification threads\n");
        return 1;
    }
    pthread_t timer;
    if (pthread_create(&timer, NULL, timer_main, NULL) != 0) {
        fprintf(stderr, "fakecarrier: cannot start the timer thread\n");
        return 1;
    }
    if (tw_start() != 0) { /* Twilio's timer and callbacks: bench/fc/twilio.h */
        fprintf(stderr, "fakecarrier: cannot start the Twilio thread\n");
        return 1;
    }

    char threads[16];
    snprintf(threads, sizeof threads, "%lld", o.threads);
    const char *options[] = { "listening_ports",       o.listen, "num_threads",  threads,
                              "enable_keep_alive",     "yes",    "tcp_nodelay",  "1",
                              "keep_alive_timeout_ms", "60000",  NULL };
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.begin_request = on_request;
    cb.log_message = on_log;
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    int rc = 0, port = 0;
    char host[64] = "127.0.0.1";
    if (!ctx) {
        fprintf(stderr, "fakecarrier: cannot listen on %s\n", o.listen);
        rc = 1;
    } else {
        struct mg_server_port ports[4];
        int n = mg_get_server_ports(ctx, 4, ports);
        port = n > 0 ? ports[0].port : 0;
        const char *colon = strrchr(o.listen, ':');
        if (colon && colon != o.listen && (size_t)(colon - o.listen) < sizeof host) {
            const char *h0 = o.listen;
            size_t hl = (size_t)(colon - o.listen);
            if (hl >= 2 && h0[0] == '[' && h0[hl - 1] == ']') { /* [::1]:0 */
                h0++;
                hl -= 2;
            }
            memcpy(host, h0, hl);
            host[hl] = 0;
            if (strcmp(host, "0.0.0.0") == 0)
                fc_copy(host, sizeof host, "127.0.0.1");
        }
        int v6 = strchr(host, ':') != NULL;
        snprintf(G.base, sizeof G.base, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
                 port);
        atomic_store_explicit(&fc_ready, 1, memory_order_release);
        printf("fakecarrier listening on %s\n", G.base);
        fflush(stdout);
        fc_log("account %s, %zu numbers, %zu extensions, %zu JWTs, %lld threads", G.account,
               G.nnums, G.nexts, G.njwts, o.threads);
        int sig = 0;
        sigwait(&sigs, &sig);
        fc_log("signal %d: stopping", sig);
    }

    pthread_mutex_lock(&fc_stop_mu);
    atomic_store(&fc_stopping, 1);
    pthread_cond_broadcast(&fc_stop_cv);
    pthread_mutex_unlock(&fc_stop_mu);
    if (ctx)
        stop_server(ctx, host, port);
    pthread_mutex_lock(&G.mu);
    pthread_cond_broadcast(&G.timer_cv);
    pthread_mutex_unlock(&G.mu);
    pthread_join(timer, NULL);
    tw_stop();
    notify_stop();
    mg_exit_library();
    curl_global_cleanup();
    state_free();
    pthread_cond_destroy(&fc_stop_cv);
    return rc;
}
