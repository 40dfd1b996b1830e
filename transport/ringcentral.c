/*
 * transport/ringcentral.c — RingCentral's REST API (transport/README.md is
 * the contract this follows, with its sources).
 *
 * Per tenant (the `account` each message carries: serverUrl, clientId,
 * clientSecret, and jwt or refreshToken):
 *   token    an access token from POST /restapi/oauth/token (JWT bearer
 *            grant, or refresh_token grant), cached and renewed before it
 *            expires (token_margin_s) and at once when a call gets 401;
 *   numbers  the account's phone numbers (GET /restapi/v1.0/account/~/
 *            phone-number, every page) mapping each number to the
 *            extension owning it and its features, trusted numbers_ttl_s
 *            and fetched again when a `from` is missing from it (at most
 *            every numbers_miss_refresh_s).
 * A send is POST /restapi/v1.0/account/~/extension/<ext>/sms from the
 * extension owning `from`. Messages that need a token or the numbers
 * first wait in the tenant's queue while one request fetches them.
 *
 * Outcomes (transport/README.md, "How smsgw classifies answers"): 2xx ->
 * OK with RingCentral's message id; 401 -> renew the token once and send
 * again; 429 -> RETRY after Retry-After; 5xx, timeouts, connection errors
 * -> RETRY; any other 4xx -> PERMANENT with RingCentral's message; a `from`
 * the account does not own -> PERMANENT "Phone number <from> is not
 * registered in this RingCentral account".
 *
 * Delivery: after a send, the message is looked up in the message store
 * status_poll_ms later (then twice as far apart, status_polls times) until
 * it is Delivered or failed; query() does the same once, for the
 * scheduler's checks after a restart.
 *
 * I/O: one libcurl multi handle per sender thread (connections kept alive
 * and reused, at most max_connections to a host); no thread per request.
 * The sender polls the sockets this adapter reports (fds) and calls poll(),
 * which drives curl. Everything here belongs to one sender thread: no
 * locks.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "transport/curlpoll.h"
#include "transport/rc_parse.h"
#include "transport/transport.h"

enum { FEAT_SMS = SGW_RC_FEAT_SMS, FEAT_A2P = SGW_RC_FEAT_A2P };

typedef struct rc_num {
    char phone[24];
    char ext[24];
    unsigned feat;
} rc_num;

typedef enum { JOB_SEND, JOB_QUERY, JOB_TOKEN, JOB_NUMBERS } job_kind;

typedef struct rc_acct rc_acct;

typedef struct rc_job {
    job_kind kind;
    rc_acct *acct;
    int64_t version;        /* of the account when a TOKEN/NUMBERS job started */
    char id[24], to[24], from[24];
    char *body;
    char pmid[64];          /* QUERY: RingCentral's message id */
    int attempt;
    int polls_left;         /* QUERY from the adapter's own follow-up */
    int64_t poll_gap_ms;
    int auth_retried, numbers_retried;
    int in_lane;            /* SEND: holds its number's lane */
    unsigned token_gen;     /* the account's token it was sent with */
    int64_t started_ms;
    CURL *easy;
    struct curl_slist *hdrs;
    char *post;
    char *resp;
    size_t resp_len;
    int64_t retry_after_ms;
    int page;               /* NUMBERS: the page being fetched */
    rc_num *nums;           /* NUMBERS: gathered so far */
    int nnums;
    struct rc_job *next;    /* waiting queue, or timer list */
    struct rc_job *aprev, *anext; /* in curl: the conn's active list */
    int64_t due_ms;         /* timer list */
} rc_job;

/* Sends from one number go out one at a time, in the order submitted
 * (transport.ringcentral.ordered_per_number), so a conversation reaches
 * the carrier in order. */
typedef struct rc_lane {
    char from[24];
    int busy;
    rc_job *head, *tail;
    struct rc_lane *next;
} rc_lane;

struct rc_acct {
    char tenant[32];
    int64_t version;
    char *server, *client_id, *client_secret, *jwt, *refresh;
    char *auth_code, *redirect_uri;  /* verify of the OAuth connect flow only */
    char *refresh_failed;            /* the stored refresh token RingCentral refused */
    char *token;
    unsigned token_gen;      /* bumped with every new token */
    char owner[24];          /* the token's extension (owner_id): the one that sends */
    int64_t token_exp_ms, refresh_exp_ms;
    int token_busy;
    int64_t token_retry_at;
    char token_err[320];
    int token_err_permanent;
    rc_num *nums;
    int nnums;
    int64_t nums_at;
    int nums_busy;
    rc_job *wait_head, *wait_tail;
    rc_lane *lanes;
    rc_acct *next;
};

typedef struct rc_conn {
    CURLM *multi;
    int64_t timeout_ms, connect_timeout_ms, token_margin_ms, numbers_ttl_ms, miss_refresh_ms,
        poll_ms, token_retry_ms;
    int polls;
    int ordered;
    rc_acct *accts;
    rc_job *timers;          /* QUERY jobs waiting for their time, unordered */
    rc_job *active;          /* jobs whose request is in curl */
    int nactive, max_active; /* requests in curl; at most max_connections */
    /* jobs waiting for one of the max_connections, FIFO: [0] tokens,
     * numbers and sends, [1] status queries (which never delay a send).
     * A request enters curl only when it can have a connection at once, so
     * its timeout (CURLOPT_TIMEOUT_MS, counted from entering curl) is the
     * provider's time, never time queued behind others: a send declared
     * timed out was given the whole timeout on the wire. */
    rc_job *startq_head[2], *startq_tail[2];
    sgw_tr_outcome *out;     /* finished outcomes, a FIFO */
    int out_head, out_n, out_cap;
    int inflight;            /* submitted sends whose outcome is not yet polled */
    sgw_curlpoll cp;         /* curl's sockets and timer (wall ms) */
    const sgw_tr_host *host;
} rc_conn;

/* ---------------------------------------------------------------- helpers */

static pthread_once_t rc_curl_once = PTHREAD_ONCE_INIT;
static void rc_curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static void str_set(char **field, const char *v)
{
    free(*field);
    *field = v ? strdup(v) : NULL;
}

static void str_wipe(char **field)
{
    if (*field) {
        memset(*field, 0, strlen(*field));
        free(*field);
        *field = NULL;
    }
}

