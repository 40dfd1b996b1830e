/*
 * actors/rcwebhook.c — RingCentral webhooks (SPEC section 10): the inbound
 * webhook receiver, and the keeper of every tenant's subscription.
 *
 * Inputs:  a raw rep0 socket on SGW_RCWH_REQ_URL, dialed with req0 (one
 *          context per request) by POST /v1/webhooks/ringcentral
 *          (http/h_rcwebhook.c), which has already checked the
 *          notification's Verification-Token and shape:
 *            RESULT SGW_RCWH_INBOUND  an inbound SMS (an encoded INBOUND
 *                                     outcome): answered once it is stored;
 *            RESULT SGW_RCWH_SYNC     a message-store change of a tenant:
 *                                     answered once it is noted.
 *          Its pull input (inproc://sgw/rcwebhook): EVENT messages from the
 *          connection handlers (http/h_conn.c, http/h_rc.c):
 *            SGW_RCWH_CONNECTED       a tenant's connection was stored;
 *            SGW_RCWH_DISCONNECTED    it was replaced or removed; the body is
 *                                     the old connection, whose subscription
 *                                     is deleted with its own credentials.
 * Outputs: the store (inbound messages, subscription fields in the sealed
 *          part of the connection, the token index "rcwh/<sha256>" in the
 *          meta documents); RESULT to the status actor (PUBLISH of a stored
 *          inbound SMS: sms_inbound; OUTCOME reports: delivered / failed);
 *          RingCentral's REST API (transport/README.md section 7) through
 *          one libcurl multi handle driven from tick and fds.
 * Inbound: stored as a `received` message whose id is the one the status
 *          actor gives inbound SMS (msg_ + 12 hex of SHA-256 of tenant,
 *          provider, provider message id, k), so an SMS notified twice is
 *          stored once; the answer (and so RingCentral's 200) comes after
 *          the write; sms_inbound is published after it.
 * Delivery: RingCentral's message-store event carries counts, not ids
 *          (transport/README.md 7.5), so a tenant's event schedules a
 *          look-up of its newest outbound SMS in the message store (at most
 *          one per sync_interval_ms; events meanwhile are merged). Each
 *          Delivered / DeliveryFailed / SendingFailed record that names one
 *          of this tenant's messages (store: the provider-id index) still
 *          `sending` or `sent` becomes a REPORT outcome for the status
 *          actor, which never moves a message backwards nor changes a
 *          terminal one. Records that are none of ours are counted.
 * Subscriptions: per tenant with a RingCentral connection: created (a
 *          fresh random verification token, indexed and sealed before the
 *          call) when the connection has none (a replaced connection has
 *          none: its fields went with it), renewed
 *          (POST .../renew) when less than renew_before_s is left, created
 *          again when the renewal finds it gone (404), deleted when the
 *          connection is replaced or removed. A failed call waits retry_s,
 *          doubling up to retry_max_s. Calls of one tenant go one at a time.
 * Restart: everything lives in the store: on start (and every rescan_s)
 *          every RingCentral connection is read and what is due is done. A
 *          look-up lost in a crash is covered by the sender's status polls
 *          and the scheduler's delivery checks.
 * Threads: one (dedup of inbound SMS relies on it).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "actors/sms/phone.h"
#include "actors/sms/text.h"
#include "bus/log.h"
#include "bus/util.h"
#include "transport/curlpoll.h"
#include "transport/curlreq.h"
#include "transport/rc_parse.h"

#define PROVIDER "ringcentral"
#define RCW_TICK_MAX_MS 100
#define RCW_DEL_ATTEMPTS 5
#define RCW_RESP_MAX (8u << 20)

typedef enum { OP_CREATE = 1, OP_RENEW, OP_SYNC, OP_DELETE } rcw_op;
static const char *const op_names[] = { "", "create", "renew", "look-up", "delete" };

/* A connection's fields this actor uses (heap strings, wiped when freed). */
typedef struct rcw_acct {
    char *server, *client_id, *client_secret, *jwt, *refresh;
    char *vtoken;              /* webhookToken */
    char conn_at[40];          /* connectedAt: which connection (a new one when replaced) */
    char sub_id[64];
    int64_t sub_exp_ms;
} rcw_acct;

typedef struct rcw_tenant {
    char id[32];
    int present;               /* has a RingCentral connection */
    int64_t version;           /* the connection document's, as last read */
    char conn_at[40];          /* which connection (its connectedAt) */
    int sub_ok;                /* sub_id is this connection's live subscription */
    char sub_id[64];
    int64_t sub_exp_ms;        /* wall */
    char *token;               /* access token of the connection token_conn_at */
    int64_t token_exp_ms;
    char token_conn_at[40];
    int fails;                 /* failed calls in a row */
    int64_t retry_mono;        /* no call before this */
    int sync_pending;
    int64_t sync_last_mono;
    unsigned seen;             /* rescan generation */
    int reload;                /* the connection changed while a job ran */
    struct rcw_job *job;
} rcw_tenant;

/* A subscription to delete, with the credentials of its connection. */
typedef struct rcw_del {
    char tenant[32];
    char *account;             /* JSON with secrets: wiped when freed */
    char sub_id[64];
    int attempts;
    int64_t due_mono;
    struct rcw_job *job;
    struct rcw_del *next;
} rcw_del;

typedef struct rcw_job {
    rcw_op op;
    int step;                  /* 0: the token request, 1: the call */
    rcw_tenant *t;             /* NULL for OP_DELETE */
    rcw_del *del;
    char *account;             /* the JSON a was read from (wiped) */
    rcw_acct a;
    char *token;               /* OP_DELETE: its own access token */
    int auth_retried, reloaded;
    CURL *easy;
    struct curl_slist *hdrs;
    char *post;
    sgw_curlresp resp;
    char err[CURL_ERROR_SIZE];
} rcw_job;

typedef struct rcw_actor {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket rep, to_status;
    CURLM *multi;
    sgw_curlpoll cp;      /* curl's sockets and timer (monotonic ms) */
    int inflight, draining;
    /* config */
    int enabled;
    char address[2100];
    int64_t expires_in_s, renew_before_ms, retry_ms, retry_max_ms, rescan_ms, timeout_ms,
        connect_timeout_ms, sync_interval_ms, sync_lookback_ms, sync_per_page;
    rcw_tenant **tenants;
    int ntenants, tenants_cap;
    unsigned gen;
    int64_t rescan_mono;
    rcw_del *dels;
} rcw_actor;

