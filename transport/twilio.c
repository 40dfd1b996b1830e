/*
 * transport/twilio.c — Twilio's Programmable Messaging REST API
 * (transport/README.md, "Twilio", is the contract this follows, with its
 * sources).
 *
 * Per tenant (the `account` each message carries): {accountSid, authToken,
 * messagingServiceSid?}. Every call authenticates with HTTP Basic
 * (accountSid:authToken); there are no tokens to keep.
 *
 * A send is POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form
 * encoded: To, From, Body, MessagingServiceSid (when the connection names
 * one) and StatusCallback = <public base>/v1/webhooks/twilio/<tenant>
 * when the gateway has a public address (twilio.h sgw_twilio_public_base).
 *
 * Outcomes (transport/README.md, "How smsgw classifies Twilio's answers"):
 *   201 with a sid            OK, provider message id = the sid (SM...)
 *   429, 5xx                  RETRY (after Retry-After when given)
 *   401 / 20003               PERMANENT "Twilio rejected the credentials"
 *   21211 21214 21610 21612 21614 21408 21635 (the recipient)
 *                             REJECTED with Twilio's message and code
 *   any other 4xx             PERMANENT with Twilio's message and code
 *   no connection made, or nothing of the request sent
 *                             RETRY
 *
 * No double send on a timeout. When the POST timed out, or the connection
 * broke after (part of) the request went out, Twilio may have taken the
 * message; retrying at once (or failing over to another provider) could
 * send it twice. So the adapter first looks for it: GET .../Messages.json
 * ?To=&From=&DateSent>=<the attempt's UTC day>&PageSize=50 and takes a
 * message with our body, direction outbound-*, created no earlier than the
 * attempt's start minus lookup_skew_s. Found: OK with that sid (logged).
 * Not found: RETRY (the gateway may then retry or fail over: Twilio does
 * not have it). The look-up itself failing (timeout, 5xx) is tried again
 * lookup_attempts times, lookup_delay_ms apart (doubling); if it never
 * answers the outcome is RETRY with code provider_timeout_unconfirmed: the
 * one case where a duplicate is possible, logged as a warning. A message
 * Twilio creates later than the look-up (its queue lagging the answer by
 * more than the timeout) is not found either; Twilio gives no idempotency
 * key for Messages, so this is as far as the API allows.
 *
 * Delivery: Twilio posts status callbacks to the gateway
 * (http/h_twwebhook.c). Without a public address there are none: then the
 * adapter fetches GET .../Messages/{sid}.json status_poll_ms after the
 * send (then twice as far apart, status_polls times); so it does, from
 * lookup_delay_ms on, for a send found by a look-up, whose callbacks may
 * have come before smsgw knew its sid (a callback with an unknown sid is
 * ignored: it may be anyone's). query() fetches once
 * (the scheduler's delivery checks): delivered -> REPORT OK, undelivered
 * or failed -> REPORT PERMANENT with Twilio's ErrorCode; anything else is
 * not final yet.
 *
 * verify(): GET .../Accounts/{sid}.json with the credentials (401: refused;
 * 404: no such account), then the account's SMS-capable numbers
 * (IncomingPhoneNumbers.json, best effort) as facts.
 *
 * I/O: one libcurl multi handle per sender thread (at most max_connections
 * requests at once, the rest wait in order; a request's timeout counts
 * from when it enters curl). Everything belongs to one sender thread: no
 * locks.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/log.h"
#include "bus/util.h"
#include "transport/curlpoll.h"
#include "transport/curlreq.h"
#include "transport/outq.h"
#include "transport/transport.h"
#include "transport/twilio.h"

#define TW_RESP_MAX (4u << 20)

typedef enum { TW_SEND, TW_LOOKUP, TW_QUERY } tw_kind;

typedef struct tw_job {
    tw_kind kind;
    char tenant[32];
    char sid[40];            /* the account's */
    char *token;             /* its auth token (wiped when freed) */
    char mss[40];            /* messagingServiceSid, or "" */
    char id[24], to[24], from[24];
    char *body;
    char pmid[64];           /* QUERY: the message's sid */
    int attempt;
    int64_t started_ms;      /* the send's start (a LOOKUP keeps it) */
    int lookups_left;
    int64_t gap_ms;
    int polls_left;          /* QUERY of the adapter's own follow-up */
    int send_done;           /* its outcome is a SEND_DONE (counted in inflight) */
    CURL *easy;
    struct curl_slist *hdrs;
    char *post;
    sgw_curlresp resp;
    char cerr[CURL_ERROR_SIZE];
    struct tw_job *next;     /* start queue */
    sgw_active act;                /* in curl: the conn's active list */
    sgw_timer tm;            /* waiting in the conn's timers */
} tw_job;