static void out_push(rc_conn *c, const sgw_tr_outcome *o)
{
    if (c->out_n == c->out_cap) {
        int cap = c->out_cap ? c->out_cap * 2 : 64;
        sgw_tr_outcome *v = malloc(sizeof *v * (size_t)cap);
        if (!v)
            abort(); /* bounded by inflight_max; out of memory is fatal */
        for (int i = 0; i < c->out_n; i++)
            v[i] = c->out[(c->out_head + i) % c->out_cap];
        free(c->out);
        c->out = v;
        c->out_cap = cap;
        c->out_head = 0;
    }
    c->out[(c->out_head + c->out_n++) % c->out_cap] = *o;
}

static void job_free(rc_job *j)
{
    if (!j)
        return;
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->hdrs);
    free(j->post);
    free(j->resp);
    free(j->body);
    free(j->nums);
    free(j);
}

static void lane_leave(rc_conn *c, rc_acct *a, const char *from);

/* A send or query ends: its outcome, then the job is freed. */
static void job_finish(rc_conn *c, rc_job *j, sgw_send_result res, const char *pmid,
                       const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void job_finish(rc_conn *c, rc_job *j, sgw_send_result res, const char *pmid,
                       const char *code, const char *fmt, ...)
{
    sgw_tr_outcome o = { .kind = j->kind == JOB_SEND ? SGW_TR_SEND_DONE : SGW_TR_REPORT,
                         .result = res, .attempt = j->attempt,
                         .retry_after_ms = j->retry_after_ms,
                         .started_ms = j->started_ms, .finished_ms = sgw_now_ms() };
    snprintf(o.id, sizeof o.id, "%s", j->id);
    snprintf(o.provider_msg_id, sizeof o.provider_msg_id, "%s", pmid ? pmid : "");
    snprintf(o.error_code, sizeof o.error_code, "%s", code ? code : "");
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(o.error_message, sizeof o.error_message, fmt, ap);
        va_end(ap);
    }
    out_push(c, &o);
    rc_acct *a = j->acct;
    int in_lane = j->in_lane;
    char from[24];
    snprintf(from, sizeof from, "%s", j->from);
    job_free(j);
    if (in_lane)
        lane_leave(c, a, from);
}

static size_t rc_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    rc_job *j = ud;
    size_t n = size * nmemb;
    if (j->resp_len + n > (8u << 20))
        return 0; /* an answer over 8 MB is not RingCentral's */
    char *p = realloc(j->resp, j->resp_len + n + 1);
    if (!p)
        return 0;
    memcpy(p + j->resp_len, ptr, n);
    j->resp = p;
    j->resp_len += n;
    p[j->resp_len] = '\0';
    return n;
}

static size_t rc_header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    rc_job *j = ud;
    size_t n = size * nitems;
    if (n > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        long s = strtol(buf + 12, NULL, 10);
        if (s > 0 && s < 86400)
            j->retry_after_ms = (int64_t)s * 1000;
    }
    return n;
}

/* RingCentral's error body: {"errorCode", "message", "errors": [...]} for
 * the REST API, {"error", "error_description"} for OAuth. */
static void rc_error_text(const rc_job *j, char *code, size_t codesz, char *msg, size_t msgsz)
{
    sgw_rc_error_text(j->resp, code, codesz, msg, msgsz);
}

static long job_status(const rc_job *j)
{
    long st = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &st);
    return st;
}

/* Prepare j->easy for method url; body (JSON or form) is copied. */
static int job_http(rc_conn *c, rc_job *j, const char *url, const char *body, int form,
                    const char *bearer, const char *basic_user, const char *basic_pass)
{
    j->easy = curl_easy_init();
    if (!j->easy)
        return -1;
    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, rc_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, rc_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "smsgw/0.1");
    j->hdrs = curl_slist_append(j->hdrs, "Accept: application/json");
    if (body) {
        j->post = strdup(body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->post);
        j->hdrs = curl_slist_append(j->hdrs, form ? "Content-Type: application/x-www-form-urlencoded"
                                                  : "Content-Type: application/json");
    }
    if (bearer) {
        size_t n = strlen(bearer) + 32;
        char *h = malloc(n);
        if (h) {
            snprintf(h, n, "Authorization: Bearer %s", bearer);
            j->hdrs = curl_slist_append(j->hdrs, h);
            memset(h, 0, n);
            free(h);
        }
    }
    if (basic_user) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, basic_user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, basic_pass ? basic_pass : "");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
    return 0;
}

/* A form value, escaped; heap. */
static char *form_escape(CURL *e, const char *v)
{
    char *x = curl_easy_escape(e, v ? v : "", 0);
    char *r = x ? strdup(x) : NULL;
    curl_free(x);
    return r;
}

/* The token request body for the account's grant (refresh if we hold a
 * live refresh token, else JWT); heap. */
static char *token_form(CURL *e, const rc_acct *a, int64_t now)
{
    const char *grant, *name, *value;
    if (a->auth_code) {
        char *code = form_escape(e, a->auth_code), *uri = form_escape(e, a->redirect_uri);
        size_t n = (code ? strlen(code) : 0) + (uri ? strlen(uri) : 0) + 80;
        char *body = malloc(n);
        if (body && code && uri)
            snprintf(body, n, "grant_type=authorization_code&code=%s&redirect_uri=%s", code, uri);
        free(code);
        free(uri);
        return body;
    }
    if (a->refresh && (a->refresh_exp_ms == 0 || a->refresh_exp_ms > now)) {
        grant = "refresh_token";
        name = "refresh_token";
        value = a->refresh;
    } else {
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
        name = "assertion";
        value = a->jwt;
    }
    char *g = form_escape(e, grant), *v = form_escape(e, value);
    size_t n = (g ? strlen(g) : 0) + (v ? strlen(v) : 0) + 64;
    char *body = malloc(n);
    if (body && g && v)
        snprintf(body, n, "grant_type=%s&%s=%s", g, name, v);
    if (v)
        memset(v, 0, strlen(v));
    free(g);
    free(v);
    return body;
}

/* ---------------------------------------------------------------- accounts */

