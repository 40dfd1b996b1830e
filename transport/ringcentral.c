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
 * Numbers: the account's list gives each number's extension; the token
 * owner's list (GET .../extension/~/phone-number) then gives its numbers'
 * features (SmsSender, A2PSmsSender: only that list has them).
 *
 * Delivery: after a send, the message is looked up in the message store
 * status_poll_ms later (then twice as far apart, status_polls times) until
 * it is Delivered or failed; query() does the same once, for the
 * scheduler's checks after a restart.
 *
 * A2P (README section 8): a `from` with A2PSmsSender (and a2p_batch_max >
 * 0) does not use /sms. Its messages gather in a provider batch per
 * (tenant, from), never two to one recipient, posted (POST a2p-sms/batches)
 * at a2p_batch_max messages or a2p_linger_ms after the first. rejected[]
 * entries -> that message REJECTED with RingCentral's errorCode and
 * description; then GET batches/{id} (a2p_status_poll_ms, doubling, at most
 * 5 s) until processedCount = batchSize, then GET a2p-sms/messages?batchId=
 * (every page), matching each record's recipient (and text) to our message:
 * SendingFailed -> PERMANENT, otherwise OK with RingCentral's id; Delivered
 * / DeliveryFailed are reports, and the list is read again status_poll_ms
 * later (doubling, status_polls times) for those not final; query() reads
 * a2p-sms/messages/{id}. A batch POST answered 429/5xx is RETRY for each
 * message; other 4xx PERMANENT; 401 renews the token once. A batch followed
 * a2p_follow_max_s without its messages listed counts them sent (the POST
 * accepted them). inflight() counts every message until its send result.
 *
 * Lost answers (never two copies because of a timeout): when a send's
 * request may have reached RingCentral but its answer did not (timeout,
 * connection closed or broken after sending), the result is not RETRY at
 * once (a RETRY may fail over to another provider): the message is looked
 * up first (lookup_lost_answers). /sms: GET .../extension/<ext>/
 * message-store?direction=Outbound&messageType=SMS&dateFrom=<start - 5 s>
 * &phoneNumber=<to>, the oldest record from `from` to `to` with our text ->
 * OK with its id; none -> RETRY, error code "timeout" (or
 * provider_unreachable for a broken connection). A batch: GET a2p-sms/
 * batches?from=&dateFrom=<posted - 5 s>, a batch of ours' size we do not
 * follow yet -> followed as if its answer had come (if its message list
 * has none of our recipients, RETRY "timeout"); none -> RETRY "timeout".
 * A lookup that fails itself is tried 3 times (1 s, 2 s apart), then RETRY:
 * the one case where a message may still go twice. The same text to the
 * same recipient twice within seconds could be matched to the earlier one.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "transport/curlpoll.h"
#include "transport/curlreq.h"
#include "transport/outq.h"
#include "transport/rc_a2p.h"
#include "transport/rc_parse.h"
#include "transport/transport.h"

enum { FEAT_SMS = SGW_RC_FEAT_SMS, FEAT_A2P = SGW_RC_FEAT_A2P };

/* A lost send is looked up from this long before it started (clocks differ). */
#define SMS_FIND_SKEW_MS 5000
#define FIND_TRIES 3 /* lookups of a lost answer before giving up */
#define RC_RESP_MAX (8u << 20) /* an answer over 8 MB is not RingCentral's */

typedef struct rc_num {
    char phone[24];
    char ext[24];
    unsigned feat;
} rc_num;

typedef enum {
    JOB_SEND,
    JOB_QUERY,
    JOB_TOKEN,
    JOB_NUMBERS,
    JOB_SMS_FIND,   /* a send's answer was lost: look it up in the message store */
    JOB_A2P_POST,   /* POST a2p-sms/batches */
    JOB_A2P_STATUS, /* GET a2p-sms/batches/{id} until processed */
    JOB_A2P_LIST,   /* GET a2p-sms/messages?batchId= (every page) */
    JOB_A2P_FIND,   /* a batch's answer was lost: GET a2p-sms/batches?from=&dateFrom= */
} job_kind;

typedef struct rc_acct rc_acct;
typedef struct rc_batch rc_batch;

/* One of our messages in a provider batch. */
enum { ITEM_WAIT, ITEM_SENT, ITEM_DONE };
typedef struct a2p_item {
    char id[24], to[24];
    char *body;
    int attempt;
    int state;              /* ITEM_WAIT: no SEND_DONE yet; ITEM_SENT: sent, delivery to come */
    int64_t started_ms;
    char pmid[64];
} a2p_item;

/* A provider batch (README section 8): messages of one tenant from one
 * A2P number, gathered until a2p_batch_max or a2p_linger_ms, then posted
 * and followed by one job at a time. */