typedef struct tw_conn {
    CURLM *multi;
    char base[512];          /* Twilio's API base, no trailing slash */
    char cb_base[512];       /* our public base, "" for no StatusCallback */
    int64_t timeout_ms, connect_timeout_ms, lookup_delay_ms, lookup_skew_ms, poll_ms;
    int lookup_attempts, polls;
    sgw_timer *timers;       /* jobs waiting for their time (tw_job.tm) */
    sgw_active *active;      /* jobs whose request is in curl */
    int nactive, max_active;
    tw_job *startq_head, *startq_tail;
    sgw_outq outq;           /* finished outcomes */
    int inflight;
    sgw_curlpoll cp;
} tw_conn;

/* ---------------------------------------------------------------- pure helpers */

int sgw_twilio_sid_ok(const char *s, const char *prefix)
{
    if (!s || strlen(s) != 34 || strncmp(s, prefix, 2) != 0)
        return 0;
    for (int i = 2; i < 34; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int sgw_twilio_signature(const char *auth_token, const char *url, const char *const *names,
                         const char *const *values, int n, char out[64])
{
    out[0] = '\0';
    int *ord = malloc(sizeof *ord * (size_t)(n > 0 ? n : 1));
    if (!ord)
        return -1;
    /* stable insertion sort by name: equal names keep their order */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && strcmp(names[ord[j - 1]], names[i]) > 0) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    size_t len = strlen(url);
    for (int i = 0; i < n; i++)
        len += strlen(names[i]) + strlen(values[i]);
    char *data = malloc(len + 1);
    if (!data) {
        free(ord);
        return -1;
    }
    size_t off = strlen(url);
    memcpy(data, url, off);
    for (int i = 0; i < n; i++) {
        size_t a = strlen(names[ord[i]]), b = strlen(values[ord[i]]);
        memcpy(data + off, names[ord[i]], a);
        off += a;
        memcpy(data + off, values[ord[i]], b);
        off += b;
    }
    data[off] = '\0';
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    int ok = HMAC(EVP_sha1(), auth_token, (int)strlen(auth_token), (const unsigned char *)data,
                  off, mac, &maclen) != NULL;
    free(data);
    free(ord);
    if (!ok)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
    return 0;
}

int sgw_twilio_public_base(const sgw_cfg *cfg, char *out, size_t outsz)
{
    const char *pub = sgw_cfg_str(cfg, "transport.twilio.public_url");
    if (!pub[0])
        pub = sgw_cfg_str(cfg, "rc_webhook.public_url");
    if (pub[0]) {
        size_t n = strlen(pub);
        while (n > 0 && pub[n - 1] == '/')
            n--;
        if (n == 0 || n >= outsz)
            return 0;
        snprintf(out, outsz, "%.*s", (int)n, pub);
        return 1;
    }
    const char *listen = sgw_cfg_str(cfg, "listen");
    if (strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
        strncmp(listen, "[::1]:", 6) == 0) {
        snprintf(out, outsz, "http://%s", listen);
        return 1;
    }
    return 0;
}

/* "Wed, 18 Aug 2010 20:01:40 +0000" (RFC 2822, Twilio's dates) -> wall
 * ms, or -1. */
static int64_t tw_parse_date(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char wd[8], mon[8], sign = '+';
    int d, y, h, mi, se, off = 0;
    if (!s || sscanf(s, "%7[A-Za-z], %d %7s %d %d:%d:%d %c%4d", wd, &d, mon, &y, &h, &mi, &se,
                     &sign, &off) < 7)
        return -1;
    const char *m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
    if (!m || (m - months) % 3 != 0)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = (int)((m - months) / 3), .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = se };
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    int64_t offs = (off / 100) * 3600 + (off % 100) * 60;
    return ((int64_t)t - (sign == '-' ? -offs : offs)) * 1000;
}

/* Twilio's error body {code, message, more_info, status}. */
static void tw_error_text(const char *resp, int *code, char *msg, size_t msgsz)
{
    *code = 0;
    msg[0] = '\0';
    json_t *o = resp ? json_loads(resp, 0, NULL) : NULL;
    json_t *c = json_object_get(o, "code");
    if (json_is_integer(c))
        *code = (int)json_integer_value(c);
    const char *m = json_string_value(json_object_get(o, "message"));
    snprintf(msg, msgsz, "%s", m ? m : "no error message");
    json_decref(o);
}

/* ---------------------------------------------------------------- jobs */