static void acct_clear(rc_acct *a)
{
    free(a->server);
    free(a->client_id);
    str_wipe(&a->client_secret);
    str_wipe(&a->jwt);
    str_wipe(&a->refresh);
    str_wipe(&a->token);
    str_wipe(&a->auth_code);
    free(a->redirect_uri);
    a->redirect_uri = NULL;
    str_wipe(&a->refresh_failed);
    free(a->nums);
    a->server = a->client_id = NULL;
    a->nums = NULL;
    a->nnums = 0;
    a->nums_at = 0;
    a->token_exp_ms = a->refresh_exp_ms = 0;
    a->token_err[0] = '\0';
    a->token_err_permanent = 0;
    a->token_retry_at = 0;
}

/* Load the account's fields from its connection document. */
static void acct_load(rc_acct *a, const char *account, int64_t version)
{
    acct_clear(a);
    a->version = version;
    json_t *o = json_loads(account ? account : "{}", 0, NULL);
    const char *server = json_string_value(json_object_get(o, "serverUrl"));
    if (server) {
        a->server = strdup(server);
        size_t n = a->server ? strlen(a->server) : 0;
        while (n > 0 && a->server[n - 1] == '/')
            a->server[--n] = '\0';
    }
    str_set(&a->client_id, json_string_value(json_object_get(o, "clientId")));
    str_set(&a->client_secret, json_string_value(json_object_get(o, "clientSecret")));
    str_set(&a->jwt, json_string_value(json_object_get(o, "jwt")));
    str_set(&a->refresh, json_string_value(json_object_get(o, "refreshToken")));
    a->refresh_exp_ms = json_integer_value(json_object_get(o, "refreshTokenExpiresAt"));
    str_set(&a->auth_code, json_string_value(json_object_get(o, "authCode")));
    str_set(&a->redirect_uri, json_string_value(json_object_get(o, "redirectUri")));
    json_decref(o);
}

static rc_acct *acct_get(rc_conn *c, const sgw_tr_sms *sms)
{
    rc_acct *a;
    for (a = c->accts; a; a = a->next)
        if (strcmp(a->tenant, sms->tenant) == 0)
            break;
    if (!a) {
        a = calloc(1, sizeof *a);
        if (!a)
            return NULL;
        snprintf(a->tenant, sizeof a->tenant, "%s", sms->tenant);
        a->version = -1;
        a->next = c->accts;
        c->accts = a;
    }
    if (a->version != sms->account_version) {
        acct_load(a, sms->account, sms->account_version);
    } else if (a->refresh_failed && sms->account) {
        /* another sender thread may have rotated the refresh token since */
        json_t *o = json_loads(sms->account, 0, NULL);
        const char *r = json_string_value(json_object_get(o, "refreshToken"));
        int newer = r && strcmp(r, a->refresh_failed) != 0;
        json_decref(o);
        if (newer)
            acct_load(a, sms->account, sms->account_version);
    }
    return a;
}

static const rc_num *acct_number(const rc_acct *a, const char *phone)
{
    for (int i = 0; i < a->nnums; i++)
        if (strcmp(a->nums[i].phone, phone) == 0)
            return &a->nums[i];
    return NULL;
}

static void acct_wait(rc_acct *a, rc_job *j)
{
    j->next = NULL;
    if (a->wait_tail)
        a->wait_tail->next = j;
    else
        a->wait_head = j;
    a->wait_tail = j;
}

/* ---------------------------------------------------------------- requests */

static void job_start(rc_conn *c, rc_job *j);
static void job_run(rc_conn *c, rc_job *j);

/* A job of the account itself (its token, its numbers). */
static rc_job *acct_job(rc_acct *a, job_kind kind)
{
    rc_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->acct = a;
    j->version = a->version;
    j->started_ms = sgw_now_ms();
    return j;
}

/* Drop a job's finished request so it can make another. */
static void job_reset_http(rc_job *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    j->easy = NULL;
    curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
    free(j->post);
    j->post = NULL;
    free(j->resp);
    j->resp = NULL;
    j->resp_len = 0;
    j->retry_after_ms = 0;
}

static void acct_fetch_token(rc_conn *c, rc_acct *a)
{
    if (a->token_busy)
        return;
    rc_job *j = acct_job(a, JOB_TOKEN);
    if (!j)
        return;
    char url[2048];
    snprintf(url, sizeof url, "%s/restapi/oauth/token", a->server);
    if (job_http(c, j, url, NULL, 1, NULL, a->client_id, a->client_secret) != 0) {
        job_free(j);
        return;
    }
    char *form = token_form(j->easy, a, j->started_ms);
    if (!form) {
        job_free(j);
        return;
    }
    j->post = form;
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->post);
    j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
    a->token_busy = 1;
    job_start(c, j);
}

static void acct_fetch_numbers_page(rc_conn *c, rc_job *j)
{
    rc_acct *a = j->acct;
    char url[2048];
    snprintf(url, sizeof url, "%s/restapi/v1.0/account/~/phone-number?perPage=1000&page=%d",
             a->server, j->page);
    job_reset_http(j);
    if (job_http(c, j, url, NULL, 0, a->token, NULL, NULL) != 0) {
        a->nums_busy = 0;
        job_free(j);
        return;
    }
    job_start(c, j);
}

static void acct_fetch_numbers(rc_conn *c, rc_acct *a)
{
    if (a->nums_busy)
        return;
    rc_job *j = acct_job(a, JOB_NUMBERS);
    if (!j)
        return;
    j->page = 1;
    a->nums_busy = 1;
    acct_fetch_numbers_page(c, j);
}

/* Run every job that waited for the account's token or numbers. */
static void acct_release(rc_conn *c, rc_acct *a)
{
    rc_job *j = a->wait_head;
    a->wait_head = a->wait_tail = NULL;
    while (j) {
        rc_job *next = j->next;
        j->next = NULL;
        job_run(c, j);
        j = next;
    }
}

/* Fail every waiting job with one outcome. */
static void acct_fail_waiting(rc_conn *c, rc_acct *a, sgw_send_result res, const char *code,
                              const char *text)
{
    rc_job *j = a->wait_head;
    a->wait_head = a->wait_tail = NULL;
    while (j) {
        rc_job *next = j->next;
        if (j->kind == JOB_SEND)
            job_finish(c, j, res, NULL, code, "%s", text);
        else
            job_free(j); /* a query: the scheduler asks again later */
        j = next;
    }
}

static void active_unlink(rc_conn *c, rc_job *j)
{
    if (j->aprev)
        j->aprev->anext = j->anext;
    else
        c->active = j->anext;
    if (j->anext)
        j->anext->aprev = j->aprev;
    j->aprev = j->anext = NULL;
}