static void count(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void wipe(char **p)
{
    if (*p) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

static char *dup_or_null(const char *s) { return s && s[0] ? strdup(s) : NULL; }

/* ---------------------------------------------------------------- accounts */

static void acct_clear(rcw_acct *a)
{
    free(a->server);
    free(a->client_id);
    wipe(&a->client_secret);
    wipe(&a->jwt);
    wipe(&a->refresh);
    wipe(&a->vtoken);
    memset(a, 0, sizeof *a);
}

static int acct_parse(rcw_acct *a, const char *account)
{
    memset(a, 0, sizeof *a);
    json_t *o = json_loads(account ? account : "", 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    a->server = dup_or_null(json_string_value(json_object_get(o, "serverUrl")));
    size_t n = a->server ? strlen(a->server) : 0;
    while (n > 0 && a->server[n - 1] == '/')
        a->server[--n] = '\0';
    a->client_id = dup_or_null(json_string_value(json_object_get(o, "clientId")));
    a->client_secret = dup_or_null(json_string_value(json_object_get(o, "clientSecret")));
    a->jwt = dup_or_null(json_string_value(json_object_get(o, "jwt")));
    a->refresh = dup_or_null(json_string_value(json_object_get(o, "refreshToken")));
    a->vtoken = dup_or_null(json_string_value(json_object_get(o, "webhookToken")));
    const char *at = json_string_value(json_object_get(o, "connectedAt"));
    snprintf(a->conn_at, sizeof a->conn_at, "%s", at ? at : "");
    snprintf(a->sub_id, sizeof a->sub_id, "%s",
             json_string_value(json_object_get(o, "subscriptionId"))
                 ? json_string_value(json_object_get(o, "subscriptionId"))
                 : "");
    a->sub_exp_ms = json_integer_value(json_object_get(o, "subscriptionExpiresAt"));
    json_decref(o);
    return a->server != NULL;
}

/* Merge fields into the tenant's sealed connection part (keeps its version). */
static sgw_err acct_patch(rcw_actor *self, const char *tenant, json_t *patch)
{
    char *text = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
    json_decref(patch);
    sgw_err rv = text ? sgw_store_conn_patch_secret(self->app->store, tenant, PROVIDER, text)
                      : SGW_ENOMEM;
    wipe(&text);
    return rv;
}

static void index_key(char out[80], const char *vtoken)
{
    char hex[65];
    sgw_sha256_hex(hex, vtoken, strlen(vtoken));
    snprintf(out, 80, "rcwh/%s", hex);
}

static void index_delete(rcw_actor *self, const char *vtoken)
{
    if (!vtoken || !vtoken[0])
        return;
    char key[80];
    index_key(key, vtoken);
    sgw_doc_op op = { SGW_DOC_META, key, NULL };
    sgw_store_docs_write(self->app->store, &op, 1);
}

/* ---------------------------------------------------------------- tenants */

static rcw_tenant *tenant_get(rcw_actor *self, const char *id, int create)
{
    for (int i = 0; i < self->ntenants; i++)
        if (strcmp(self->tenants[i]->id, id) == 0)
            return self->tenants[i];
    if (!create || !id[0] || strlen(id) >= 32)
        return NULL;
    if (self->ntenants == self->tenants_cap) {
        int cap = self->tenants_cap ? self->tenants_cap * 2 : 16;
        rcw_tenant **v = realloc(self->tenants, sizeof *v * (size_t)cap);
        if (!v)
            return NULL;
        self->tenants = v;
        self->tenants_cap = cap;
    }
    rcw_tenant *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->id, sizeof t->id, "%s", id);
    t->version = -1;
    self->tenants[self->ntenants++] = t;
    return t;
}

static void tenant_forget_token(rcw_tenant *t)
{
    wipe(&t->token);
    t->token_exp_ms = 0;
}

/* Read the tenant's connection: present, which one, its subscription. A
 * replaced connection (PUT again, the connect flow again) has no webhook
 * fields: it needs its own subscription. */
static void tenant_load(rcw_actor *self, rcw_tenant *t)
{
    char *account = NULL;
    int64_t version = 0;
    sgw_err rv = sgw_store_conn_account(self->app->store, t->id, PROVIDER, &account, &version);
    if (rv != SGW_OK) {
        if (rv != SGW_ENOENT)
            sgw_log(SGW_LOG_WARN, "rcwebhook", "%s: connection unreadable: %s", t->id,
                    sgw_strerror(rv));
        t->present = 0;
        t->sub_ok = 0;
        t->sub_id[0] = '\0';
        t->conn_at[0] = '\0';
        tenant_forget_token(t);
        return;
    }
    rcw_acct a;
    acct_parse(&a, account);
    if (strcmp(t->token_conn_at, a.conn_at) != 0)
        tenant_forget_token(t);
    t->present = 1;
    t->version = version;
    snprintf(t->conn_at, sizeof t->conn_at, "%s", a.conn_at);
    snprintf(t->sub_id, sizeof t->sub_id, "%s", a.sub_id);
    t->sub_exp_ms = a.sub_exp_ms;
    t->sub_ok = a.vtoken && a.sub_id[0] && a.sub_exp_ms > sgw_now_ms();
    acct_clear(&a);
    wipe(&account);
}

/* Is the tenant's stored connection still the one of conn_at (and, when
 * vtoken is not NULL, does it still hold that webhook token)? */
static int conn_current(rcw_actor *self, const char *tenant, const char *conn_at,
                        const char *vtoken)
{
    char *account = NULL;
    if (sgw_store_conn_account(self->app->store, tenant, PROVIDER, &account, NULL) != SGW_OK)
        return 0;
    rcw_acct a;
    acct_parse(&a, account);
    int same = strcmp(a.conn_at, conn_at) == 0 &&
               (!vtoken || (a.vtoken && strcmp(a.vtoken, vtoken) == 0));
    acct_clear(&a);
    wipe(&account);
    return same;
}

/* ---------------------------------------------------------------- deletes */

static void del_add(rcw_actor *self, const char *tenant, const char *account, const char *sub_id)
{
    if (!sub_id || !sub_id[0] || !account)
        return;
    for (rcw_del *d = self->dels; d; d = d->next)
        if (strcmp(d->sub_id, sub_id) == 0)
            return;
    rcw_del *d = calloc(1, sizeof *d);
    if (!d || !(d->account = strdup(account))) {
        free(d);
        return;
    }
    snprintf(d->tenant, sizeof d->tenant, "%s", tenant);
    snprintf(d->sub_id, sizeof d->sub_id, "%s", sub_id);
    d->next = self->dels;
    self->dels = d;
}

static void del_free(rcw_actor *self, rcw_del *d)
{
    for (rcw_del **p = &self->dels; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    wipe(&d->account);
    free(d);
}

/* ---------------------------------------------------------------- HTTP to RingCentral */

static void job_reset_http(rcw_job *j)
{
    sgw_curlreq_drop(&j->easy, &j->hdrs, &j->post, &j->resp);
    j->err[0] = '\0';
}

static void job_free(rcw_job *j)
{
    if (!j)
        return;
    job_reset_http(j);
    acct_clear(&j->a);
    wipe(&j->account);
    wipe(&j->token);
    free(j);
}

static long job_status(const rcw_job *j)
{
    long st = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &st);
    return st;
}

/* RingCentral's error text: {"message", "errors": [...]} for the REST
 * API, {"error_description"} for OAuth. */
static void job_error_text(const rcw_job *j, char *msg, size_t msgsz)
{
    json_t *o = j->resp.body ? json_loads(j->resp.body, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(o, "message"));
    const char *c = json_string_value(json_object_get(o, "errorCode"));
    json_t *first = json_array_get(json_object_get(o, "errors"), 0);
    if (!m)
        m = json_string_value(json_object_get(first, "message"));
    if (!c)
        c = json_string_value(json_object_get(first, "errorCode"));
    if (!m)
        m = json_string_value(json_object_get(o, "error_description"));
    if (!c)
        c = json_string_value(json_object_get(o, "error"));
    snprintf(msg, msgsz, "%s%s%s%s", m ? m : "no error message", c ? " (" : "", c ? c : "",
             c ? ")" : "");
    json_decref(o);
}

/* Start a request of j: method, url, an optional body (JSON, or a form
 * when form), a bearer token or Basic client credentials. */
static int job_request(rcw_actor *self, rcw_job *j, const char *method, const char *url,
                       const char *body, int form, const char *bearer)
{
    job_reset_http(j);
    CURL *e = j->easy = sgw_curlreq_new(url, self->timeout_ms, self->connect_timeout_ms,
                                        &j->resp, RCW_RESP_MAX, j);
    if (!e)
        return -1;
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->err);
    j->hdrs = curl_slist_append(j->hdrs, "Accept: application/json");
    j->hdrs = curl_slist_append(j->hdrs, "Expect:");
    if (strcmp(method, "GET") != 0) {
        j->post = strdup(body ? body : "");
        if (!j->post)
            return -1;
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->post);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(j->post));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (body)
            j->hdrs = curl_slist_append(j->hdrs, form ? "Content-Type: application/x-www-form-urlencoded"
                                                      : "Content-Type: application/json");
    }
    if (bearer) {
        size_t n = strlen(bearer) + 32;
        char *h = malloc(n);
        if (!h)
            return -1;
        snprintf(h, n, "Authorization: Bearer %s", bearer);
        j->hdrs = curl_slist_append(j->hdrs, h);
        memset(h, 0, n);
        free(h);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, j->a.client_id ? j->a.client_id : "");
        curl_easy_setopt(e, CURLOPT_PASSWORD, j->a.client_secret ? j->a.client_secret : "");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK)
        return -1;
    self->inflight++;
    return 0;
}