static void wipe(char **p)
{
    if (*p) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

static void job_reset_http(tw_job *j)
{
    sgw_curlreq_drop(&j->easy, &j->hdrs, &j->post, &j->resp);
    j->cerr[0] = '\0';
}

static void job_free(tw_job *j)
{
    if (!j)
        return;
    job_reset_http(j);
    wipe(&j->token);
    free(j->body);
    free(j);
}

static void job_finish(tw_conn *c, tw_job *j, sgw_send_result res, const char *pmid,
                       const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void job_finish(tw_conn *c, tw_job *j, sgw_send_result res, const char *pmid,
                       const char *code, const char *fmt, ...)
{
    sgw_tr_outcome o = { .kind = j->send_done ? SGW_TR_SEND_DONE : SGW_TR_REPORT,
                         .result = res, .attempt = j->attempt,
                         .retry_after_ms = j->resp.retry_after_ms, .started_ms = j->started_ms,
                         .finished_ms = sgw_now_ms() };
    va_list ap;
    va_start(ap, fmt);
    sgw_outq_pushv(&c->outq, &o, j->id, pmid, code, fmt, ap);
    va_end(ap);
    job_free(j);
}

/* Prepare j->easy: GET url, or POST the form (taken). */
static int job_http(const tw_conn *c, tw_job *j, const char *url, char *form)
{
    j->easy = sgw_curlreq_new(url, c->timeout_ms, c->connect_timeout_ms, &j->resp, TW_RESP_MAX, j);
    if (!j->easy) {
        wipe(&form);
        return -1;
    }
    CURL *e = j->easy;
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->cerr);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, j->sid);
    curl_easy_setopt(e, CURLOPT_PASSWORD, j->token ? j->token : "");
    j->hdrs = curl_slist_append(j->hdrs, "Accept: application/json");
    j->hdrs = curl_slist_append(j->hdrs, "Expect:");
    if (form) {
        j->post = form;
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->post);
        j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/x-www-form-urlencoded");
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
    return 0;
}

/* name=escaped(value), appended with & to *buf (heap). 0 ok. */
static int form_add(CURL *e, char **buf, const char *name, const char *value)
{
    char *v = curl_easy_escape(e, value ? value : "", 0);
    if (!v)
        return -1;
    size_t old = *buf ? strlen(*buf) : 0, n = old + strlen(name) + strlen(v) + 3;
    char *b = realloc(*buf, n);
    if (!b) {
        curl_free(v);
        return -1;
    }
    snprintf(b + old, n - old, "%s%s=%s", old ? "&" : "", name, v);
    *buf = b;
    curl_free(v);
    return 0;
}

static void job_start_now(tw_conn *c, tw_job *j)
{
    if (curl_multi_add_handle(c->multi, j->easy) == CURLM_OK) {
        c->nactive++;
        sgw_active_add(&c->active, &j->act);
        return;
    }
    sgw_log(SGW_LOG_ERROR, "twilio", "curl refused a request");
    if (j->kind == TW_SEND)
        job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_unreachable",
                   "Cannot start a request to Twilio");
    else if (j->kind == TW_LOOKUP)
        job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_timeout_unconfirmed",
                   "Twilio did not answer in time and the look-up could not start");
    else
        job_free(j);
}

static void job_start(tw_conn *c, tw_job *j)
{
    if (c->nactive < c->max_active) {
        job_start_now(c, j);
        return;
    }
    j->next = NULL;
    if (c->startq_tail)
        c->startq_tail->next = j;
    else
        c->startq_head = j;
    c->startq_tail = j;
}

static void start_pending(tw_conn *c)
{
    while (c->nactive < c->max_active && c->startq_head) {
        tw_job *j = c->startq_head;
        c->startq_head = j->next;
        if (!c->startq_head)
            c->startq_tail = NULL;
        j->next = NULL;
        job_start_now(c, j);
    }
}

static void timer_add(tw_conn *c, tw_job *j, int64_t due)
{
    sgw_timer_add(&c->timers, &j->tm, due);
}