static void job_start_now(rc_conn *c, rc_job *j)
{
    if (curl_multi_add_handle(c->multi, j->easy) == CURLM_OK) {
        c->nactive++;
        j->aprev = NULL;
        j->anext = c->active;
        if (c->active)
            c->active->aprev = j;
        c->active = j;
    } else {
        sgw_log(SGW_LOG_ERROR, "ringcentral", "curl refused a request");
        if (j->kind == JOB_SEND)
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_unreachable",
                       "Cannot start a request to RingCentral");
        else if (j->kind == JOB_QUERY)
            job_free(j);
        else {
            if (j->kind == JOB_TOKEN)
                j->acct->token_busy = 0;
            else
                j->acct->nums_busy = 0;
            job_free(j);
        }
    }
}

static void job_start(rc_conn *c, rc_job *j)
{
    if (c->nactive < c->max_active) {
        job_start_now(c, j);
        return;
    }
    int q = j->kind == JOB_QUERY;
    j->next = NULL;
    if (c->startq_tail[q])
        c->startq_tail[q]->next = j;
    else
        c->startq_head[q] = j;
    c->startq_tail[q] = j;
}

/* A connection came free: start waiting jobs, sends before queries. */
static void start_pending(rc_conn *c)
{
    for (int q = 0; q < 2; q++)
        while (c->nactive < c->max_active && c->startq_head[q]) {
            rc_job *j = c->startq_head[q];
            c->startq_head[q] = j->next;
            if (!c->startq_head[q])
                c->startq_tail[q] = NULL;
            j->next = NULL;
            job_start_now(c, j);
        }
}

static rc_lane *lane_of(rc_acct *a, const char *from)
{
    rc_lane *l;
    for (l = a->lanes; l; l = l->next)
        if (strcmp(l->from, from) == 0)
            return l;
    l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    snprintf(l->from, sizeof l->from, "%s", from);
    l->next = a->lanes;
    a->lanes = l;
    return l;
}

/* 1 if j may go now (it holds the lane), 0 if it queued behind another. */
static int lane_enter(rc_conn *c, rc_job *j)
{
    if (!c->ordered || j->in_lane)
        return 1;
    rc_lane *l = lane_of(j->acct, j->from);
    if (!l)
        return 1;
    if (!l->busy) {
        l->busy = 1;
        j->in_lane = 1;
        return 1;
    }
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    return 0;
}

/* j's request is over: the next of its number may go. */
static void lane_leave(rc_conn *c, rc_acct *a, const char *from)
{
    rc_lane *l = lane_of(a, from);
    if (!l)
        return;
    rc_job *n = l->head;
    if (!n) {
        l->busy = 0;
        return;
    }
    l->head = n->next;
    if (!l->head)
        l->tail = NULL;
    n->next = NULL;
    n->in_lane = 1;
    job_run(c, n);
}

/* Move a SEND or QUERY job forward: wait for what it needs, or start it. */
static void job_run(rc_conn *c, rc_job *j)
{
    rc_acct *a = j->acct;
    int64_t now = sgw_now_ms();
    if (!a->server || !a->client_id || (!a->jwt && !a->refresh && !a->refresh_failed)) {
        if (j->kind == JOB_SEND)
            job_finish(c, j, SGW_SEND_PERMANENT, NULL, "provider_not_connected",
                       "RingCentral not connected for this tenant");
        else
            job_free(j);
        return;
    }
    if (!a->token || a->token_exp_ms - c->token_margin_ms <= now) {
        if (a->token_err_permanent || (!a->jwt && !a->refresh)) {
            if (j->kind == JOB_SEND)
                job_finish(c, j, SGW_SEND_PERMANENT, NULL, "provider_auth_failed", "%s",
                           a->token_err);
            else
                job_free(j);
            return;
        }
        if (a->token_retry_at > now && !a->token_busy) {
            if (j->kind == JOB_SEND)
                job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_auth_unavailable", "%s",
                           a->token_err);
            else
                job_free(j);
            return;
        }
        acct_wait(a, j);
        acct_fetch_token(c, a);
        return;
    }
    if (!a->nums_at || now - a->nums_at > c->numbers_ttl_ms) {
        acct_wait(a, j);
        acct_fetch_numbers(c, a);
        return;
    }
    const rc_num *n = acct_number(a, j->from);
    if (!n || !(n->feat & FEAT_SMS)) {
        if (!j->numbers_retried && now - a->nums_at > c->miss_refresh_ms) {
            j->numbers_retried = 1;
            a->nums_at = 0; /* stale: the number may have been added since */
            acct_wait(a, j);
            acct_fetch_numbers(c, a);
            return;
        }
        if (j->kind != JOB_SEND)
            job_free(j);
        else if (!n)
            job_finish(c, j, SGW_SEND_PERMANENT, NULL, "number_not_registered",
                       "Phone number %s is not registered in this RingCentral account", j->from);
        else
            job_finish(c, j, SGW_SEND_PERMANENT, NULL, "number_not_sms_capable",
                       "Phone number %s cannot send SMS in this RingCentral account", j->from);
        return;
    }
    if (a->owner[0] && strcmp(n->ext, a->owner) != 0) {
        /* RingCentral sends SMS only as the extension that owns the number
         * (transport/README.md section 2) */
        if (j->kind == JOB_SEND)
            job_finish(c, j, SGW_SEND_PERMANENT, NULL, "number_not_owned",
                       "Phone number %s belongs to another extension (%s) of this RingCentral "
                       "account; connect that extension's user to send from it", j->from, n->ext);
        else
            job_free(j);
        return;
    }
    if (j->kind == JOB_SEND && !lane_enter(c, j))
        return;
    char url[2048];
    job_reset_http(j); /* a second try after a 401 starts afresh */
    j->token_gen = a->token_gen;
    if (j->kind == JOB_SEND) {
        snprintf(url, sizeof url, "%s/restapi/v1.0/account/~/extension/%s/sms", a->server,
                 n->ext);
        json_t *req = json_pack("{s:{s:s}, s:[{s:s}], s:s}", "from", "phoneNumber", j->from, "to",
                                "phoneNumber", j->to, "text", j->body ? j->body : "");
        char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        int rv = body ? job_http(c, j, url, body, 0, a->token, NULL, NULL) : -1;
        free(body);
        if (rv != 0) {
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_unreachable",
                       "Cannot start a request to RingCentral");
            return;
        }
    } else {
        snprintf(url, sizeof url, "%s/restapi/v1.0/account/~/extension/%s/message-store/%s",
                 a->server, n->ext, j->pmid);
        if (job_http(c, j, url, NULL, 0, a->token, NULL, NULL) != 0) {
            job_free(j);
            return;
        }
    }
    job_start(c, j);
}