static char *form_value(CURL *e, const char *v)
{
    char *x = curl_easy_escape(e, v ? v : "", 0);
    char *r = x ? strdup(x) : NULL;
    if (x) {
        memset(x, 0, strlen(x));
        curl_free(x);
    }
    return r;
}

/* ---------------------------------------------------------------- jobs */

static void job_call(rcw_actor *self, rcw_job *j);
static void job_end(rcw_actor *self, rcw_job *j, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static const char *job_token(const rcw_job *j)
{
    return j->t ? j->t->token : j->token;
}

/* The token request: the JWT grant, or the refresh-token grant of an
 * OAuth connection (whose rotated refresh token is kept). */
static void job_token_request(rcw_actor *self, rcw_job *j)
{
    j->step = 0;
    char url[2200];
    snprintf(url, sizeof url, "%s/restapi/oauth/token", j->a.server);
    CURL *tmp = curl_easy_init();
    char *body = NULL;
    if (tmp) {
        int jwt = j->a.jwt != NULL;
        char *v = form_value(tmp, jwt ? j->a.jwt : j->a.refresh);
        size_t n = (v ? strlen(v) : 0) + 128;
        body = v ? malloc(n) : NULL;
        if (body)
            snprintf(body, n, "grant_type=%s&%s=%s",
                     jwt ? "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                         : "refresh_token",
                     jwt ? "assertion" : "refresh_token", v);
        wipe(&v);
        curl_easy_cleanup(tmp);
    }
    int rv = body && (j->a.jwt || j->a.refresh)
                 ? job_request(self, j, "POST", url, body, 1, NULL)
                 : -1;
    wipe(&body);
    if (rv != 0)
        job_end(self, j, 0, "%s", j->a.jwt || j->a.refresh ? "out of memory"
                                                            : "the connection has no credentials");
}

static void job_begin(rcw_actor *self, rcw_job *j)
{
    const char *tok = job_token(j);
    int fresh = j->t && tok && strcmp(j->t->token_conn_at, j->a.conn_at) == 0 &&
                j->t->token_exp_ms > sgw_now_ms() + 60000;
    if (fresh)
        job_call(self, j);
    else
        job_token_request(self, j);
}

/* A job for tenant t (NULL: a delete): reads the connection. */
static rcw_job *job_new(rcw_actor *self, rcw_op op, rcw_tenant *t, rcw_del *d)
{
    rcw_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->op = op;
    j->t = t;
    j->del = d;
    if (t) {
        if (sgw_store_conn_account(self->app->store, t->id, PROVIDER, &j->account, NULL) !=
            SGW_OK) {
            free(j);
            tenant_load(self, t);
            return NULL;
        }
    } else {
        j->account = strdup(d->account);
    }
    if (!j->account || !acct_parse(&j->a, j->account)) {
        job_free(j);
        return NULL;
    }
    if (t && strcmp(j->a.conn_at, t->conn_at) != 0) {
        /* replaced since: read it again, then decide */
        job_free(j);
        tenant_load(self, t);
        return NULL;
    }
    if (t)
        t->job = j;
    else
        d->job = j;
    return j;
}

static int64_t backoff_ms(rcw_actor *self, int fails)
{
    int64_t d = self->retry_ms;
    for (int i = 1; i < fails && d < self->retry_max_ms; i++)
        d *= 2;
    return d < self->retry_max_ms ? d : self->retry_max_ms;
}

static void job_end(rcw_actor *self, rcw_job *j, int ok, const char *fmt, ...)
{
    char why[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
    }
    rcw_tenant *t = j->t;
    if (t) {
        t->job = NULL;
        if (t->reload) {
            t->reload = 0;
            tenant_load(self, t);
        }
        if (ok) {
            t->fails = 0;
            t->retry_mono = 0;
        } else {
            t->fails++;
            int64_t wait = backoff_ms(self, t->fails);
            t->retry_mono = sgw_mono_ms() + wait;
            count(&self->app->rcwh.sub_errors, 1);
            sgw_log(SGW_LOG_WARN, "rcwebhook", "%s: RingCentral %s failed: %s (again in %lld s)",
                    t->id, op_names[j->op], why, (long long)(wait / 1000));
        }
    } else if (j->del) {
        rcw_del *d = j->del;
        d->job = NULL;
        if (ok) {
            del_free(self, d);
        } else if (++d->attempts >= RCW_DEL_ATTEMPTS) {
            count(&self->app->rcwh.sub_errors, 1);
            sgw_log(SGW_LOG_WARN, "rcwebhook", "%s: subscription %s not deleted (%s): given up; "
                    "it expires by itself", d->tenant, d->sub_id, why);
            del_free(self, d);
        } else {
            count(&self->app->rcwh.sub_errors, 1);
            d->due_mono = sgw_mono_ms() + backoff_ms(self, d->attempts);
            sgw_log(SGW_LOG_WARN, "rcwebhook", "%s: deleting subscription %s failed: %s",
                    d->tenant, d->sub_id, why);
        }
    }
    job_free(j);
}

/* The token answer. */
static void done_token(rcw_actor *self, rcw_job *j, CURLcode cr)
{
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (st == 200) {
        json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
        const char *tok = json_string_value(json_object_get(o, "access_token"));
        json_int_t ttl = json_integer_value(json_object_get(o, "expires_in"));
        const char *refresh = json_string_value(json_object_get(o, "refresh_token"));
        json_int_t rttl = json_integer_value(json_object_get(o, "refresh_token_expires_in"));
        if (!tok || ttl <= 0) {
            json_decref(o);
            job_end(self, j, 0, "token answer without access_token or expires_in");
            return;
        }
        int64_t now = sgw_now_ms();
        if (j->t) {
            tenant_forget_token(j->t);
            j->t->token = strdup(tok);
            j->t->token_exp_ms = sgw_rc_expiry_ms(now, (int64_t)ttl);
            snprintf(j->t->token_conn_at, sizeof j->t->token_conn_at, "%s", j->a.conn_at);
        } else {
            wipe(&j->token);
            j->token = strdup(tok);
        }
        if (!j->a.jwt && refresh && j->t) {
            /* an OAuth connection: RingCentral rotated its refresh token,
             * which the sender holds a copy of: keep the new one, and
             * change the connection's version so the sender reloads it */
            if (conn_current(self, j->t->id, j->a.conn_at, NULL)) {
                json_t *p = json_pack("{s:s, s:I}", "refreshToken", refresh,
                                      "refreshTokenExpiresAt",
                                      (json_int_t)(rttl > 0 ? sgw_rc_expiry_ms(now, (int64_t)rttl) : 0));
                char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
                json_decref(p);
                if (!text || sgw_store_conn_rotate_secret(self->app->store, j->t->id, PROVIDER,
                                                          text) != SGW_OK)
                    sgw_log(SGW_LOG_ERROR, "rcwebhook", "%s: could not keep the rotated refresh "
                            "token", j->t->id);
                wipe(&text);
            }
            wipe(&j->a.refresh);
            j->a.refresh = strdup(refresh);
        }
        json_decref(o);
        if (!job_token(j)) {
            job_end(self, j, 0, "out of memory");
            return;
        }
        job_call(self, j);
        return;
    }
    char msg[300];
    if (cr != CURLE_OK)
        snprintf(msg, sizeof msg, "%s", j->err[0] ? j->err : curl_easy_strerror(cr));
    else
        job_error_text(j, msg, sizeof msg);
    if (j->t && !j->a.jwt && !j->reloaded && (st == 400 || st == 401)) {
        /* the refresh token may have been rotated by a sender: read it again */
        j->reloaded = 1;
        char *account = NULL;
        if (sgw_store_conn_account(self->app->store, j->t->id, PROVIDER, &account, NULL) ==
            SGW_OK) {
            rcw_acct fresh;
            if (acct_parse(&fresh, account) && strcmp(fresh.conn_at, j->a.conn_at) == 0 &&
                fresh.refresh && j->a.refresh && strcmp(fresh.refresh, j->a.refresh) != 0) {
                wipe(&j->a.refresh);
                j->a.refresh = fresh.refresh;
                fresh.refresh = NULL;
                acct_clear(&fresh);
                wipe(&account);
                job_token_request(self, j);
                return;
            }
            acct_clear(&fresh);
        }
        wipe(&account);
    }
    job_end(self, j, 0, "no access token: HTTP %ld: %s", st, msg);
}

static int64_t sub_expiry(json_t *o, int64_t fallback_s)
{
    json_int_t in = json_integer_value(json_object_get(o, "expiresIn"));
    int64_t ms;
    if (in > 0)
        return sgw_rc_expiry_ms(sgw_now_ms(), (int64_t)in);
    const char *t = json_string_value(json_object_get(o, "expirationTime"));
    if (t && sgw_time_parse(t, &ms) == SGW_OK)
        return ms;
    return sgw_now_ms() + fallback_s * 1000;
}

/* The call a job is for, once it has a token. */
static void job_call(rcw_actor *self, rcw_job *j)
{
    j->step = 1;
    const char *tok = job_token(j);
    char url[2400];
    int rv = -1;
    rcw_tenant *t = j->t;
    switch (j->op) {
    case OP_CREATE: {
        /* the verification token: this connection's if one was made, else a
         * new one, indexed and sealed before RingCentral hears of it */
        if (!j->a.vtoken) {
            char vt[40], key[80];
            if (sgw_random_id(vt, sizeof vt, "", 32) != SGW_OK) {
                job_end(self, j, 0, "no randomness");
                return;
            }
            index_key(key, vt);
            char *doc = NULL;
            json_t *d = json_pack("{s:s}", "tenantId", t->id);
            doc = d ? json_dumps(d, JSON_COMPACT) : NULL;
            json_decref(d);
            sgw_doc_op op = { SGW_DOC_META, key, doc };
            sgw_err w = doc ? sgw_store_docs_write(self->app->store, &op, 1) : SGW_ENOMEM;
            free(doc);
            if (w == SGW_OK)
                w = acct_patch(self, t->id,
                               json_pack("{s:s, s:s, s:I}", "webhookToken", vt,
                                         "subscriptionId", "", "subscriptionExpiresAt",
                                         (json_int_t)0));
            if (w != SGW_OK) {
                memset(vt, 0, sizeof vt);
                job_end(self, j, 0, "could not store the verification token: %s",
                        sgw_strerror(w));
                return;
            }
            wipe(&j->a.vtoken);
            j->a.vtoken = strdup(vt);
            memset(vt, 0, sizeof vt);
        }
        json_t *req = json_pack(
            "{s:[s, s], s:{s:s, s:s, s:s}, s:I}", "eventFilters",
            "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS",
            "/restapi/v1.0/account/~/extension/~/message-store?type=SMS&direction=Outbound",
            "deliveryMode", "transportType", "WebHook", "address", self->address,
            "verificationToken", j->a.vtoken ? j->a.vtoken : "", "expiresIn",
            (json_int_t)self->expires_in_s);
        char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        snprintf(url, sizeof url, "%s/restapi/v1.0/subscription", j->a.server);
        rv = body && j->a.vtoken ? job_request(self, j, "POST", url, body, 0, tok) : -1;
        wipe(&body);
        break;
    }
    case OP_RENEW:
        snprintf(url, sizeof url, "%s/restapi/v1.0/subscription/%s/renew", j->a.server,
                 t->sub_id);
        rv = job_request(self, j, "POST", url, NULL, 0, tok);
        break;
    case OP_SYNC: {
        char from[32];
        sgw_time_format(from, sgw_now_ms() - self->sync_lookback_ms);
        snprintf(url, sizeof url,
                 "%s/restapi/v1.0/account/~/extension/~/message-store?messageType=SMS"
                 "&direction=Outbound&dateFrom=%s&perPage=%lld",
                 j->a.server, from, (long long)self->sync_per_page);
        rv = job_request(self, j, "GET", url, NULL, 0, tok);
        break;
    }
    case OP_DELETE:
        snprintf(url, sizeof url, "%s/restapi/v1.0/subscription/%s", j->a.server,
                 j->del->sub_id);
        rv = job_request(self, j, "DELETE", url, NULL, 0, tok);
        break;
    }
    if (rv != 0)
        job_end(self, j, 0, "could not start the request");
}

/* The subscription j made belongs to no current connection: delete it. */
static void orphan(rcw_actor *self, rcw_job *j, const char *sub_id)
{
    sgw_log(SGW_LOG_INFO, "rcwebhook", "%s: subscription %s outlived its connection: deleting it",
            j->t->id, sub_id);
    del_add(self, j->t->id, j->account, sub_id);
}

static void done_create(rcw_actor *self, rcw_job *j, long st)
{
    rcw_tenant *t = j->t;
    json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    if (st != 200 && st != 201) {
        json_decref(o);
        char msg[300];
        job_error_text(j, msg, sizeof msg);
        job_end(self, j, 0, "HTTP %ld: %s", st, msg);
        return;
    }
    if (!id || !id[0] || strlen(id) >= sizeof t->sub_id) {
        json_decref(o);
        job_end(self, j, 0, "subscription answer without an id");
        return;
    }
    int64_t exp = sub_expiry(o, self->expires_in_s);
    char sub_id[64];
    snprintf(sub_id, sizeof sub_id, "%s", id);
    json_decref(o);
    count(&self->app->rcwh.subs_created, 1);
    if (!conn_current(self, t->id, j->a.conn_at, j->a.vtoken)) {
        orphan(self, j, sub_id);
        tenant_load(self, t);
        job_end(self, j, 1, NULL);
        return;
    }
    sgw_err rv = acct_patch(self, t->id, json_pack("{s:s, s:I}", "subscriptionId", sub_id,
                                           "subscriptionExpiresAt", (json_int_t)exp));
    if (rv != SGW_OK) {
        orphan(self, j, sub_id);
        job_end(self, j, 0, "could not store subscription %s: %s", sub_id, sgw_strerror(rv));
        return;
    }
    snprintf(t->sub_id, sizeof t->sub_id, "%s", sub_id);
    t->sub_exp_ms = exp;
    t->sub_ok = 1;
    char when[32];
    sgw_time_format(when, exp);
    sgw_log(SGW_LOG_INFO, "rcwebhook", "%s: subscribed to RingCentral notifications (%s, until %s) "
            "at %s", t->id, sub_id, when, self->address);
    job_end(self, j, 1, NULL);
}

static void done_renew(rcw_actor *self, rcw_job *j, long st)
{
    rcw_tenant *t = j->t;
    if (st == 404) {
        /* gone at RingCentral (expired, deleted, blacklisted): make another */
        sgw_log(SGW_LOG_INFO, "rcwebhook", "%s: subscription %s is gone at RingCentral: "
                "subscribing again", t->id, t->sub_id);
        t->sub_ok = 0;
        t->sub_id[0] = '\0';
        acct_patch(self, t->id, json_pack("{s:s, s:I}", "subscriptionId", "",
                                          "subscriptionExpiresAt", (json_int_t)0));
        job_end(self, j, 1, NULL);
        return;
    }
    if (st != 200) {
        char msg[300];
        job_error_text(j, msg, sizeof msg);
        job_end(self, j, 0, "HTTP %ld: %s", st, msg);
        return;
    }
    json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
    int64_t exp = sub_expiry(o, self->expires_in_s);
    json_decref(o);
    if (!conn_current(self, t->id, j->a.conn_at, j->a.vtoken)) {
        tenant_load(self, t);
        job_end(self, j, 1, NULL);
        return;
    }
    sgw_err rv = acct_patch(self, t->id, json_pack("{s:I}", "subscriptionExpiresAt",
                                                   (json_int_t)exp));
    if (rv != SGW_OK) {
        job_end(self, j, 0, "could not store the renewal: %s", sgw_strerror(rv));
        return;
    }
    t->sub_exp_ms = exp;
    count(&self->app->rcwh.subs_renewed, 1);
    char when[32];
    sgw_time_format(when, exp);
    sgw_log(SGW_LOG_INFO, "rcwebhook", "%s: subscription %s renewed until %s", t->id, t->sub_id,
            when);
    job_end(self, j, 1, NULL);
}

/* A message-store page: delivery outcomes of this tenant's sent messages. */
static void done_sync(rcw_actor *self, rcw_job *j, long st)
{
    rcw_tenant *t = j->t;
    if (st != 200) {
        char msg[300];
        job_error_text(j, msg, sizeof msg);
        job_end(self, j, 0, "HTTP %ld: %s", st, msg);
        return;
    }
    count(&self->app->rcwh.syncs, 1);
    json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
    json_t *recs = json_object_get(o, "records");
    sgw_list l = { 0 };
    size_t i;
    json_t *r;
    int64_t now = sgw_now_ms();
    json_array_foreach(recs, i, r)
    {
        const char *ms = json_string_value(json_object_get(r, "messageStatus"));
        int delivered = ms && strcmp(ms, "Delivered") == 0;
        int failed = ms && (strcmp(ms, "DeliveryFailed") == 0 || strcmp(ms, "SendingFailed") == 0);
        if (!delivered && !failed)
            continue;
        json_t *idv = json_object_get(r, "id");
        char pmid[64] = "", id[24];
        if (json_is_string(idv) && json_string_length(idv) < sizeof pmid)
            snprintf(pmid, sizeof pmid, "%s", json_string_value(idv));
        else if (json_is_integer(idv))
            snprintf(pmid, sizeof pmid, "%lld", (long long)json_integer_value(idv));
        if (!pmid[0])
            continue;
        if (sgw_store_provid_get(self->app->store, PROVIDER, pmid, id) != SGW_OK) {
            count(&self->app->rcwh.unknown, 1);
            continue;
        }
        sgw_sms m;
        if (sgw_store_sms_get(self->app->store, id, &m) != SGW_OK)
            continue;
        int mine = strcmp(m.tenant, t->id) == 0;
        int open = m.status == SGW_ST_SENT || m.status == SGW_ST_SENDING;
        sgw_sms_clear(&m);
        if (!mine) {
            count(&self->app->rcwh.unknown, 1);
            continue;
        }
        if (!open)
            continue; /* already final: a repeated report changes nothing */
        sgw_tr_outcome oc = { .kind = SGW_TR_REPORT, .result = delivered ? SGW_SEND_OK
                                                                          : SGW_SEND_PERMANENT,
                              .started_ms = now, .finished_ms = now, .attempt = 1 };
        snprintf(oc.id, sizeof oc.id, "%s", id);
        snprintf(oc.provider_msg_id, sizeof oc.provider_msg_id, "%s", pmid);
        if (failed) {
            const char *ec = json_string_value(json_object_get(r, "deliveryErrorCode"));
            snprintf(oc.error_code, sizeof oc.error_code, "undelivered");
            snprintf(oc.error_message, sizeof oc.error_message, "RingCentral reports %s%s%s", ms,
                     ec ? ": " : "", ec ? ec : "");
        }
        void *buf;
        size_t len;
        if (sgw_outcome_encode(&oc, PROVIDER, &buf, &len) == SGW_OK) {
            sgw_list_add(&l, buf, len);
            free(buf);
        }
    }
    json_decref(o);
    int n = l.n;
    if (n && sgw_list_send(self->env, self->to_status, SGW_MSG_RESULT, SGW_RES_OUTCOME, &l,
                           1000) != SGW_OK)
        sgw_log(SGW_LOG_WARN, "rcwebhook", "%s: %d delivery reports not handed on (the status "
                "polls and checks still find them)", t->id, n);
    else
        count(&self->app->rcwh.reports, (uint64_t)n);
    sgw_list_free(&l);
    job_end(self, j, 1, NULL);
}

static void done_delete(rcw_actor *self, rcw_job *j, long st)
{
    if (st == 200 || st == 204 || st == 404) {
        if (st != 404)
            count(&self->app->rcwh.subs_deleted, 1);
        sgw_log(SGW_LOG_INFO, "rcwebhook", "%s: subscription %s deleted%s", j->del->tenant,
                j->del->sub_id, st == 404 ? " (it was gone)" : "");
        job_end(self, j, 1, NULL);
        return;
    }
    char msg[300];
    job_error_text(j, msg, sizeof msg);
    job_end(self, j, 0, "HTTP %ld: %s", st, msg);
}

static void job_done(rcw_actor *self, rcw_job *j, CURLcode cr)
{
    if (j->step == 0) {
        done_token(self, j, cr);
        return;
    }
    if (cr != CURLE_OK) {
        job_end(self, j, 0, "%s", j->err[0] ? j->err : curl_easy_strerror(cr));
        return;
    }
    long st = job_status(j);
    if (st == 401 && !j->auth_retried) { /* the token died: another, then again */
        j->auth_retried = 1;
        if (j->t)
            tenant_forget_token(j->t);
        job_token_request(self, j);
        return;
    }
    switch (j->op) {
    case OP_CREATE: done_create(self, j, st); break;
    case OP_RENEW: done_renew(self, j, st); break;
    case OP_SYNC: done_sync(self, j, st); break;
    case OP_DELETE: done_delete(self, j, st); break;
    }
}

/* ---------------------------------------------------------------- curl glue */

/* A request of job is over (sgw_curlreq_drive). */
static void rcw_done(void *st, void *job, CURLcode cr)
{
    rcw_actor *self = st;
    self->inflight--;
    job_done(self, job, cr);
}

static void rcw_drive(rcw_actor *self) { sgw_curlreq_drive(&self->cp, self->multi, rcw_done, self); }

/* ---------------------------------------------------------------- inbound SMS */

/* The webhook actors' request socket and inbound SMS: the same for
 * RingCentral's (here) and Twilio's (actors/twwebhook.c); see actors.h. */

void sgw_rep_reply(nng_socket rep, const sgw_msg *req, int code, const char *json)
{
    sgw_msg r;
    sgw_msg_init(&r, SGW_MSG_REPLY, req->id);
    r.code = code;
    r.body = json;
    r.body_len = strlen(json);
    sgw_bus_send_routed(rep, &r, req->route, req->route_len);
}

sgw_err sgw_rep_listen(const sgw_actor_env *env, nng_socket *rep, const char *url,
                       const char *who)
{
    int rv;
    if ((rv = nng_rep0_open_raw(rep)) != 0 || (rv = nng_listen(*rep, url, NULL, 0)) != 0) {
        sgw_log(SGW_LOG_ERROR, who, "rep0 %s: %s", url, nng_strerror(rv));
        return SGW_EIO;
    }
    nng_socket_set_int(*rep, NNG_OPT_RECVBUF, 1024);
    nng_socket_set_int(*rep, NNG_OPT_SENDBUF, 1024);
    if (sgw_actor_add_input(env, *rep, 1) < 0)
        return SGW_EIO;
    return SGW_OK;
}

static void bump(atomic_uint_fast64_t *c)
{
    if (c)
        count(c, 1);
}

void sgw_inbound_take(const sgw_inbound_to *to, const sgw_msg *m)
{
    static const char unavailable[] = "{\"error\":\"Store unavailable\",\"code\":\"unavailable\"}";
    const sgw_app *app = to->env->app;
    sgw_store *store = app->store;
    sgw_tr_outcome o;
    char provider[24];
    if (sgw_outcome_decode(m->body, m->body_len, &o, provider) != SGW_OK ||
        o.kind != SGW_TR_INBOUND || !o.tenant[0] || !o.provider_msg_id[0] || !o.from[0] ||
        !o.to[0]) {
        free(o.body);
        sgw_rep_reply(to->rep, m, 400,
                      "{\"error\":\"Malformed inbound SMS\",\"code\":\"validation_error\"}");
        return;
    }
    sgw_sms rec = { 0 };
    snprintf(rec.tenant, sizeof rec.tenant, "%s", o.tenant);
    int dup;
    sgw_err rv = sgw_inbound_id(store, rec.tenant, to->provider, o.provider_msg_id, rec.id, &dup);
    char ans[160];
    if (rv != SGW_OK) {
        free(o.body);
        sgw_log(SGW_LOG_ERROR, to->who, "%s: inbound SMS %s not stored: %s", rec.tenant,
                o.provider_msg_id, sgw_strerror(rv));
        sgw_rep_reply(to->rep, m, 503, unavailable);
        return;
    }
    if (dup) {
        free(o.body);
        bump(to->duplicates);
        sgw_log(SGW_LOG_INFO, to->who, "%s: inbound SMS %s heard again: already stored as %s",
                rec.tenant, o.provider_msg_id, rec.id);
        snprintf(ans, sizeof ans, "{\"messageId\":\"%s\",\"duplicate\":true}", rec.id);
        sgw_rep_reply(to->rep, m, 200, ans);
        return;
    }
    int64_t now = sgw_now_ms();
    const char *body = o.body ? o.body : "";
    sgw_text_info ti;
    if (sgw_text_analyze(body, strlen(body), &ti) == SGW_OK) {
        rec.encoding = ti.encoding;
        rec.segments = ti.segments;
    }
    rec.direction = SGW_DIR_INBOUND;
    snprintf(rec.from, sizeof rec.from, "%s", o.from);
    snprintf(rec.to, sizeof rec.to, "%s", o.to);
    const char *cc = sgw_phone_country(o.from);
    snprintf(rec.country, sizeof rec.country, "%s", cc ? cc : "");
    snprintf(rec.provider, sizeof rec.provider, "%s", to->provider);
    snprintf(rec.provider_msg_id, sizeof rec.provider_msg_id, "%s", o.provider_msg_id);
    rec.created_ms = now;
    rec.due_kind = SGW_DUE_NONE;
    sgw_sms *one = &rec;
    if (sgw_sms_set_str(&rec.body, body) != SGW_OK ||
        sgw_sms_set_status(&rec, SGW_ST_RECEIVED, now) != SGW_OK ||
        sgw_store_sms_insert(store, &one, 1) != SGW_OK) {
        free(o.body);
        sgw_sms_clear(&rec);
        sgw_log(SGW_LOG_ERROR, to->who, "%s: inbound SMS %s not stored", o.tenant,
                o.provider_msg_id);
        sgw_rep_reply(to->rep, m, 503, unavailable);
        return;
    }
    free(o.body);
    bump(to->stored);
    snprintf(ans, sizeof ans, "{\"messageId\":\"%s\",\"duplicate\":false}", rec.id);
    sgw_rep_reply(to->rep, m, 200, ans);
    /* stored: the status actor publishes it (sms_inbound) */
    sgw_list l = { 0 };
    void *buf;
    size_t len;
    if (sgw_sms_encode(&rec, &buf, &len) == SGW_OK) {
        sgw_list_add(&l, buf, len);
        free(buf);
    }
    if (sgw_list_send(to->env, to->to_status, SGW_MSG_RESULT, SGW_RES_PUBLISH, &l, 1000) !=
        SGW_OK)
        sgw_log(SGW_LOG_WARN, to->who, "%s: inbound %s stored, its event not published",
                rec.tenant, rec.id);
    sgw_list_free(&l);
    sgw_sms_clear(&rec);
}

static void rcw_reply(rcw_actor *self, const sgw_msg *req, int code, const char *json)
{
    sgw_rep_reply(self->rep, req, code, json);
}

static void rcw_inbound(rcw_actor *self, const sgw_msg *m)
{
    sgw_inbound_to to = { .env = self->env, .rep = self->rep, .to_status = self->to_status,
                          .provider = PROVIDER, .who = "rcwebhook",
                          .stored = &self->app->rcwh.inbound,
                          .duplicates = &self->app->rcwh.duplicates };
    sgw_inbound_take(&to, m);
}

/* ---------------------------------------------------------------- ops */

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* The tenants with a RingCentral connection (a rescan). */
static int rcw_scan_cb(void *ctx, const char *id, const char *json, size_t len)
{
    rcw_actor *self = ctx;
    size_t n = strlen(id);
    if (!ends_with(id, n, "/" PROVIDER) || n - strlen("/" PROVIDER) >= 32)
        return 1;
    char tenant[32];
    memcpy(tenant, id, n - strlen("/" PROVIDER));
    tenant[n - strlen("/" PROVIDER)] = '\0';
    json_t *doc = json_loadb(json, len, 0, NULL);
    int64_t version = json_integer_value(json_object_get(doc, "version"));
    json_decref(doc);
    rcw_tenant *t = tenant_get(self, tenant, 1);
    if (!t)
        return 1;
    t->seen = self->gen;
    if (!t->job && (!t->present || t->version != version))
        tenant_load(self, t);
    return 1;
}

static void rcw_rescan(rcw_actor *self)
{
    self->gen++;
    sgw_store_doc_scan(self->app->store, SGW_DOC_CONN, rcw_scan_cb, self);
    for (int i = 0; i < self->ntenants; i++) {
        rcw_tenant *t = self->tenants[i];
        if (t->present && t->seen != self->gen && !t->job)
            tenant_load(self, t); /* gone, most likely */
    }
}

static sgw_err rcw_init(void *st, const sgw_actor_env *env)
{
    rcw_actor *self = st;
    self->env = env;
    self->app = env->app;
    if (env->thread_index != 0) {
        sgw_log(SGW_LOG_ERROR, "rcwebhook", "actors.rcwebhook.threads must be 1");
        return SGW_ECONFIG;
    }
    const sgw_cfg *cfg = env->cfg;
    self->enabled = sgw_cfg_bool(cfg, "rc_webhook.enabled");
    const char *pub = sgw_cfg_str(cfg, "rc_webhook.public_url");
    if (pub[0]) {
        size_t n = strlen(pub);
        while (n > 0 && pub[n - 1] == '/')
            n--;
        snprintf(self->address, sizeof self->address, "%.*s/v1/webhooks/ringcentral", (int)n, pub);
    } else {
        snprintf(self->address, sizeof self->address, "http://%s/v1/webhooks/ringcentral",
                 sgw_cfg_str(cfg, "listen"));
    }
    self->expires_in_s = sgw_cfg_int(cfg, "rc_webhook.expires_in_s");
    if (self->expires_in_s < 1)
        self->expires_in_s = 604800;
    self->renew_before_ms = sgw_cfg_int(cfg, "rc_webhook.renew_before_s") * 1000;
    if (self->renew_before_ms <= 0 || self->renew_before_ms > self->expires_in_s * 500)
        self->renew_before_ms = self->expires_in_s * 500; /* at most half the lifetime */
    self->retry_ms = sgw_cfg_int(cfg, "rc_webhook.retry_s") * 1000;
    self->retry_max_ms = sgw_cfg_int(cfg, "rc_webhook.retry_max_s") * 1000;
    if (self->retry_ms <= 0)
        self->retry_ms = 1000;
    if (self->retry_max_ms < self->retry_ms)
        self->retry_max_ms = self->retry_ms;
    self->rescan_ms = sgw_cfg_int(cfg, "rc_webhook.rescan_s") * 1000;
    if (self->rescan_ms <= 0)
        self->rescan_ms = 300000;
    self->timeout_ms = sgw_cfg_int(cfg, "rc_webhook.timeout_ms");
    self->connect_timeout_ms = sgw_cfg_int(cfg, "transport.ringcentral.connect_timeout_ms");
    self->sync_interval_ms = sgw_cfg_int(cfg, "rc_webhook.sync_interval_ms");
    self->sync_lookback_ms = sgw_cfg_int(cfg, "rc_webhook.sync_lookback_s") * 1000;
    self->sync_per_page = sgw_cfg_int(cfg, "rc_webhook.sync_per_page");
    if (self->sync_per_page < 1 || self->sync_per_page > 1000)
        self->sync_per_page = 100;
    self->multi = curl_multi_init();
    if (!self->multi)
        return SGW_ENOMEM;
    sgw_curlpoll_attach(&self->cp, self->multi, sgw_mono_ms);
    sgw_err e = sgw_rep_listen(env, &self->rep, SGW_RCWH_REQ_URL, "rcwebhook");
    if (e != SGW_OK)
        return e;
    e = sgw_actor_connect(env, "status", &self->to_status);
    if (e != SGW_OK)
        return e;
    /* the first look at the connections waits a moment: the HTTP server
     * (which answers RingCentral's validation request) starts after the
     * actors */
    self->rescan_mono = sgw_mono_ms() + 500;
    return SGW_OK;
}

static int64_t rcw_tick(void *st, int64_t now_mono);

static void rcw_event(rcw_actor *self, const sgw_msg *m)
{
    if (m->code == SGW_RCWH_DISCONNECTED && m->body_len > 0) {
        char *old = strndup(m->body, m->body_len);
        rcw_acct a;
        if (old && acct_parse(&a, old)) {
            del_add(self, m->tenant, old, a.sub_id);
            index_delete(self, a.vtoken);
        }
        acct_clear(&a);
        wipe(&old);
    }
    rcw_tenant *t = tenant_get(self, m->tenant, 1);
    if (!t)
        return;
    if (t->job)
        t->reload = 1; /* the job's end reads it again */
    else
        tenant_load(self, t);
    t->fails = 0;
    t->retry_mono = 0;
}

static void rcw_handle(void *st, const sgw_msg *msgs, int n)
{
    rcw_actor *self = st;
    for (int i = 0; i < n; i++) {
        const sgw_msg *m = &msgs[i];
        if (m->input == 0) {
            if (m->type == SGW_MSG_EVENT && m->tenant[0])
                rcw_event(self, m);
            continue;
        }
        if (m->type != SGW_MSG_RESULT) {
            rcw_reply(self, m, 400, "{\"error\":\"Unsupported request\",\"code\":\"validation_error\"}");
            continue;
        }
        count(&self->app->rcwh.notifications, 1);
        if (m->code == SGW_RCWH_INBOUND) {
            rcw_inbound(self, m);
        } else if (m->code == SGW_RCWH_SYNC && m->tenant[0]) {
            rcw_tenant *t = tenant_get(self, m->tenant, 1);
            if (t) {
                if (!t->present && !t->job)
                    tenant_load(self, t);
                t->sync_pending = 1;
            }
            rcw_reply(self, m, t ? 200 : 503, t ? "{\"accepted\":true}"
                                                : "{\"error\":\"Busy\",\"code\":\"unavailable\"}");
        } else {
            rcw_reply(self, m, 400, "{\"error\":\"Unsupported request\",\"code\":\"validation_error\"}");
        }
    }
    rcw_tick(self, sgw_mono_ms());
}

/* What t needs next (0: nothing now), and when (*at, monotonic). */
static rcw_op tenant_next(rcw_actor *self, rcw_tenant *t, int64_t now_mono, int64_t *at)
{
    *at = -1;
    if (!t->present || t->job)
        return 0;
    int64_t now = sgw_now_ms();
    rcw_op op = 0;
    int64_t when = -1;
    if (self->enabled && !t->sub_ok) {
        op = OP_CREATE;
        when = now_mono;
    } else if (self->enabled) {
        int64_t renew_mono = now_mono + (t->sub_exp_ms - self->renew_before_ms - now);
        op = OP_RENEW;
        when = renew_mono;
    }
    if (t->sync_pending) {
        int64_t s = t->sync_last_mono + self->sync_interval_ms;
        if (s < now_mono)
            s = now_mono;
        if (when < 0 || s < when) {
            op = OP_SYNC;
            when = s;
        }
    }
    if (op && when < t->retry_mono)
        when = t->retry_mono;
    *at = when;
    return op && when <= now_mono ? op : 0;
}

static int64_t rcw_tick(void *st, int64_t now_mono)
{
    rcw_actor *self = st;
    rcw_drive(self);
    if (!self->draining && now_mono >= self->rescan_mono) {
        rcw_rescan(self);
        self->rescan_mono = now_mono + self->rescan_ms;
    }
    int64_t next = self->rescan_mono;
    now_mono = sgw_mono_ms();
    for (int i = 0; i < self->ntenants && !self->draining; i++) {
        rcw_tenant *t = self->tenants[i];
        int64_t at;
        rcw_op op = tenant_next(self, t, now_mono, &at);
        if (op) {
            if (op == OP_SYNC) {
                t->sync_pending = 0;
                t->sync_last_mono = now_mono;
            }
            rcw_job *j = job_new(self, op, t, NULL);
            if (j)
                job_begin(self, j);
            else if (op == OP_SYNC)
                t->sync_pending = 1;
            op = tenant_next(self, t, now_mono, &at);
        }
        if (at >= 0 && at < next)
            next = at;
    }
    for (rcw_del *d = self->dels, *nd; d && !self->draining; d = nd) {
        nd = d->next;
        if (d->job)
            continue;
        if (d->due_mono <= now_mono) {
            rcw_job *j = job_new(self, OP_DELETE, NULL, d);
            if (j)
                job_begin(self, j);
            else
                del_free(self, d);
        } else if (d->due_mono < next) {
            next = d->due_mono;
        }
    }
    if (self->inflight)
        rcw_drive(self);
    if (self->cp.due >= 0 && self->cp.due < next)
        next = self->cp.due;
    now_mono = sgw_mono_ms();
    return next < now_mono + RCW_TICK_MAX_MS ? (next > now_mono ? next : now_mono)
                                               : now_mono + RCW_TICK_MAX_MS;
}

static int rcw_fds(void *st, struct pollfd *pfd, int max)
{
    return sgw_curlpoll_copy(&((rcw_actor *)st)->cp, pfd, max);
}

static int rcw_drain(void *st)
{
    rcw_actor *self = st;
    self->draining = 1; /* no new calls; those under way finish (timeout_ms at most) */
    rcw_drive(self);
    return self->inflight == 0;
}

static void rcw_fini(void *st)
{
    rcw_actor *self = st;
    for (int i = 0; i < self->ntenants; i++) {
        rcw_tenant *t = self->tenants[i];
        if (t->job) {
            if (t->job->easy)
                curl_multi_remove_handle(self->multi, t->job->easy);
            job_free(t->job);
        }
        tenant_forget_token(t);
        free(t);
    }
    free(self->tenants);
    while (self->dels) {
        rcw_del *d = self->dels;
        if (d->job) {
            if (d->job->easy)
                curl_multi_remove_handle(self->multi, d->job->easy);
            job_free(d->job);
        }
        del_free(self, d);
    }
    if (self->multi)
        curl_multi_cleanup(self->multi);
    sgw_curlpoll_free(&self->cp);
}

const struct sgw_actor_ops sgw_actor_rcwebhook = {
    .name = "rcwebhook",
    .state_size = sizeof(rcw_actor),
    .init = rcw_init,
    .handle = rcw_handle,
    .tick = rcw_tick,
    .drain = rcw_drain,
    .fini = rcw_fini,
    .fds = rcw_fds,
    .drain_input = 1,
};