/* Make j's request (by its kind) and start it. */
static void job_run(tw_conn *c, tw_job *j)
{
    char url[2048];
    job_reset_http(j);
    if (j->kind == TW_SEND) {
        snprintf(url, sizeof url, "%s/2010-04-01/Accounts/%s/Messages.json", c->base, j->sid);
        CURL *tmp = curl_easy_init();
        char *form = NULL;
        int bad = !tmp || form_add(tmp, &form, "To", j->to) ||
                  form_add(tmp, &form, "From", j->from) ||
                  form_add(tmp, &form, "Body", j->body);
        if (!bad && j->mss[0])
            bad = form_add(tmp, &form, "MessagingServiceSid", j->mss);
        if (!bad && c->cb_base[0]) {
            char cb[700];
            snprintf(cb, sizeof cb, "%s/v1/webhooks/twilio/%s", c->cb_base, j->tenant);
            bad = form_add(tmp, &form, "StatusCallback", cb);
        }
        if (tmp)
            curl_easy_cleanup(tmp);
        if (bad || job_http(c, j, url, bad ? NULL : form) != 0) {
            if (bad)
                wipe(&form);
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_unreachable",
                       "Cannot start a request to Twilio");
            return;
        }
    } else if (j->kind == TW_LOOKUP) {
        CURL *tmp = curl_easy_init();
        char *to = tmp ? curl_easy_escape(tmp, j->to, 0) : NULL;
        char *from = tmp ? curl_easy_escape(tmp, j->from, 0) : NULL;
        time_t day = (time_t)((j->started_ms - c->lookup_skew_ms) / 1000);
        struct tm tm;
        gmtime_r(&day, &tm);
        char date[16];
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        snprintf(url, sizeof url,
                 "%s/2010-04-01/Accounts/%s/Messages.json?To=%s&From=%s&DateSent%%3E=%s"
                 "&PageSize=50",
                 c->base, j->sid, to ? to : "", from ? from : "", date);
        curl_free(to);
        curl_free(from);
        if (tmp)
            curl_easy_cleanup(tmp);
        if (job_http(c, j, url, NULL) != 0) {
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_timeout_unconfirmed",
                       "Twilio did not answer in time and the look-up could not start");
            return;
        }
    } else {
        snprintf(url, sizeof url, "%s/2010-04-01/Accounts/%s/Messages/%s.json", c->base, j->sid,
                 j->pmid);
        if (job_http(c, j, url, NULL) != 0) {
            job_free(j);
            return;
        }
    }
    job_start(c, j);
}

/* ---------------------------------------------------------------- answers */

static long job_status(const tw_job *j)
{
    long st = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &st);
    return st;
}

/* Did any of the request leave? (curl counts the bytes of requests it
 * issued; 0: it never reached Twilio, so it is safe to send again.) */
static int request_left(const tw_job *j)
{
    long sent = 0;
    curl_easy_getinfo(j->easy, CURLINFO_REQUEST_SIZE, &sent);
    return sent > 0;
}

/* A recipient Twilio refuses: the message is rejected, not failed. */
static int recipient_code(int code)
{
    switch (code) {
    case 21211: /* invalid 'To' phone number */
    case 21214: /* 'To' phone number cannot be reached */
    case 21408: /* permission to send to this region not enabled */
    case 21610: /* the recipient unsubscribed (STOP) */
    case 21612: /* 'To' not reachable via this 'From' */
    case 21614: /* 'To' is not a valid mobile number */
    case 21635: /* 'To' cannot be a landline */
        return 1;
    default:
        return 0;
    }
}

static void follow_up(tw_conn *c, const tw_job *sent, const char *pmid);

static void done_send(tw_conn *c, tw_job *j, CURLcode cr)
{
    if (cr != CURLE_OK) {
        int left = request_left(j);
        if (!left || cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST ||
            cr == CURLE_COULDNT_RESOLVE_PROXY) {
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_unreachable",
                       "Cannot reach Twilio: %s", j->cerr[0] ? j->cerr : curl_easy_strerror(cr));
            return;
        }
        /* it may be at Twilio: look before anything is sent again */
        sgw_log(SGW_LOG_WARN, "twilio", "%s: %s after the request left; looking it up", j->id,
                cr == CURLE_OPERATION_TIMEDOUT ? "no answer in time" : curl_easy_strerror(cr));
        j->kind = TW_LOOKUP;
        j->lookups_left = c->lookup_attempts;
        j->gap_ms = c->lookup_delay_ms;
        job_run(c, j);
        return;
    }
    long st = job_status(j);
    if (st >= 200 && st < 300) {
        json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
        const char *sid = json_string_value(json_object_get(o, "sid"));
        char pmid[64] = "";
        if (sid && strlen(sid) < sizeof pmid)
            snprintf(pmid, sizeof pmid, "%s", sid);
        json_decref(o);
        if (!pmid[0])
            sgw_log(SGW_LOG_WARN, "twilio", "%s: answer %ld without a sid", j->id, st);
        else
            follow_up(c, j, pmid);
        job_finish(c, j, SGW_SEND_OK, pmid, NULL, NULL);
        return;
    }
    int code;
    char msg[200];
    tw_error_text(j->resp.body, &code, msg, sizeof msg);
    if (st == 429 || code == 20429)
        job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_rate_limited",
                   "Twilio rate limit reached: %s (%d)", msg, code);
    else if (st >= 500 || st == 408)
        job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_error", "Twilio error %ld: %s", st, msg);
    else if (st == 401 || code == 20003)
        job_finish(c, j, SGW_SEND_PERMANENT, NULL, "provider_auth_failed",
                   "Twilio rejected the credentials: %s (%d)", msg, code);
    else if (recipient_code(code))
        job_finish(c, j, SGW_SEND_REJECTED, NULL, "provider_rejected",
                   "Twilio refused the recipient: %s (%d)", msg, code);
    else
        job_finish(c, j, SGW_SEND_PERMANENT, NULL, "provider_rejected",
                   "Twilio refused the message: %s (%d)", msg, code);
}