/* ---------------------------------------------------------------- answers */

static void done_token(rc_conn *c, rc_job *j, CURLcode cr)
{
    rc_acct *a = j->acct;
    a->token_busy = 0;
    if (j->version != a->version) { /* the connection was replaced meanwhile */
        job_free(j);
        if (a->wait_head)
            acct_fetch_token(c, a);
        return;
    }
    long st = cr == CURLE_OK ? job_status(j) : 0;
    int64_t now = sgw_now_ms();
    if (st == 200) {
        sgw_rc_token t;
        int got = sgw_rc_token_parse(j->resp, now, &t);
        if (t.has_owner)
            snprintf(a->owner, sizeof a->owner, "%s", t.owner);
        if (got) {
            str_wipe(&a->token);
            a->token = t.access;
            t.access = NULL;
            a->token_gen++;
            a->token_exp_ms = t.exp_ms;
            if (t.refresh) {
                str_wipe(&a->refresh);
                a->refresh = t.refresh;
                t.refresh = NULL;
                a->refresh_exp_ms = t.refresh_exp_ms;
                if (!a->jwt && c->host && c->host->save_secret) {
                    /* an OAuth connection lives on its refresh token, which
                     * RingCentral rotates: keep the new one */
                    json_t *patch = json_pack("{s:s, s:I}", "refreshToken", a->refresh,
                                              "refreshTokenExpiresAt", (json_int_t)a->refresh_exp_ms);
                    char *text = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
                    if (text)
                        c->host->save_secret(c->host->ctx, a->tenant, "ringcentral", text);
                    str_wipe(&text);
                    json_decref(patch);
                }
            }
            a->token_err[0] = '\0';
            a->token_retry_at = 0;
            job_free(j);
            sgw_log(SGW_LOG_INFO, "ringcentral", "%s: access token for %lld s", a->tenant,
                    (long long)((a->token_exp_ms - now) / 1000));
            acct_release(c, a);
            return;
        }
        sgw_rc_token_wipe(&t);
        st = 502; /* a 200 without a token: treat as a passing fault */
    }
    char code[64], msg[200];
    if (st == 400 || st == 401 || st == 403) {
        rc_error_text(j, code, sizeof code, msg, sizeof msg);
        int was_refresh = a->refresh && strstr(j->post ? j->post : "", "grant_type=refresh_token");
        if (was_refresh && a->jwt) {
            /* the refresh token is spent or revoked: log in with the JWT */
            str_wipe(&a->refresh);
            job_free(j);
            acct_fetch_token(c, a);
            return;
        }
        if (was_refresh) {
            /* remember which: a newer one in the store (rotated by another
             * sender thread) is taken when it comes (acct_get); meanwhile
             * the waiting messages are retried, new ones fail (job_run) */
            str_wipe(&a->refresh_failed);
            a->refresh_failed = a->refresh;
            a->refresh = NULL;
            snprintf(a->token_err, sizeof a->token_err,
                     "RingCentral rejected the credentials: %s (connect RingCentral again)", msg);
            sgw_log(SGW_LOG_WARN, "ringcentral", "%s: %s (%s)", a->tenant, a->token_err, code);
            job_free(j);
            acct_fail_waiting(c, a, SGW_SEND_RETRY, "provider_auth_failed", a->token_err);
            return;
        }
        snprintf(a->token_err, sizeof a->token_err,
                 "RingCentral rejected the credentials: %s", msg);
        a->token_err_permanent = 1;
        sgw_log(SGW_LOG_WARN, "ringcentral", "%s: %s (%s)", a->tenant, a->token_err, code);
        job_free(j);
        acct_fail_waiting(c, a, SGW_SEND_PERMANENT, "provider_auth_failed", a->token_err);
        return;
    }
    if (cr != CURLE_OK)
        snprintf(a->token_err, sizeof a->token_err, "Cannot reach RingCentral: %s",
                 curl_easy_strerror(cr));
    else
        snprintf(a->token_err, sizeof a->token_err,
                 "RingCentral could not issue a token (HTTP %ld)", st);
    a->token_retry_at = now + (j->retry_after_ms > c->token_retry_ms ? j->retry_after_ms
                                                                      : c->token_retry_ms);
    sgw_log(SGW_LOG_WARN, "ringcentral", "%s: %s", a->tenant, a->token_err);
    job_free(j);
    acct_fail_waiting(c, a, SGW_SEND_RETRY, "provider_auth_unavailable", a->token_err);
}

/* A number of a page (sgw_rc_numbers_page): gathered in the NUMBERS job. */
static int numbers_add(void *ctx, const char *phone, const char *ext, unsigned feat)
{
    rc_job *j = ctx;
    rc_num *v = realloc(j->nums, sizeof *v * (size_t)(j->nnums + 1));
    if (!v)
        return 0;
    j->nums = v;
    rc_num *n = &v[j->nnums++];
    snprintf(n->phone, sizeof n->phone, "%s", phone);
    snprintf(n->ext, sizeof n->ext, "%s", ext);
    n->feat = feat;
    return 1;
}