struct rc_batch {
    rc_acct *acct;
    char from[24];
    a2p_item *items;
    int n, cap;
    int posted;             /* 0: still gathering */
    int64_t open_ms, posted_ms, follow_until_ms;
    char bid[64];           /* RingCentral's batch id */
    int adopted;            /* found by a lookup after its answer was lost */
    int matched;            /* items found in the message list */
    int list_passes, dlr_passes, lookups;
    int64_t gap_ms;
    rc_batch *next;         /* the conn's batches */
};

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
    sgw_curlresp resp;
    int page;               /* NUMBERS: the page being fetched */
    int ext_phase;          /* NUMBERS: now the extension's list (features) */
    rc_num *nums;           /* NUMBERS: gathered so far */
    int nnums;
    struct rc_job *next;    /* waiting queue */
    sgw_active act;                /* in curl: the conn's active list */
    sgw_timer tm;           /* waiting in the conn's timers */
    rc_batch *batch;        /* A2P jobs */
    char ptoken[128];       /* A2P_LIST, A2P_FIND: the page token to fetch */
    int a2p;                /* QUERY: an A2P message (a2p-sms/messages/{id}) */
    int find_tries;         /* SMS_FIND / A2P_FIND: lookups made */
    int find_timeout;       /* SMS_FIND: the send timed out (else: connection broke) */
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
    int a2p_max, lookup_lost;
    int64_t a2p_linger_ms, a2p_poll_ms, a2p_follow_ms;
    rc_batch *batches;       /* gathering, posted or followed */
    rc_acct *accts;
    sgw_timer *timers;       /* jobs waiting for their time (rc_job.tm), unordered */
    sgw_active *active;      /* jobs whose request is in curl */
    int nactive, max_active; /* requests in curl; at most max_connections */
    /* jobs waiting for one of the max_connections, FIFO: [0] tokens,
     * numbers and sends, [1] status queries (which never delay a send).
     * A request enters curl only when it can have a connection at once, so
     * its timeout (CURLOPT_TIMEOUT_MS, counted from entering curl) is the
     * provider's time, never time queued behind others: a send declared
     * timed out was given the whole timeout on the wire. */
    rc_job *startq_head[2], *startq_tail[2];
    sgw_outq outq;           /* finished outcomes */
    int inflight;            /* submitted sends whose outcome is not yet polled */
    sgw_curlpoll cp;         /* curl's sockets and timer (wall ms) */
    const sgw_tr_host *host;
} rc_conn;

/* ---------------------------------------------------------------- helpers */

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

static void job_free(rc_job *j)
{
    if (!j)
        return;
    sgw_curlreq_drop(&j->easy, &j->hdrs, &j->post, &j->resp);
    free(j->body);
    free(j->nums);
    free(j);
}

static void lane_leave(rc_conn *c, rc_acct *a, const char *from);
static void job_abort(rc_conn *c, rc_job *j, sgw_send_result res, const char *code,
                      const char *msg);
static void a2p_add(rc_conn *c, rc_job *j);
static void a2p_request(rc_conn *c, rc_job *j);

/* A send or query ends: its outcome, then the job is freed. */
static void job_finish(rc_conn *c, rc_job *j, sgw_send_result res, const char *pmid,
                       const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void job_finish(rc_conn *c, rc_job *j, sgw_send_result res, const char *pmid,
                       const char *code, const char *fmt, ...)
{
    int send = j->kind == JOB_SEND || j->kind == JOB_SMS_FIND;
    sgw_tr_outcome o = { .kind = send ? SGW_TR_SEND_DONE : SGW_TR_REPORT,
                         .result = res, .attempt = j->attempt,
                         .retry_after_ms = j->resp.retry_after_ms,
                         .started_ms = j->started_ms, .finished_ms = sgw_now_ms() };
    va_list ap;
    va_start(ap, fmt);
    sgw_outq_pushv(&c->outq, &o, j->id, pmid, code, fmt, ap);
    va_end(ap);
    rc_acct *a = j->acct;
    int in_lane = j->in_lane;
    char from[24];
    snprintf(from, sizeof from, "%s", j->from);
    job_free(j);
    if (in_lane)
        lane_leave(c, a, from);
}

/* RingCentral's error body: {"errorCode", "message", "errors": [...]} for
 * the REST API, {"error", "error_description"} for OAuth. */
static void rc_error_text(const rc_job *j, char *code, size_t codesz, char *msg, size_t msgsz)
{
    sgw_rc_error_text(j->resp.body, code, codesz, msg, msgsz);
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
    j->easy = sgw_curlreq_new(url, c->timeout_ms, c->connect_timeout_ms, &j->resp, RC_RESP_MAX,
                              j);
    if (!j->easy)
        return -1;
    CURL *e = j->easy;
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
    sgw_curlreq_drop(&j->easy, &j->hdrs, &j->post, &j->resp);
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
    if (j->ext_phase) /* the token owner's numbers: the list with features (README 2) */
        snprintf(url, sizeof url,
                 "%s/restapi/v1.0/account/~/extension/~/phone-number?perPage=1000&page=%d",
                 a->server, j->page);
    else
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
        j->next = NULL;
        job_abort(c, j, res, code, text); /* a query is dropped: the scheduler asks again */
        j = next;
    }
}