/* The message of a timed-out send in a Messages list, or "". */
static void lookup_match(const tw_conn *c, const tw_job *j, char pmid[64])
{
    pmid[0] = '\0';
    json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
    size_t i;
    json_t *m;
    int64_t earliest = (j->started_ms / 1000) * 1000 - c->lookup_skew_ms;
    json_array_foreach(json_object_get(o, "messages"), i, m)
    {
        const char *sid = json_string_value(json_object_get(m, "sid"));
        const char *to = json_string_value(json_object_get(m, "to"));
        const char *from = json_string_value(json_object_get(m, "from"));
        const char *body = json_string_value(json_object_get(m, "body"));
        const char *dir = json_string_value(json_object_get(m, "direction"));
        int64_t created = tw_parse_date(json_string_value(json_object_get(m, "date_created")));
        if (sid && strlen(sid) < 64 && to && strcmp(to, j->to) == 0 && from &&
            strcmp(from, j->from) == 0 && body && strcmp(body, j->body ? j->body : "") == 0 &&
            (!dir || strncmp(dir, "outbound", 8) == 0) && created >= earliest) {
            snprintf(pmid, 64, "%s", sid);
            break; /* newest first: the latest such message */
        }
    }
    json_decref(o);
}

static void done_lookup(tw_conn *c, tw_job *j, CURLcode cr)
{
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (st == 200) {
        char pmid[64];
        lookup_match(c, j, pmid);
        if (pmid[0]) {
            sgw_log(SGW_LOG_INFO, "twilio", "%s: Twilio has it as %s: not sent again", j->id,
                    pmid);
            follow_up(c, j, pmid);
            job_finish(c, j, SGW_SEND_OK, pmid, NULL, NULL);
        } else {
            job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_timeout",
                       "Twilio did not answer in time (the message is not at Twilio)");
        }
        return;
    }
    if (st >= 400 && st < 500 && st != 429 && st != 408) {
        int code;
        char msg[200];
        tw_error_text(j->resp.body, &code, msg, sizeof msg);
        sgw_log(SGW_LOG_WARN, "twilio", "%s: look-up refused (HTTP %ld): %s", j->id, st, msg);
    } else if (j->lookups_left > 0) {
        j->lookups_left--;
        int64_t gap = j->gap_ms;
        j->gap_ms *= 2;
        job_reset_http(j);
        timer_add(c, j, sgw_now_ms() + gap);
        return;
    }
    sgw_log(SGW_LOG_WARN, "twilio", "%s: could not learn whether Twilio took the message "
            "(look-up: %s): it may be sent twice", j->id,
            cr != CURLE_OK ? curl_easy_strerror(cr) : "refused");
    job_finish(c, j, SGW_SEND_RETRY, NULL, "provider_timeout_unconfirmed",
               "Twilio did not answer in time, and whether it took the message is unknown");
}

static void done_query(tw_conn *c, tw_job *j, CURLcode cr)
{
    long st = cr == CURLE_OK ? job_status(j) : 0;
    const char *status = NULL;
    json_t *o = NULL;
    if (st == 200) {
        o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
        status = json_string_value(json_object_get(o, "status"));
    }
    if (status && strcmp(status, "delivered") == 0) {
        json_decref(o);
        job_finish(c, j, SGW_SEND_OK, j->pmid, NULL, NULL);
        return;
    }
    if (status && (strcmp(status, "undelivered") == 0 || strcmp(status, "failed") == 0)) {
        json_t *ec = json_object_get(o, "error_code");
        const char *em = json_string_value(json_object_get(o, "error_message"));
        char code[32] = "";
        if (json_is_integer(ec))
            snprintf(code, sizeof code, "%lld", (long long)json_integer_value(ec));
        else if (json_is_string(ec))
            snprintf(code, sizeof code, "%s", json_string_value(ec));
        char text[200];
        snprintf(text, sizeof text, "Twilio reports %s%s%s%s%s", status, code[0] ? ": error " : "",
                 code, em ? ": " : "", em ? em : "");
        json_decref(o);
        job_finish(c, j, SGW_SEND_PERMANENT, j->pmid, "undelivered", "%s", text);
        return;
    }
    json_decref(o);
    if (j->polls_left > 0) {
        j->polls_left--;
        int64_t gap = j->gap_ms;
        j->gap_ms *= 2;
        job_reset_http(j);
        timer_add(c, j, sgw_now_ms() + gap);
        return;
    }
    job_free(j);
}