static void done_numbers(rc_conn *c, rc_job *j, CURLcode cr)
{
    rc_acct *a = j->acct;
    if (j->version != a->version) {
        a->nums_busy = 0;
        job_free(j);
        if (a->wait_head)
            acct_release(c, a);
        return;
    }
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (st == 200) {
        int64_t pages = sgw_rc_numbers_page(j->resp, numbers_add, j);
        if (pages > j->page && j->page < 100) {
            j->page++;
            acct_fetch_numbers_page(c, j);
            return;
        }
        free(a->nums);
        a->nums = j->nums;
        a->nnums = j->nnums;
        j->nums = NULL;
        a->nums_at = sgw_now_ms();
        a->nums_busy = 0;
        sgw_log(SGW_LOG_INFO, "ringcentral", "%s: %d phone numbers", a->tenant, a->nnums);
        job_free(j);
        acct_release(c, a);
        return;
    }
    a->nums_busy = 0;
    if (st == 401) { /* the token died: the waiting jobs fetch a new one */
        str_wipe(&a->token);
        job_free(j);
        acct_release(c, a);
        return;
    }
    char code[64], msg[200], text[300];
    if (cr != CURLE_OK) {
        snprintf(text, sizeof text, "Cannot reach RingCentral: %s", curl_easy_strerror(cr));
        snprintf(code, sizeof code, "provider_unreachable");
    } else {
        rc_error_text(j, code, sizeof code, msg, sizeof msg);
        snprintf(text, sizeof text, "RingCentral did not list the account's numbers: %s", msg);
        snprintf(code, sizeof code, "provider_error");
    }
    job_free(j);
    /* 403: the credentials lack the permission: no retry will help */
    acct_fail_waiting(c, a, st == 403 ? SGW_SEND_PERMANENT : SGW_SEND_RETRY, code, text);
}

static void timer_add(rc_conn *c, rc_job *j, int64_t due)
{
    j->due_ms = due;
    j->next = c->timers;
    c->timers = j;
}

/* After a send: follow the message in the message store. */
static void follow_up(rc_conn *c, const rc_job *sent, const char *pmid)
{
    if (c->poll_ms <= 0 || c->polls <= 0)
        return;
    rc_job *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->kind = JOB_QUERY;
    q->acct = sent->acct;
    snprintf(q->id, sizeof q->id, "%s", sent->id);
    snprintf(q->to, sizeof q->to, "%s", sent->to);
    snprintf(q->from, sizeof q->from, "%s", sent->from);
    snprintf(q->pmid, sizeof q->pmid, "%s", pmid);
    q->polls_left = c->polls - 1;
    q->poll_gap_ms = c->poll_ms;
    timer_add(c, q, sgw_now_ms() + c->poll_ms);
}

static void done_send(rc_conn *c, rc_job *j, CURLcode cr)
{
    rc_acct *a = j->acct;
    if (cr != CURLE_OK) {
        int timeout = cr == CURLE_OPERATION_TIMEDOUT;
        job_finish(c, j, SGW_SEND_RETRY, NULL, timeout ? "provider_timeout" : "provider_unreachable",
                   timeout ? "RingCentral did not answer in time" : "Cannot reach RingCentral: %s",
                   curl_easy_strerror(cr));
        return;
    }
    long st = job_status(j);
    if (st >= 200 && st < 300) {
        char pmid[64];
        sgw_rc_message_id(j->resp, pmid);
        if (!pmid[0]) {
            /* accepted, but we cannot follow it: still sent */
            sgw_log(SGW_LOG_WARN, "ringcentral", "%s: answer %ld without a message id", j->id, st);
        } else {
            follow_up(c, j, pmid);
        }
        job_finish(c, j, SGW_SEND_OK, pmid, NULL, NULL);
        return;
    }
    char code[64], msg[200];
    rc_error_text(j, code, sizeof code, msg, sizeof msg);
    if (st == 401 && !j->auth_retried) {
        j->auth_retried = 1;
        if (j->token_gen == a->token_gen)
            str_wipe(&a->token); /* dead: the next job_run fetches another */
        job_run(c, j);
        return;
    }
    /* the `from` is not this account's, or cannot send SMS (README: MSG-...) */
    if (strcmp(code, "MSG-304") == 0 || strcmp(code, "MSG-245") == 0)
        job_finish(c, j, SGW_SEND_PERMANENT, NULL, "number_not_registered",
                   "Phone number %s is not registered in this RingCentral account", j->from);
    else if (strcmp(code, "MSG-367") == 0 || strcmp(code, "MSG-242") == 0 ||
             strcmp(code, "MSG-241") == 0)
        job_finish(c, j, SGW_SEND_PERMANENT, NULL, "number_not_sms_capable",
                   "Phone number %s cannot send SMS in this RingCentral account (%s)", j->from,
                   code);
    else if (st == 429)
        job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_rate_limited",
                   "RingCentral rate limit reached: %s", msg);
    else if (st == 401 || st >= 500 || st == 408)
        job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_error", "RingCentral error %ld: %s", st,
                   msg);
    else
        job_finish(c, j, SGW_SEND_PERMANENT, NULL, "provider_rejected",
                   "RingCentral refused the message: %s%s%s%s", msg, code[0] ? " (" : "", code,
                   code[0] ? ")" : "");
}

static void done_query(rc_conn *c, rc_job *j, CURLcode cr)
{
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (st == 401 && !j->auth_retried) {
        j->auth_retried = 1;
        if (j->token_gen == j->acct->token_gen)
            str_wipe(&j->acct->token);
        job_run(c, j);
        return;
    }
    char why[160];
    int verdict = st == 200 ? sgw_rc_message_status(j->resp, why, sizeof why) : 0;
    if (verdict > 0) {
        job_finish(c, j, SGW_SEND_OK, j->pmid, NULL, NULL);
        return;
    }
    if (verdict < 0) {
        job_finish(c, j, SGW_SEND_PERMANENT, j->pmid, "undelivered", "%s", why);
        return;
    }
    /* not final yet (or not answered): look again later, or leave it to
     * the scheduler's checks */
    if (j->polls_left > 0) {
        j->polls_left--;
        j->poll_gap_ms *= 2;
        job_reset_http(j);
        j->auth_retried = 0;
        timer_add(c, j, sgw_now_ms() + j->poll_gap_ms);
        return;
    }
    job_free(j);
}

/* ---------------------------------------------------------------- curl glue */

static void rc_drive(rc_conn *c)
{
    int running;
    curl_multi_perform(c->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        rc_job *j = NULL;
        CURLcode cr = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        curl_multi_remove_handle(c->multi, m->easy_handle);
        active_unlink(c, j);
        c->nactive--;
        switch (j->kind) {
        case JOB_TOKEN: done_token(c, j, cr); break;
        case JOB_NUMBERS: done_numbers(c, j, cr); break;
        case JOB_SEND: done_send(c, j, cr); break;
        case JOB_QUERY: done_query(c, j, cr); break;
        }
        start_pending(c);
    }
}

/* ---------------------------------------------------------------- ops */