static void job_start_now(rc_conn *c, rc_job *j)
{
    if (curl_multi_add_handle(c->multi, j->easy) == CURLM_OK) {
        c->nactive++;
        sgw_active_add(&c->active, &j->act);
    } else {
        sgw_log(SGW_LOG_ERROR, "ringcentral", "curl refused a request");
        if (j->kind != JOB_TOKEN && j->kind != JOB_NUMBERS)
            job_abort(c, j, SGW_SEND_RETRY, "provider_unreachable",
                      "Cannot start a request to RingCentral");
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
        job_abort(c, j, SGW_SEND_PERMANENT, "provider_not_connected",
                  "RingCentral not connected for this tenant");
        return;
    }
    if (!a->token || a->token_exp_ms - c->token_margin_ms <= now) {
        if (a->token_err_permanent || (!a->jwt && !a->refresh)) {
            job_abort(c, j, SGW_SEND_PERMANENT, "provider_auth_failed", a->token_err);
            return;
        }
        if (a->token_retry_at > now && !a->token_busy) {
            job_abort(c, j, SGW_SEND_RETRY, "provider_auth_unavailable", a->token_err);
            return;
        }
        acct_wait(a, j);
        acct_fetch_token(c, a);
        return;
    }
    if (j->kind >= JOB_A2P_POST) { /* account-wide: no extension, no numbers */
        a2p_request(c, j);
        return;
    }
    if (!a->nums_at || now - a->nums_at > c->numbers_ttl_ms) {
        acct_wait(a, j);
        acct_fetch_numbers(c, a);
        return;
    }
    const rc_num *n = acct_number(a, j->from);
    if (!n || !(n->feat & (FEAT_SMS | FEAT_A2P))) {
        if (!j->numbers_retried && now - a->nums_at > c->miss_refresh_ms) {
            j->numbers_retried = 1;
            a->nums_at = 0; /* stale: the number may have been added since */
            acct_wait(a, j);
            acct_fetch_numbers(c, a);
            return;
        }
        if (j->kind != JOB_SEND)
            job_abort(c, j, SGW_SEND_RETRY, "provider_error", "the number list changed");
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
            job_abort(c, j, SGW_SEND_RETRY, "provider_error", "the number list changed");
        return;
    }
    /* an A2P number: sends go into a provider batch, queries to the A2P
     * message store */
    int a2p = (n->feat & FEAT_A2P) && c->a2p_max > 0;
    if (j->kind == JOB_SEND && a2p) {
        a2p_add(c, j);
        return;
    }
    if (j->kind == JOB_QUERY)
        j->a2p = a2p;
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
    } else if (j->kind == JOB_SMS_FIND) {
        /* the message store, newest first, from a little before the send
         * started (clocks differ), for this recipient */
        char since[32];
        sgw_time_format(since, j->started_ms - SMS_FIND_SKEW_MS);
        char *to = curl_easy_escape(NULL, j->to, 0), *ts = curl_easy_escape(NULL, since, 0);
        snprintf(url, sizeof url,
                 "%s/restapi/v1.0/account/~/extension/%s/message-store?direction=Outbound"
                 "&messageType=SMS&dateFrom=%s&phoneNumber=%s&perPage=100",
                 a->server, n->ext, ts ? ts : "", to ? to : "");
        curl_free(to);
        curl_free(ts);
        if (job_http(c, j, url, NULL, 0, a->token, NULL, NULL) != 0) {
            job_abort(c, j, SGW_SEND_RETRY, "provider_unreachable",
                      "Cannot start a request to RingCentral");
            return;
        }
    } else {
        if (j->a2p)
            snprintf(url, sizeof url, "%s/restapi/v1.0/account/~/a2p-sms/messages/%s", a->server,
                     j->pmid);
        else
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
        int got = sgw_rc_token_parse(j->resp.body, now, &t);
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
    a->token_retry_at = now + (j->resp.retry_after_ms > c->token_retry_ms
                                   ? j->resp.retry_after_ms
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

/* A number of the owner's list with its features: they replace the
 * account list's guess (which has none). */
static void numbers_features(void *ctx, const char *phone, unsigned feat)
{
    rc_job *j = ctx;
    for (int i = 0; i < j->nnums; i++)
        if (strcmp(j->nums[i].phone, phone) == 0)
            j->nums[i].feat = feat;
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
    if (st == 200 && !j->ext_phase) {
        int64_t pages = sgw_rc_numbers_page(j->resp.body, numbers_add, j);
        if (pages > j->page && j->page < 100) {
            j->page++;
            acct_fetch_numbers_page(c, j);
            return;
        }
        /* then the features of the owner's numbers (A2PSmsSender) */
        j->ext_phase = 1;
        j->page = 1;
        acct_fetch_numbers_page(c, j);
        return;
    }
    if (j->ext_phase) {
        int64_t pages = st == 200 ? sgw_rc_features_page(j->resp.body, numbers_features, j) : -1;
        if (pages > j->page && j->page < 100) {
            j->page++;
            acct_fetch_numbers_page(c, j);
            return;
        }
        if (pages < 0) /* the account's list alone still serves /sms */
            sgw_log(SGW_LOG_WARN, "ringcentral", "%s: the extension's numbers (features) could "
                    "not be read (HTTP %ld): A2P is off for now", a->tenant, st);
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
    sgw_timer_add(&c->timers, &j->tm, due);
}

/* Ask again at due: j's request starts afresh then, with a 401 retry of
 * its own. */
static void job_later(rc_conn *c, rc_job *j, int64_t due)
{
    job_reset_http(j);
    j->auth_retried = 0;
    timer_add(c, j, due);
}

/* Every answer's 401: the token died. Once per request, forget it (unless
 * a newer one came meanwhile) and run j again, which fetches another: 1
 * if so (j is taken), 0 for any other answer or a second 401. */
static int job_auth_retry(rc_conn *c, rc_job *j, long st)
{
    if (st != 401 || j->auth_retried)
        return 0;
    j->auth_retried = 1;
    if (j->token_gen == j->acct->token_gen)
        str_wipe(&j->acct->token); /* dead: the next job_run fetches another */
    job_run(c, j);
    return 1;
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

/* The request may have reached RingCentral, but its answer did not reach
 * us: the message (or batch) may exist. */
static int answer_lost(CURLcode cr)
{
    return cr == CURLE_OPERATION_TIMEDOUT || cr == CURLE_GOT_NOTHING || cr == CURLE_RECV_ERROR ||
           cr == CURLE_SEND_ERROR || cr == CURLE_PARTIAL_FILE;
}

static void done_send(rc_conn *c, rc_job *j, CURLcode cr)
{
    if (cr != CURLE_OK) {
        int timeout = cr == CURLE_OPERATION_TIMEDOUT;
        if (c->lookup_lost && answer_lost(cr)) {
            /* never RETRY (and maybe fail over) a message that may be
             * out: look it up first (the lane is kept meanwhile) */
            sgw_log(SGW_LOG_INFO, "ringcentral", "%s: %s; looking it up", j->id,
                    curl_easy_strerror(cr));
            j->kind = JOB_SMS_FIND;
            j->find_timeout = timeout;
            j->auth_retried = 0;
            job_run(c, j);
            return;
        }
        job_finish(c, j, SGW_SEND_RETRY, NULL, timeout ? "timeout" : "provider_unreachable",
                   timeout ? "RingCentral did not answer in time" : "Cannot reach RingCentral: %s",
                   curl_easy_strerror(cr));
        return;
    }
    long st = job_status(j);
    if (st >= 200 && st < 300) {
        char pmid[64];
        sgw_rc_message_id(j->resp.body, pmid);
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
    if (job_auth_retry(c, j, st))
        return;
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
    if (job_auth_retry(c, j, st))
        return;
    char why[160];
    int verdict = 0;
    if (st == 200 && j->a2p) {
        sgw_rc_a2p_msg m;
        void *keep = NULL;
        if (sgw_rc_a2p_message_parse(j->resp.body, &m, &keep)) {
            if (m.status == SGW_A2P_DELIVERED)
                verdict = 1;
            else if (m.status == SGW_A2P_DELIVERY_FAILED || m.status == SGW_A2P_SENDING_FAILED) {
                snprintf(why, sizeof why, "RingCentral reports %s%s%s",
                         m.status == SGW_A2P_SENDING_FAILED ? "SendingFailed" : "DeliveryFailed",
                         m.error_code ? ": " : "", m.error_code ? m.error_code : "");
                verdict = -1;
            }
        }
        sgw_rc_a2p_release(keep);
    } else if (st == 200) {
        verdict = sgw_rc_message_status(j->resp.body, why, sizeof why);
    }
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
        job_later(c, j, sgw_now_ms() + j->poll_gap_ms);
        return;
    }
    job_free(j);
}

/* ---------------------------------------------------------------- lost answers */

/* A send's answer was lost (SMS_FIND): found -> sent with the found id;
 * not found -> RETRY; the lookup itself failing is tried FIND_TRIES
 * times, then RETRY (the only case left where a message could go twice). */
static void sms_find_failed(rc_conn *c, rc_job *j, const char *why)
{
    if (++j->find_tries < FIND_TRIES) {
        job_later(c, j, sgw_now_ms() + 1000LL * j->find_tries);
        return;
    }
    job_finish(c, j, SGW_SEND_RETRY, NULL, j->find_timeout ? "timeout" : "provider_unreachable",
               "RingCentral did not answer, and the message could not be looked up: %s", why);
}

static void done_sms_find(rc_conn *c, rc_job *j, CURLcode cr)
{
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (job_auth_retry(c, j, st))
        return;
    char pmid[64];
    int found = st == 200 ? sgw_rc_find_sent(j->resp.body, j->from, j->to,
                                             j->body ? j->body : "",
                                             j->started_ms - SMS_FIND_SKEW_MS, pmid)
                          : -1;
    if (found < 0) {
        char why[96];
        if (cr != CURLE_OK)
            snprintf(why, sizeof why, "%s", curl_easy_strerror(cr));
        else
            snprintf(why, sizeof why, "HTTP %ld", st);
        sms_find_failed(c, j, why);
        return;
    }
    if (found) {
        sgw_log(SGW_LOG_INFO, "ringcentral", "%s: its lost answer was %s: sent", j->id, pmid);
        follow_up(c, j, pmid);
        job_finish(c, j, SGW_SEND_OK, pmid, NULL, NULL);
        return;
    }
    job_finish(c, j, SGW_SEND_RETRY, NULL, j->find_timeout ? "timeout" : "provider_unreachable",
               "%s", j->find_timeout ? "RingCentral did not answer in time (the message was not made)"
                                     : "The connection to RingCentral broke (the message was not made)");
}

/* ---------------------------------------------------------------- A2P batches */

static void batch_free(rc_batch *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->items[i].body);
    free(b->items);
    free(b);
}

static void a2p_emit(rc_conn *c, a2p_item *it, int kind, sgw_send_result res, const char *pmid,
                     const char *code, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* An outcome of one of a batch's messages. */
static void a2p_emit(rc_conn *c, a2p_item *it, int kind, sgw_send_result res, const char *pmid,
                     const char *code, const char *fmt, ...)
{
    sgw_tr_outcome o = { .kind = kind, .result = res, .attempt = it->attempt,
                         .started_ms = it->started_ms, .finished_ms = sgw_now_ms() };
    va_list ap;
    va_start(ap, fmt);
    sgw_outq_pushv(&c->outq, &o, it->id, pmid, code, fmt, ap);
    va_end(ap);
}

/* Free b when none of its messages waits for anything: 1 if freed. */
static int a2p_maybe_free(rc_conn *c, rc_batch *b)
{
    for (int i = 0; i < b->n; i++)
        if (b->items[i].state != ITEM_DONE)
            return 0;
    for (rc_batch **pp = &c->batches; *pp; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    batch_free(b);
    return 1;
}

/* Every message still without a send result gets this one. */
static void a2p_fail_waiting(rc_conn *c, rc_batch *b, sgw_send_result res, int64_t retry_after_ms,
                             const char *code, const char *msg)
{
    for (int i = 0; i < b->n; i++) {
        a2p_item *it = &b->items[i];
        if (it->state != ITEM_WAIT)
            continue;
        a2p_emit(c, it, SGW_TR_SEND_DONE, res, NULL, code, "%s", msg);
        sgw_outq_last(&c->outq)->retry_after_ms = retry_after_ms;
        it->state = ITEM_DONE;
    }
}

/* The batch is followed no longer (a2p_follow_max_s, or RingCentral lost
 * it): messages without a result were accepted by the POST, so they are
 * sent (without RingCentral's id); delivery is left to the scheduler's
 * checks. */
static void a2p_give_up(rc_conn *c, rc_job *j, const char *why)
{
    rc_batch *b = j->batch;
    int waiting = 0;
    for (int i = 0; i < b->n; i++) {
        a2p_item *it = &b->items[i];
        if (it->state == ITEM_WAIT) {
            a2p_emit(c, it, SGW_TR_SEND_DONE, SGW_SEND_OK, NULL, NULL, NULL);
            waiting++;
        }
        it->state = ITEM_DONE;
    }
    if (waiting)
        sgw_log(SGW_LOG_WARN, "ringcentral", "%s: batch %s: %s; %d messages counted sent",
                b->acct->tenant, b->bid, why, waiting);
    job_free(j);
    a2p_maybe_free(c, b);
}

/* Ask again later (gap doubling up to 5 s), within a2p_follow_max_s. */
static void a2p_later(rc_conn *c, rc_job *j, const char *why)
{
    rc_batch *b = j->batch;
    int64_t now = sgw_now_ms();
    if (now >= b->follow_until_ms) {
        a2p_give_up(c, j, why);
        return;
    }
    b->gap_ms = b->gap_ms ? b->gap_ms * 2 : c->a2p_poll_ms;
    if (b->gap_ms > 5000)
        b->gap_ms = 5000;
    job_later(c, j, now + b->gap_ms);
}

/* A job that cannot go on (see the callers): what it means for its kind. */
static void job_abort(rc_conn *c, rc_job *j, sgw_send_result res, const char *code,
                      const char *msg)
{
    switch (j->kind) {
    case JOB_SEND:
        job_finish(c, j, res, NULL, code, "%s", msg);
        return;
    case JOB_SMS_FIND:
        sms_find_failed(c, j, msg);
        return;
    case JOB_A2P_POST: {
        rc_batch *b = j->batch;
        a2p_fail_waiting(c, b, res, 0, code, msg);
        job_free(j);
        a2p_maybe_free(c, b);
        return;
    }
    case JOB_A2P_FIND:
        if (++j->find_tries < FIND_TRIES) {
            job_later(c, j, sgw_now_ms() + 1000LL * j->find_tries);
        } else {
            rc_batch *b = j->batch;
            a2p_fail_waiting(c, b, SGW_SEND_RETRY, 0, "timeout", msg);
            job_free(j);
            a2p_maybe_free(c, b);
        }
        return;
    case JOB_A2P_STATUS:
    case JOB_A2P_LIST:
        a2p_later(c, j, msg);
        return;
    default:
        job_free(j); /* a query: the scheduler asks again later */
        return;
    }
}

/* Start posting b. */
static void a2p_post(rc_conn *c, rc_batch *b)
{
    b->posted = 1;
    b->posted_ms = sgw_now_ms();
    rc_job *j = calloc(1, sizeof *j);
    if (!j) {
        a2p_fail_waiting(c, b, SGW_SEND_RETRY, 0, "provider_busy", "Out of memory");
        a2p_maybe_free(c, b);
        return;
    }
    j->kind = JOB_A2P_POST;
    j->acct = b->acct;
    j->batch = b;
    j->started_ms = b->posted_ms;
    snprintf(j->from, sizeof j->from, "%s", b->from);
    job_run(c, j);
}

/* A send from an A2P number joins the gathering batch of its tenant and
 * number (a new one when there is none, or when the batch already has this
 * recipient: one message per recipient per batch, so answers map back). */
static void a2p_add(rc_conn *c, rc_job *j)
{
    rc_batch *b;
    for (b = c->batches; b; b = b->next)
        if (!b->posted && b->acct == j->acct && strcmp(b->from, j->from) == 0)
            break;
    if (b)
        for (int i = 0; i < b->n; i++)
            if (strcmp(b->items[i].to, j->to) == 0) {
                a2p_post(c, b);
                b = NULL;
                break;
            }
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b) {
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_busy", "Out of memory");
            return;
        }
        b->acct = j->acct;
        snprintf(b->from, sizeof b->from, "%s", j->from);
        b->open_ms = sgw_now_ms();
        b->next = c->batches;
        c->batches = b;
    }
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 16;
        a2p_item *v = realloc(b->items, sizeof *v * (size_t)cap);
        if (!v) {
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_busy", "Out of memory");
            a2p_maybe_free(c, b);
            return;
        }
        b->items = v;
        b->cap = cap;
    }
    a2p_item *it = &b->items[b->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->id, sizeof it->id, "%s", j->id);
    snprintf(it->to, sizeof it->to, "%s", j->to);
    it->body = j->body;
    j->body = NULL;
    it->attempt = j->attempt;
    it->started_ms = j->started_ms;
    job_free(j);
    if (b->n >= c->a2p_max)
        a2p_post(c, b);
}

/* The request of an A2P job (its token is fresh: job_run). */
static void a2p_request(rc_conn *c, rc_job *j)
{
    rc_batch *b = j->batch;
    rc_acct *a = j->acct;
    char url[2048];
    char *body = NULL;
    job_reset_http(j);
    j->token_gen = a->token_gen;
    if (j->kind == JOB_A2P_POST) {
        /* {from, text?, messages: [{to: [..], text?}]}: a text shared by
         * all goes once, at the top */
        snprintf(url, sizeof url, "%s/restapi/v1.0/account/~/a2p-sms/batches", a->server);
        int same = 1;
        for (int i = 1; i < b->n && same; i++)
            same = strcmp(b->items[i].body, b->items[0].body) == 0;
        json_t *req = json_pack("{s:s}", "from", b->from), *msgs = json_array();
        if (req && same && b->n > 0)
            json_object_set_new(req, "text", json_string(b->items[0].body));
        for (int i = 0; req && msgs && i < b->n; i++) {
            json_t *m = json_pack("{s:[s]}", "to", b->items[i].to);
            if (m && !same)
                json_object_set_new(m, "text", json_string(b->items[i].body));
            json_array_append_new(msgs, m);
        }
        if (req)
            json_object_set(req, "messages", msgs);
        json_decref(msgs);
        body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        if (!body) {
            job_abort(c, j, SGW_SEND_RETRY, "provider_busy", "Out of memory");
            return;
        }
    } else if (j->kind == JOB_A2P_STATUS) {
        snprintf(url, sizeof url, "%s/restapi/v1.0/account/~/a2p-sms/batches/%s", a->server,
                 b->bid);
    } else if (j->kind == JOB_A2P_LIST) {
        char *bid = curl_easy_escape(NULL, b->bid, 0), *pt = curl_easy_escape(NULL, j->ptoken, 0);
        snprintf(url, sizeof url,
                 "%s/restapi/v1.0/account/~/a2p-sms/messages?batchId=%s&view=Detailed"
                 "&perPage=1000%s%s",
                 a->server, bid ? bid : "", j->ptoken[0] ? "&pageToken=" : "", pt ? pt : "");
        curl_free(bid);
        curl_free(pt);
    } else { /* JOB_A2P_FIND */
        char since[32];
        sgw_time_format(since, b->posted_ms - SMS_FIND_SKEW_MS);
        char *from = curl_easy_escape(NULL, b->from, 0), *ts = curl_easy_escape(NULL, since, 0);
        snprintf(url, sizeof url,
                 "%s/restapi/v1.0/account/~/a2p-sms/batches?from=%s&dateFrom=%s&perPage=1000%s%s",
                 a->server, from ? from : "", ts ? ts : "", j->ptoken[0] ? "&pageToken=" : "",
                 j->ptoken);
        curl_free(from);
        curl_free(ts);
    }
    int rv = job_http(c, j, url, body, 0, a->token, NULL, NULL);
    free(body);
    if (rv != 0) {
        job_abort(c, j, SGW_SEND_RETRY, "provider_unreachable",
                  "Cannot start a request to RingCentral");
        return;
    }
    job_start(c, j);
}

/* After the POST (or an adoption): follow the batch. */
static void a2p_follow(rc_conn *c, rc_job *j, int64_t delay_ms)
{
    rc_batch *b = j->batch;
    j->kind = JOB_A2P_STATUS;
    j->auth_retried = 0;
    b->gap_ms = 0;
    b->follow_until_ms = sgw_now_ms() + c->a2p_follow_ms;
    job_reset_http(j);
    timer_add(c, j, sgw_now_ms() + delay_ms);
}

typedef struct rej_ctx {
    rc_conn *c;
    rc_batch *b;
} rej_ctx;

static void a2p_on_rejected(void *ctx, int64_t index, const char *to, const char *code,
                            const char *desc)
{
    rej_ctx *x = ctx;
    a2p_item *it = NULL;
    if (index >= 1 && index <= x->b->n && strcmp(x->b->items[index - 1].to, to) == 0)
        it = &x->b->items[index - 1];
    for (int i = 0; !it && i < x->b->n; i++) /* the index disagrees: the number decides */
        if (strcmp(x->b->items[i].to, to) == 0)
            it = &x->b->items[i];
    if (!it || it->state != ITEM_WAIT)
        return;
    a2p_emit(x->c, it, SGW_TR_SEND_DONE, SGW_SEND_REJECTED, NULL, code[0] ? code : "rejected",
             "RingCentral rejected the recipient: %s", desc[0] ? desc : "no reason given");
    it->state = ITEM_DONE;
}

static void done_a2p_post(rc_conn *c, rc_job *j, CURLcode cr)
{
    rc_batch *b = j->batch;
    rc_acct *a = j->acct;
    if (cr != CURLE_OK) {
        if (c->lookup_lost && answer_lost(cr)) {
            sgw_log(SGW_LOG_INFO, "ringcentral", "%s: batch of %d from %s: %s; looking it up",
                    a->tenant, b->n, b->from, curl_easy_strerror(cr));
            j->kind = JOB_A2P_FIND;
            j->auth_retried = 0;
            j->ptoken[0] = '\0';
            job_run(c, j);
            return;
        }
        char msg[200];
        snprintf(msg, sizeof msg, "%s: %s",
                 cr == CURLE_OPERATION_TIMEDOUT ? "RingCentral did not answer in time"
                                                : "Cannot reach RingCentral",
                 curl_easy_strerror(cr));
        a2p_fail_waiting(c, b, SGW_SEND_RETRY, 0,
                         cr == CURLE_OPERATION_TIMEDOUT ? "timeout" : "provider_unreachable", msg);
        job_free(j);
        a2p_maybe_free(c, b);
        return;
    }
    long st = job_status(j);
    if (st >= 200 && st < 300) {
        sgw_rc_a2p_batch info;
        rej_ctx x = { c, b };
        sgw_rc_a2p_rejected(j->resp.body, a2p_on_rejected, &x);
        if (!sgw_rc_a2p_batch_parse(j->resp.body, &info)) {
            /* accepted, but we cannot follow it: still sent */
            sgw_log(SGW_LOG_WARN, "ringcentral", "%s: batch answer %ld without an id",
                    a->tenant, st);
            a2p_fail_waiting(c, b, SGW_SEND_OK, 0, NULL, "");
            job_free(j);
            a2p_maybe_free(c, b);
            return;
        }
        snprintf(b->bid, sizeof b->bid, "%s", info.id);
        if (a2p_maybe_free(c, b)) { /* every recipient was rejected */
            job_free(j);
            return;
        }
        a2p_follow(c, j, c->a2p_poll_ms);
        return;
    }
    char code[64], msg[200], text[300];
    rc_error_text(j, code, sizeof code, msg, sizeof msg);
    if (job_auth_retry(c, j, st))
        return;
    if (st == 429) {
        snprintf(text, sizeof text, "RingCentral rate limit reached: %s", msg);
        a2p_fail_waiting(c, b, SGW_SEND_RETRY, j->resp.retry_after_ms, "provider_rate_limited",
                         text);
    } else if (st == 401 || st >= 500 || st == 408) {
        snprintf(text, sizeof text, "RingCentral error %ld: %s", st, msg);
        a2p_fail_waiting(c, b, SGW_SEND_RETRY, j->resp.retry_after_ms, "provider_error", text);
    } else {
        snprintf(text, sizeof text, "RingCentral refused the batch: %s%s%s%s", msg,
                 code[0] ? " (" : "", code, code[0] ? ")" : "");
        a2p_fail_waiting(c, b, SGW_SEND_PERMANENT, 0, "provider_rejected", text);
    }
    job_free(j);
    a2p_maybe_free(c, b);
}

static void done_a2p_status(rc_conn *c, rc_job *j, CURLcode cr)
{
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (job_auth_retry(c, j, st))
        return;
    sgw_rc_a2p_batch info;
    if (st == 200 && sgw_rc_a2p_batch_parse(j->resp.body, &info) &&
        (info.completed || (info.size >= 0 && info.processed >= info.size))) {
        j->kind = JOB_A2P_LIST;
        j->ptoken[0] = '\0';
        j->auth_retried = 0;
        j->batch->gap_ms = 0;
        job_run(c, j);
        return;
    }
    if (st == 404) {
        a2p_give_up(c, j, "RingCentral does not know the batch");
        return;
    }
    a2p_later(c, j, st == 200 ? "still processing" : "its status could not be read");
}

typedef struct list_ctx {
    rc_conn *c;
    rc_batch *b;
} list_ctx;

/* One record of the batch's message list: its message, by recipient. */
static void a2p_on_message(void *ctx, const sgw_rc_a2p_msg *m)
{
    list_ctx *x = ctx;
    rc_batch *b = x->b;
    if (!m->to)
        return;
    a2p_item *it = NULL;
    for (int i = 0; i < b->n && !it; i++)
        if (b->items[i].state != ITEM_DONE && strcmp(b->items[i].to, m->to) == 0 &&
            (!m->text || strcmp(m->text, b->items[i].body) == 0))
            it = &b->items[i];
    if (!it)
        return;
    b->matched++;
    const char *ec = m->error_code;
    if (it->state == ITEM_WAIT) {
        if (m->status == SGW_A2P_SENDING_FAILED) {
            a2p_emit(x->c, it, SGW_TR_SEND_DONE, SGW_SEND_PERMANENT, m->id, ec ? ec : "SendingFailed",
                     "RingCentral reports SendingFailed%s%s", ec ? ": " : "", ec ? ec : "");
            it->state = ITEM_DONE;
            return;
        }
        snprintf(it->pmid, sizeof it->pmid, "%s", m->id);
        a2p_emit(x->c, it, SGW_TR_SEND_DONE, SGW_SEND_OK, m->id, NULL, NULL);
        it->state = ITEM_SENT;
    }
    if (m->status == SGW_A2P_DELIVERED) {
        a2p_emit(x->c, it, SGW_TR_REPORT, SGW_SEND_OK, it->pmid, NULL, NULL);
        it->state = ITEM_DONE;
    } else if (m->status == SGW_A2P_DELIVERY_FAILED || m->status == SGW_A2P_SENDING_FAILED) {
        a2p_emit(x->c, it, SGW_TR_REPORT, SGW_SEND_PERMANENT, it->pmid, "undelivered",
                 "RingCentral reports %s%s%s",
                 m->status == SGW_A2P_DELIVERY_FAILED ? "DeliveryFailed" : "SendingFailed",
                 ec ? ": " : "", ec ? ec : "");
        it->state = ITEM_DONE;
    }
}

static void done_a2p_list(rc_conn *c, rc_job *j, CURLcode cr)
{
    rc_batch *b = j->batch;
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (job_auth_retry(c, j, st))
        return;
    char next[128];
    list_ctx x = { c, b };
    int got = st == 200 ? sgw_rc_a2p_messages_page(j->resp.body, a2p_on_message, &x, next,
                                                   sizeof next)
                        : -1;
    if (got < 0) {
        a2p_later(c, j, "its messages could not be listed");
        return;
    }
    if (next[0] && strcmp(next, j->ptoken) != 0) { /* the next page, at once */
        snprintf(j->ptoken, sizeof j->ptoken, "%s", next);
        j->auth_retried = 0;
        job_run(c, j);
        return;
    }
    /* a whole pass over the list is done */
    j->ptoken[0] = '\0';
    b->list_passes++;
    int waiting = 0, sent = 0;
    for (int i = 0; i < b->n; i++) {
        waiting += b->items[i].state == ITEM_WAIT;
        sent += b->items[i].state == ITEM_SENT;
    }
    if (waiting && b->adopted && !b->matched) {
        /* the batch a lookup found was not ours after all */
        a2p_fail_waiting(c, b, SGW_SEND_RETRY, 0, "timeout",
                         "RingCentral did not answer in time (the batch was not made)");
        waiting = 0;
    }
    if (waiting && b->list_passes >= 3) {
        a2p_give_up(c, j, "messages missing from its list");
        return;
    }
    if (waiting) {
        a2p_later(c, j, "messages missing from its list");
        return;
    }
    if (sent && c->poll_ms > 0 && b->dlr_passes < c->polls) {
        /* delivery: the list again, status_poll_ms later, gaps doubled */
        int64_t gap = c->poll_ms << (b->dlr_passes < 10 ? b->dlr_passes : 10);
        b->dlr_passes++;
        job_later(c, j, sgw_now_ms() + gap);
        return;
    }
    for (int i = 0; i < b->n; i++) /* left to the scheduler's delivery checks */
        b->items[i].state = ITEM_DONE;
    job_free(j);
    a2p_maybe_free(c, b);
}

typedef struct find_ctx {
    rc_conn *c;
    rc_batch *b;
    char found[64];
} find_ctx;

/* A batch of the list that could be ours: same number and size, made
 * after ours was posted (less the skew), not one we follow already. */
static void a2p_on_batch(void *ctx, const sgw_rc_a2p_batch *r)
{
    find_ctx *x = ctx;
    if (x->found[0] || strcmp(r->from, x->b->from) != 0 || r->size != x->b->n ||
        (r->created_ms && r->created_ms < x->b->posted_ms - SMS_FIND_SKEW_MS))
        return;
    for (rc_batch *o = x->c->batches; o; o = o->next)
        if (o != x->b && strcmp(o->bid, r->id) == 0)
            return;
    snprintf(x->found, sizeof x->found, "%s", r->id);
}

static void done_a2p_find(rc_conn *c, rc_job *j, CURLcode cr)
{
    rc_batch *b = j->batch;
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (job_auth_retry(c, j, st))
        return;
    find_ctx x = { .c = c, .b = b };
    char next[128];
    int got = st == 200 ? sgw_rc_a2p_batches_page(j->resp.body, a2p_on_batch, &x, next, sizeof next)
                        : -1;
    if (got < 0) {
        char why[96];
        snprintf(why, sizeof why, "RingCentral did not answer, and the batch could not be looked "
                 "up: %s", cr != CURLE_OK ? curl_easy_strerror(cr) : "bad answer");
        job_abort(c, j, SGW_SEND_RETRY, "timeout", why);
        return;
    }
    if (x.found[0]) {
        sgw_log(SGW_LOG_INFO, "ringcentral", "%s: the lost batch answer was %s", b->acct->tenant,
                x.found);
        snprintf(b->bid, sizeof b->bid, "%s", x.found);
        b->adopted = 1;
        j->ptoken[0] = '\0';
        a2p_follow(c, j, 0);
        return;
    }
    if (next[0] && strcmp(next, j->ptoken) != 0) {
        snprintf(j->ptoken, sizeof j->ptoken, "%s", next);
        j->auth_retried = 0;
        job_run(c, j);
        return;
    }
    a2p_fail_waiting(c, b, SGW_SEND_RETRY, 0, "timeout",
                     "RingCentral did not answer in time (the batch was not made)");
    job_free(j);
    a2p_maybe_free(c, b);
}

/* ---------------------------------------------------------------- curl glue */

/* A request of j is over (sgw_curlreq_drive). */
static void rc_done(void *conn, void *job, CURLcode cr)
{
    rc_conn *c = conn;
    rc_job *j = job;
    sgw_active_remove(&c->active, &j->act);
    c->nactive--;
    switch (j->kind) {
    case JOB_TOKEN: done_token(c, j, cr); break;
    case JOB_NUMBERS: done_numbers(c, j, cr); break;
    case JOB_SEND: done_send(c, j, cr); break;
    case JOB_QUERY: done_query(c, j, cr); break;
    case JOB_SMS_FIND: done_sms_find(c, j, cr); break;
    case JOB_A2P_POST: done_a2p_post(c, j, cr); break;
    case JOB_A2P_STATUS: done_a2p_status(c, j, cr); break;
    case JOB_A2P_LIST: done_a2p_list(c, j, cr); break;
    case JOB_A2P_FIND: done_a2p_find(c, j, cr); break;
    }
    start_pending(c);
}

/* ---------------------------------------------------------------- ops */

static sgw_err rc_create(void **conn, const sgw_cfg *cfg, const sgw_tr_host *host)
{
    sgw_curlreq_global_init();
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
    c->a2p_max = (int)sgw_cfg_int(cfg, "transport.ringcentral.a2p_batch_max");
    c->a2p_linger_ms = sgw_cfg_int(cfg, "transport.ringcentral.a2p_linger_ms");
    c->a2p_poll_ms = sgw_cfg_int(cfg, "transport.ringcentral.a2p_status_poll_ms");
    if (c->a2p_poll_ms < 10)
        c->a2p_poll_ms = 10;
    c->a2p_follow_ms = sgw_cfg_int(cfg, "transport.ringcentral.a2p_follow_max_s") * 1000;
    if (c->a2p_follow_ms <= 0)
        c->a2p_follow_ms = 120000;
    c->lookup_lost = sgw_cfg_bool(cfg, "transport.ringcentral.lookup_lost_answers");
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
        rc_job *j = SGW_TIMER_JOB(c->active, rc_job, act);
        curl_multi_remove_handle(c->multi, j->easy);
        sgw_active_remove(&c->active, &j->act);
        job_free(j);
    }
    for (sgw_timer *t; (t = sgw_timer_pop(&c->timers));)
        job_free(SGW_TIMER_JOB(t, rc_job, tm));
    for (int q = 0; q < 2; q++)
        while (c->startq_head[q]) {
            rc_job *j = c->startq_head[q];
            c->startq_head[q] = j->next;
            job_free(j);
        }
    while (c->batches) {
        rc_batch *b = c->batches;
        c->batches = b->next;
        batch_free(b);
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
    sgw_outq_free(&c->outq);
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

/* A follow-up's time has come (sgw_timer_run_due). */
static void rc_due(void *conn, sgw_timer *t)
{
    job_run(conn, SGW_TIMER_JOB(t, rc_job, tm));
}

static int rc_poll(void *conn, int64_t now, sgw_tr_outcome *out, int max)
{
    rc_conn *c = conn;
    /* provider batches whose linger is over (posting may free one: look
     * again from the start after each) */
    for (rc_batch *b = c->batches; b;) {
        if (!b->posted && b->open_ms + c->a2p_linger_ms <= now) {
            a2p_post(c, b);
            b = c->batches;
        } else {
            b = b->next;
        }
    }
    /* follow-ups that are due */
    sgw_timer_run_due(&c->timers, now, rc_due, c);
    sgw_curlreq_drive(&c->cp, c->multi, rc_done, c);
    return sgw_outq_pop(&c->outq, out, max, &c->inflight);
}

static int64_t rc_next_deadline(void *conn)
{
    rc_conn *c = conn;
    if (c->outq.n > 0)
        return sgw_now_ms();
    int64_t d = sgw_timer_earliest(c->timers, c->cp.due);
    for (rc_batch *b = c->batches; b; b = b->next)
        if (!b->posted && (d < 0 || b->open_ms + c->a2p_linger_ms < d))
            d = b->open_ms + c->a2p_linger_ms;
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
    sgw_curlreq_global_init();
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
    json_t *tok = st == 200 ? json_loads(j->resp.body ? j->resp.body : "", 0, NULL) : NULL;
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
    json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
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
            json_t *acc = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
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