static tw_job *job_copy(const tw_job *s, tw_kind kind)
{
    tw_job *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->kind = kind;
    memcpy(q->tenant, s->tenant, sizeof q->tenant);
    memcpy(q->sid, s->sid, sizeof q->sid);
    memcpy(q->mss, s->mss, sizeof q->mss);
    memcpy(q->id, s->id, sizeof q->id);
    memcpy(q->to, s->to, sizeof q->to);
    memcpy(q->from, s->from, sizeof q->from);
    q->token = s->token ? strdup(s->token) : NULL;
    q->attempt = s->attempt;
    q->started_ms = sgw_now_ms();
    if (s->token && !q->token) {
        free(q);
        return NULL;
    }
    return q;
}

/* Without status callbacks (or when they may have come before smsgw knew
 * the message's sid: a send found by a look-up): fetch the message later
 * for its delivery. */
static void follow_up(tw_conn *c, const tw_job *sent, const char *pmid)
{
    if ((c->cb_base[0] && sent->kind != TW_LOOKUP) || c->poll_ms <= 0 || c->polls <= 0)
        return;
    tw_job *q = job_copy(sent, TW_QUERY);
    if (!q)
        return;
    snprintf(q->pmid, sizeof q->pmid, "%s", pmid);
    q->polls_left = c->polls - 1;
    int64_t first = sent->kind == TW_LOOKUP ? c->lookup_delay_ms : c->poll_ms;
    q->gap_ms = first * 2;
    timer_add(c, q, sgw_now_ms() + first);
}

/* A request of j is over (sgw_curlreq_drive). */
static void tw_done(void *conn, void *job, CURLcode cr)
{
    tw_conn *c = conn;
    tw_job *j = job;
    sgw_active_remove(&c->active, &j->act);
    c->nactive--;
    switch (j->kind) {
    case TW_SEND: done_send(c, j, cr); break;
    case TW_LOOKUP: done_lookup(c, j, cr); break;
    case TW_QUERY: done_query(c, j, cr); break;
    }
    start_pending(c);
}

/* ---------------------------------------------------------------- ops */

static sgw_err tw_create(void **conn, const sgw_cfg *cfg, const sgw_tr_host *host)
{
    (void)host;
    sgw_curlreq_global_init();
    tw_conn *c = calloc(1, sizeof *c);
    if (!c)
        return SGW_ENOMEM;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return SGW_ENOMEM;
    }
    const char *base = sgw_cfg_str(cfg, "transport.twilio.base_url");
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    snprintf(c->base, sizeof c->base, "%.*s", (int)n, base);
    if (sgw_cfg_bool(cfg, "transport.twilio.status_callback") &&
        !sgw_twilio_public_base(cfg, c->cb_base, sizeof c->cb_base))
        c->cb_base[0] = '\0';
    c->timeout_ms = sgw_cfg_int(cfg, "transport.twilio.timeout_ms");
    c->connect_timeout_ms = sgw_cfg_int(cfg, "transport.twilio.connect_timeout_ms");
    c->lookup_attempts = (int)sgw_cfg_int(cfg, "transport.twilio.lookup_attempts");
    c->lookup_delay_ms = sgw_cfg_int(cfg, "transport.twilio.lookup_delay_ms");
    c->lookup_skew_ms = sgw_cfg_int(cfg, "transport.twilio.lookup_skew_s") * 1000;
    c->poll_ms = sgw_cfg_int(cfg, "transport.twilio.status_poll_ms");
    c->polls = (int)sgw_cfg_int(cfg, "transport.twilio.status_polls");
    c->max_active = (int)sgw_cfg_int(cfg, "transport.twilio.max_connections");
    if (c->max_active < 1)
        c->max_active = 1;
    if (c->lookup_delay_ms < 1)
        c->lookup_delay_ms = 1;
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_active);
    sgw_curlpoll_attach(&c->cp, c->multi, sgw_now_ms);
    *conn = c;
    return SGW_OK;
}

static void tw_destroy(void *conn)
{
    tw_conn *c = conn;
    if (!c)
        return;
    while (c->active) {
        tw_job *j = SGW_TIMER_JOB(c->active, tw_job, act);
        curl_multi_remove_handle(c->multi, j->easy);
        sgw_active_remove(&c->active, &j->act);
        job_free(j);
    }
    for (sgw_timer *t; (t = sgw_timer_pop(&c->timers));)
        job_free(SGW_TIMER_JOB(t, tw_job, tm));
    while (c->startq_head) {
        tw_job *j = c->startq_head;
        c->startq_head = j->next;
        job_free(j);
    }
    curl_multi_cleanup(c->multi);
    sgw_outq_free(&c->outq);
    sgw_curlpoll_free(&c->cp);
    free(c);
}