static sgw_err rc_create(void **conn, const sgw_cfg *cfg, const sgw_tr_host *host)
{
    pthread_once(&rc_curl_once, rc_curl_init);
    rc_conn *c = calloc(1, sizeof *c);
    if (!c)
        return SGW_ENOMEM;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return SGW_ENOMEM;
    }
    c->timeout_ms = sgw_cfg_int(cfg, "transport.ringcentral.timeout_ms");
    c->connect_timeout_ms = sgw_cfg_int(cfg, "transport.ringcentral.connect_timeout_ms");
    c->token_margin_ms = sgw_cfg_int(cfg, "transport.ringcentral.token_margin_s") * 1000;
    c->numbers_ttl_ms = sgw_cfg_int(cfg, "transport.ringcentral.numbers_ttl_s") * 1000;
    c->miss_refresh_ms = sgw_cfg_int(cfg, "transport.ringcentral.numbers_miss_refresh_s") * 1000;
    c->poll_ms = sgw_cfg_int(cfg, "transport.ringcentral.status_poll_ms");
    c->polls = (int)sgw_cfg_int(cfg, "transport.ringcentral.status_polls");
    c->token_retry_ms = sgw_cfg_int(cfg, "transport.ringcentral.token_retry_ms");
    c->ordered = sgw_cfg_bool(cfg, "transport.ringcentral.ordered_per_number");
    c->host = host;
    sgw_curlpoll_attach(&c->cp, c->multi, sgw_now_ms);
    c->max_active = (int)sgw_cfg_int(cfg, "transport.ringcentral.max_connections");
    if (c->max_active < 1)
        c->max_active = 1;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_active);
    *conn = c;
    return SGW_OK;
}

static void rc_destroy(void *conn)
{
    rc_conn *c = conn;
    if (!c)
        return;
    while (c->active) {
        rc_job *j = c->active;
        curl_multi_remove_handle(c->multi, j->easy);
        active_unlink(c, j);
        job_free(j);
    }
    while (c->timers) {
        rc_job *j = c->timers;
        c->timers = j->next;
        job_free(j);
    }
    for (int q = 0; q < 2; q++)
        while (c->startq_head[q]) {
            rc_job *j = c->startq_head[q];
            c->startq_head[q] = j->next;
            job_free(j);
        }
    for (rc_acct *a = c->accts; a;) {
        rc_acct *next = a->next;
        for (rc_job *j = a->wait_head; j;) {
            rc_job *n = j->next;
            job_free(j);
            j = n;
        }
        for (rc_lane *l = a->lanes; l;) {
            rc_lane *ln = l->next;
            for (rc_job *j = l->head; j;) {
                rc_job *n = j->next;
                job_free(j);
                j = n;
            }
            free(l);
            l = ln;
        }
        acct_clear(a);
        free(a);
        a = next;
    }
    curl_multi_cleanup(c->multi);
    free(c->out);
    sgw_curlpoll_free(&c->cp);
    free(c);
}

static rc_job *job_new(rc_conn *c, job_kind kind, const sgw_tr_sms *sms)
{
    rc_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->acct = acct_get(c, sms);
    if (!j->acct) {
        free(j);
        return NULL;
    }
    snprintf(j->id, sizeof j->id, "%s", sms->id);
    snprintf(j->to, sizeof j->to, "%s", sms->to);
    snprintf(j->from, sizeof j->from, "%s", sms->from);
    j->attempt = sms->attempt;
    j->started_ms = sgw_now_ms();
    return j;
}

static sgw_err rc_submit(void *conn, const sgw_tr_sms *sms)
{
    rc_conn *c = conn;
    rc_job *j = job_new(c, JOB_SEND, sms);
    if (!j)
        return SGW_ENOMEM;
    j->body = strdup(sms->body ? sms->body : "");
    c->inflight++;
    job_run(c, j);
    return SGW_OK;
}

static sgw_err rc_query(void *conn, const sgw_tr_sms *sms, const char *provider_msg_id)
{
    rc_conn *c = conn;
    if (!provider_msg_id || !*provider_msg_id)
        return SGW_EINVAL;
    rc_job *j = job_new(c, JOB_QUERY, sms);
    if (!j)
        return SGW_ENOMEM;
    snprintf(j->pmid, sizeof j->pmid, "%s", provider_msg_id);
    job_run(c, j);
    return SGW_OK;
}

static int rc_poll(void *conn, int64_t now, sgw_tr_outcome *out, int max)
{
    rc_conn *c = conn;
    /* follow-ups that are due */
    rc_job **pp = &c->timers;
    while (*pp) {
        rc_job *j = *pp;
        if (j->due_ms <= now) {
            *pp = j->next;
            j->next = NULL;
            job_run(c, j);
        } else {
            pp = &j->next;
        }
    }
    rc_drive(c);
    int n = 0;
    while (n < max && c->out_n > 0) {
        out[n] = c->out[c->out_head];
        c->out_head = (c->out_head + 1) % c->out_cap;
        c->out_n--;
        if (out[n].kind == SGW_TR_SEND_DONE)
            c->inflight--;
        n++;
    }
    return n;
}

static int64_t rc_next_deadline(void *conn)
{
    rc_conn *c = conn;
    if (c->out_n > 0)
        return sgw_now_ms();
    int64_t d = c->cp.due;
    for (rc_job *j = c->timers; j; j = j->next)
        if (d < 0 || j->due_ms < d)
            d = j->due_ms;
    return d;
}

static int rc_inflight(void *conn) { return ((rc_conn *)conn)->inflight; }

static int rc_fds(void *conn, struct pollfd *pfd, int max)
{
    return sgw_curlpoll_copy(&((rc_conn *)conn)->cp, pfd, max);
}

/* ---------------------------------------------------------------- verify */

/* Blocking: one request of a job, performed at once. */
static long verify_perform(rc_job *j, CURLcode *cr)
{
    *cr = curl_easy_perform(j->easy);
    return *cr == CURLE_OK ? job_status(j) : 0;
}