/* A job for sms with the tenant's credentials; NULL with *why set when the
 * connection lacks them. */
static tw_job *job_new(tw_kind kind, const sgw_tr_sms *sms, const char **why)
{
    *why = NULL;
    json_t *o = sms->account ? json_loads(sms->account, 0, NULL) : NULL;
    const char *sid = json_string_value(json_object_get(o, "accountSid"));
    const char *token = json_string_value(json_object_get(o, "authToken"));
    const char *mss = json_string_value(json_object_get(o, "messagingServiceSid"));
    tw_job *j = NULL;
    if (!sid || !token || !sgw_twilio_sid_ok(sid, "AC")) {
        *why = "Twilio not connected for this tenant";
        goto done;
    }
    j = calloc(1, sizeof *j);
    if (!j)
        goto done;
    j->kind = kind;
    snprintf(j->tenant, sizeof j->tenant, "%s", sms->tenant);
    snprintf(j->sid, sizeof j->sid, "%s", sid);
    snprintf(j->mss, sizeof j->mss, "%s", mss && strlen(mss) < sizeof j->mss ? mss : "");
    j->token = strdup(token);
    snprintf(j->id, sizeof j->id, "%s", sms->id);
    snprintf(j->to, sizeof j->to, "%s", sms->to);
    snprintf(j->from, sizeof j->from, "%s", sms->from);
    j->attempt = sms->attempt;
    j->started_ms = sgw_now_ms();
    if (!j->token) {
        free(j);
        j = NULL;
    }
done:
    json_decref(o);
    return j;
}

static sgw_err tw_submit(void *conn, const sgw_tr_sms *sms)
{
    tw_conn *c = conn;
    const char *why;
    tw_job *j = job_new(TW_SEND, sms, &why);
    if (!j && !why)
        return SGW_ENOMEM;
    c->inflight++;
    if (!j) {
        int64_t now = sgw_now_ms();
        sgw_tr_outcome o = { .kind = SGW_TR_SEND_DONE, .result = SGW_SEND_PERMANENT,
                             .attempt = sms->attempt, .started_ms = now, .finished_ms = now };
        snprintf(o.id, sizeof o.id, "%s", sms->id);
        snprintf(o.error_code, sizeof o.error_code, "provider_not_connected");
        snprintf(o.error_message, sizeof o.error_message, "%s", why);
        sgw_outq_push(&c->outq, &o);
        return SGW_OK;
    }
    j->send_done = 1;
    j->body = strdup(sms->body ? sms->body : "");
    if (!j->body) {
        c->inflight--;
        job_free(j);
        return SGW_ENOMEM;
    }
    job_run(c, j);
    return SGW_OK;
}

static sgw_err tw_query(void *conn, const sgw_tr_sms *sms, const char *provider_msg_id)
{
    tw_conn *c = conn;
    if (!provider_msg_id || !sgw_twilio_sid_ok(provider_msg_id, "SM"))
        return SGW_EINVAL;
    const char *why;
    tw_job *j = job_new(TW_QUERY, sms, &why);
    if (!j)
        return why ? SGW_EINVAL : SGW_ENOMEM;
    snprintf(j->pmid, sizeof j->pmid, "%s", provider_msg_id);
    job_run(c, j);
    return SGW_OK;
}

/* A follow-up's time has come (sgw_timer_run_due). */
static void tw_due(void *conn, sgw_timer *t)
{
    job_run(conn, SGW_TIMER_JOB(t, tw_job, tm));
}

static int tw_poll(void *conn, int64_t now, sgw_tr_outcome *out, int max)
{
    tw_conn *c = conn;
    sgw_timer_run_due(&c->timers, now, tw_due, c);
    sgw_curlreq_drive(&c->cp, c->multi, tw_done, c);
    return sgw_outq_pop(&c->outq, out, max, &c->inflight);
}

static int64_t tw_next_deadline(void *conn)
{
    tw_conn *c = conn;
    if (c->outq.n > 0)
        return sgw_now_ms();
    return sgw_timer_earliest(c->timers, c->cp.due);
}

static int tw_inflight(void *conn) { return ((tw_conn *)conn)->inflight; }

static int tw_fds(void *conn, struct pollfd *pfd, int max)
{
    return sgw_curlpoll_copy(&((tw_conn *)conn)->cp, pfd, max);
}

/* ---------------------------------------------------------------- verify */