static sgw_err rc_verify(const sgw_cfg *cfg, const char *account, char **info, char *why,
                         size_t whysz)
{
    pthread_once(&rc_curl_once, rc_curl_init);
    rc_conn c = { .timeout_ms = sgw_cfg_int(cfg, "transport.ringcentral.timeout_ms"),
                  .connect_timeout_ms =
                      sgw_cfg_int(cfg, "transport.ringcentral.connect_timeout_ms") };
    rc_acct a = { 0 };
    acct_load(&a, account, 0);
    sgw_err rv = SGW_EINVAL;
    rc_job *j = calloc(1, sizeof *j);
    json_t *facts = json_object(), *nums = json_array();
    char url[2048], code[64], msg[200];
    CURLcode cr;
    if (!j || !facts || !nums) {
        rv = SGW_ENOMEM;
        goto done;
    }
    j->acct = &a;
    snprintf(url, sizeof url, "%s/restapi/oauth/token", a.server);
    if (job_http(&c, j, url, NULL, 1, NULL, a.client_id, a.client_secret) != 0 ||
        !(j->post = token_form(j->easy, &a, sgw_now_ms()))) {
        rv = SGW_ENOMEM;
        goto done;
    }
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->post);
    j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->hdrs);
    long st = verify_perform(j, &cr);
    if (cr != CURLE_OK) {
        snprintf(why, whysz, "Cannot reach RingCentral at %s: %s", a.server,
                 curl_easy_strerror(cr));
        rv = SGW_EIO;
        goto done;
    }
    json_t *tok = st == 200 ? json_loads(j->resp ? j->resp : "", 0, NULL) : NULL;
    const char *access = json_string_value(json_object_get(tok, "access_token"));
    if (!access) {
        rc_error_text(j, code, sizeof code, msg, sizeof msg);
        snprintf(why, whysz, "RingCentral rejected the credentials: %s", msg);
        json_decref(tok);
        rv = st >= 500 || st == 429 ? SGW_EIO : SGW_EINVAL;
        goto done;
    }
    a.token = strdup(access);
    json_t *owner = json_object_get(tok, "owner_id");
    if (owner)
        json_object_set(facts, "ownerId", owner);
    char owner_id[24] = "";
    if (json_is_string(owner))
        snprintf(owner_id, sizeof owner_id, "%s", json_string_value(owner));
    else if (json_is_integer(owner))
        snprintf(owner_id, sizeof owner_id, "%lld", (long long)json_integer_value(owner));
    const char *refresh = json_string_value(json_object_get(tok, "refresh_token"));
    json_int_t rttl = json_integer_value(json_object_get(tok, "refresh_token_expires_in"));
    if (a.auth_code && refresh) {
        /* the connect flow: the connection lives on this refresh token */
        int64_t exp = sgw_rc_expiry_ms(sgw_now_ms(), rttl);
        json_object_set_new(facts, "secret", json_pack("{s:s, s:I}", "refreshToken", refresh,
                                                       "refreshTokenExpiresAt", (json_int_t)exp));
        if (exp) {
            char t[32];
            sgw_time_format(t, exp);
            json_object_set_new(facts, "expiresAt", json_string(t));
        }
    }
    json_decref(tok);
    /* the numbers it can send from: what a `from` must be */
    job_free(j);
    j = calloc(1, sizeof *j);
    if (!j) {
        rv = SGW_ENOMEM;
        goto done;
    }
    j->acct = &a;
    snprintf(url, sizeof url, "%s/restapi/v1.0/account/~/phone-number?perPage=1000", a.server);
    if (job_http(&c, j, url, NULL, 0, a.token, NULL, NULL) != 0) {
        rv = SGW_ENOMEM;
        goto done;
    }
    st = verify_perform(j, &cr);
    if (st != 200) {
        if (cr != CURLE_OK)
            snprintf(msg, sizeof msg, "%s", curl_easy_strerror(cr));
        else
            rc_error_text(j, code, sizeof code, msg, sizeof msg);
        snprintf(why, whysz, "RingCentral did not list the account's phone numbers: %s", msg);
        rv = cr != CURLE_OK || st >= 500 || st == 429 ? SGW_EIO : SGW_EINVAL;
        goto done;
    }
    json_t *o = json_loads(j->resp ? j->resp : "", 0, NULL);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(o, "records"), i, r)
    {
        const char *phone = json_string_value(json_object_get(r, "phoneNumber"));
        json_t *feats = json_object_get(r, "features");
        json_t *ext = json_object_get(json_object_get(r, "extension"), "id");
        char ext_id[24] = "";
        if (json_is_string(ext))
            snprintf(ext_id, sizeof ext_id, "%s", json_string_value(ext));
        else if (json_is_integer(ext))
            snprintf(ext_id, sizeof ext_id, "%lld", (long long)json_integer_value(ext));
        /* the numbers the connected user's extension can send from */
        if (phone && ext_id[0] && (!owner_id[0] || strcmp(ext_id, owner_id) == 0) &&
            (!json_is_array(feats) || (sgw_rc_features(feats) & FEAT_SMS)))
            json_array_append_new(nums, json_string(phone));
    }
    json_decref(o);
    json_object_set(facts, "numbers", nums);
    /* the account's id, for people (best effort: the connection works
     * without it) */
    job_free(j);
    j = calloc(1, sizeof *j);
    if (j) {
        j->acct = &a;
        snprintf(url, sizeof url, "%s/restapi/v1.0/account/~", a.server);
        if (job_http(&c, j, url, NULL, 0, a.token, NULL, NULL) == 0 &&
            verify_perform(j, &cr) == 200) {
            json_t *acc = json_loads(j->resp ? j->resp : "", 0, NULL);
            json_t *id = json_object_get(acc, "id");
            if (json_is_integer(id))
                json_object_set_new(facts, "rcAccountId",
                                    json_sprintf("%lld", (long long)json_integer_value(id)));
            else if (json_is_string(id))
                json_object_set(facts, "rcAccountId", id);
            json_decref(acc);
        }
    }
    *info = json_dumps(facts, JSON_COMPACT);
    rv = *info ? SGW_OK : SGW_ENOMEM;
done:
    job_free(j);
    acct_clear(&a);
    json_decref(facts);
    json_decref(nums);
    return rv;
}

const struct sgw_transport_ops sgw_transport_ringcentral = {
    .name = "ringcentral",
    .title = "RingCentral",
    .supports = SGW_TR_SUPPORTS_QUERY | SGW_TR_NEEDS_ACCOUNT,
    .create = rc_create,
    .destroy = rc_destroy,
    .submit = rc_submit,
    .query = rc_query,
    .poll = rc_poll,
    .next_deadline = rc_next_deadline,
    .inflight = rc_inflight,
    .fds = rc_fds,
    .verify = rc_verify,
};