static sgw_err tw_verify(const sgw_cfg *cfg, const char *account, char **info, char *why,
                         size_t whysz)
{
    sgw_curlreq_global_init();
    tw_conn c = { 0 };
    const char *base = sgw_cfg_str(cfg, "transport.twilio.base_url");
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    snprintf(c.base, sizeof c.base, "%.*s", (int)n, base);
    c.timeout_ms = sgw_cfg_int(cfg, "transport.twilio.timeout_ms");
    c.connect_timeout_ms = sgw_cfg_int(cfg, "transport.twilio.connect_timeout_ms");
    sgw_tr_sms sms = { .id = "", .tenant = "", .to = "", .from = "", .account = account };
    const char *bad;
    tw_job *j = job_new(TW_QUERY, &sms, &bad);
    json_t *facts = NULL;
    sgw_err rv = SGW_EINVAL;
    char url[2048];
    if (!j) {
        if (bad)
            snprintf(why, whysz, "accountSid must be AC followed by 32 hex digits");
        return bad ? SGW_EINVAL : SGW_ENOMEM;
    }
    json_t *acc = json_loads(account, 0, NULL);
    const char *mss = json_string_value(json_object_get(acc, "messagingServiceSid"));
    int mss_bad = json_object_get(acc, "messagingServiceSid") && !sgw_twilio_sid_ok(mss, "MG");
    json_decref(acc);
    if (mss_bad) {
        snprintf(why, whysz, "messagingServiceSid must be MG followed by 32 hex digits");
        goto done;
    }
    snprintf(url, sizeof url, "%s/2010-04-01/Accounts/%s.json", c.base, j->sid);
    if (job_http(&c, j, url, NULL) != 0) {
        rv = SGW_ENOMEM;
        goto done;
    }
    CURLcode cr = curl_easy_perform(j->easy);
    long st = cr == CURLE_OK ? job_status(j) : 0;
    if (cr != CURLE_OK) {
        snprintf(why, whysz, "Cannot reach Twilio at %s: %s", c.base, curl_easy_strerror(cr));
        rv = SGW_EIO;
        goto done;
    }
    if (st != 200) {
        int code;
        char msg[200];
        tw_error_text(j->resp.body, &code, msg, sizeof msg);
        if (st == 401 || code == 20003)
            snprintf(why, whysz, "Twilio rejected the credentials: %s (%d)", msg, code);
        else if (st == 404)
            snprintf(why, whysz, "Twilio has no account %s for these credentials: %s (%d)",
                     j->sid, msg, code);
        else
            snprintf(why, whysz, "Twilio could not check the credentials: HTTP %ld: %s", st, msg);
        rv = st >= 500 || st == 429 ? SGW_EIO : SGW_EINVAL;
        goto done;
    }
    facts = json_object();
    json_t *a = json_loads(j->resp.body ? j->resp.body : "", 0, NULL);
    const char *status = json_string_value(json_object_get(a, "status"));
    const char *fname = json_string_value(json_object_get(a, "friendly_name"));
    if (status && strcmp(status, "active") != 0) {
        snprintf(why, whysz, "Twilio account %s is %s, not active", j->sid, status);
        json_decref(a);
        goto done;
    }
    if (fname)
        json_object_set_new(facts, "friendlyName", json_string(fname));
    json_decref(a);
    /* its SMS-capable numbers (best effort: for people) */
    job_reset_http(j);
    snprintf(url, sizeof url, "%s/2010-04-01/Accounts/%s/IncomingPhoneNumbers.json?PageSize=1000",
             c.base, j->sid);
    if (job_http(&c, j, url, NULL) == 0 && curl_easy_perform(j->easy) == CURLE_OK &&
        job_status(j) == 200) {
        json_t *o = json_loads(j->resp.body ? j->resp.body : "", 0, NULL), *nums = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(o, "incoming_phone_numbers"), i, r)
        {
            const char *p = json_string_value(json_object_get(r, "phone_number"));
            json_t *can = json_object_get(json_object_get(r, "capabilities"), "sms");
            if (p && (!can || json_is_true(can)))
                json_array_append_new(nums, json_string(p));
        }
        json_object_set_new(facts, "numbers", nums);
        json_decref(o);
    }
    *info = json_dumps(facts, JSON_COMPACT);
    rv = *info ? SGW_OK : SGW_ENOMEM;
done:
    json_decref(facts);
    job_free(j);
    return rv;
}

const struct sgw_transport_ops sgw_transport_twilio = {
    .name = "twilio",
    .title = "Twilio",
    .supports = SGW_TR_SUPPORTS_QUERY | SGW_TR_NEEDS_ACCOUNT,
    .create = tw_create,
    .destroy = tw_destroy,
    .submit = tw_submit,
    .query = tw_query,
    .poll = tw_poll,
    .next_deadline = tw_next_deadline,
    .inflight = tw_inflight,
    .fds = tw_fds,
    .verify = tw_verify,
};
