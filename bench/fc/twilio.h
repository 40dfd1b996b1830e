/*
 * bench/fc/twilio.h — fakecarrier: a fake of Twilio's Programmable
 * Messaging API, in the same process as the fake RingCentral, following
 * transport/README.md ("Twilio", with its public sources).
 *
 * Identity (flags): --tw-account-sid AC00000000000000000000000000000001,
 * --tw-auth-token fake-twilio-token (HTTP Basic auth of every call: a
 * missing or wrong one is 401 {"code": 20003, "message": "Authenticate"});
 * numbers --tw-number +15552000001 (repeatable, the first replaces the
 * defaults +15552000001 and +15552000002); --tw-sms-url URL: where inbound
 * SMS to the numbers are posted (their SmsUrl; also POST
 * /_fake/twilio/config {"sms_url": URL}).
 *
 * Endpoints (base /2010-04-01/Accounts/{AccountSid}):
 *   GET  .json                         the account
 *   GET  /IncomingPhoneNumbers.json    its numbers (capabilities.sms true)
 *   POST /Messages.json                form To, From | MessagingServiceSid,
 *                                      Body, StatusCallback: 201 queued;
 *                                      Twilio's 400s: 21604/21211 To,
 *                                      21603/21606 From, 21602/21617 Body,
 *                                      21609 StatusCallback
 *   GET  /Messages/{Sid}.json          one message (404 20404)
 *   GET  /Messages.json                To, From, DateSent, DateSent>,
 *                                      DateSent< (YYYY-MM-DD; a message not
 *                                      yet sent counts with its creation
 *                                      date), PageSize (50, at most 1000);
 *                                      newest first; one page
 * A message becomes `sent` after ~latency_ms, then `delivered` (or
 * `undelivered` with ErrorCode 30003 for --undeliverable numbers)
 * dlr_delay_ms later; each of those two changes is posted to its
 * StatusCallback (form: AccountSid, ApiVersion, From, To, MessageSid,
 * MessageStatus, SmsSid, SmsStatus, ErrorCode when it failed) signed with
 * X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + the parameters'
 * names and values sorted by name)), from one poster thread, in order.
 *
 * Faults: the shared knobs apply to Twilio sends too: fail_next (one per
 * send that passed authentication, before the random rates), rate_5xx
 * (500 20500 / 503 20503), rate_429 (429 20429 + Retry-After),
 * rate_timeout and timeout_hold_ms (with timeout_after_create the message
 * is made first, then the answer is lost), rate_drop, latency_ms,
 * dlr_delay_ms, invalid_to (21211), undeliverable, webhook_timeout_ms.
 *
 * Control (no auth):
 *   POST /_fake/twilio/inbound {from, to, text, copies?}  an inbound SMS
 *        from `from` to the Twilio number `to`, posted (signed) to its
 *        SmsUrl `copies` times (1); answers {sid, responses: [HTTP status]}
 *   POST /_fake/twilio/config {sms_url?, number?}  the SmsUrl of every
 *        number, or of `number` only
 *   GET  /_fake/messages lists Twilio messages too ("provider": "twilio",
 *        "sid"; ?provider=twilio|ringcentral filters); /_fake/stats has
 *        "twilio": {...}; POST /_fake/reset clears them.
 */
#ifndef FC_TWILIO_H
#define FC_TWILIO_H

#include <openssl/hmac.h>

#define TW_MAX_NUMS 32
#define TW_MAX_BODY_CHARS 1600

typedef enum { TWS_QUEUED, TWS_SENT, TWS_DELIVERED, TWS_UNDELIVERED, TWS_RECEIVED } tw_status;
static const char *const tw_status_names[] = { "queued", "sent", "delivered", "undelivered",
                                               "received" };

typedef struct tw_msg {
    long long seq;
    char sid[40];
    char from[FC_PHONE], to[FC_PHONE];
    char *body;
    char *callback;
    int inbound, undeliverable, error_code, attempt;
    tw_status status;
    int64_t created, sent, updated; /* wall ms; sent 0 until sent */
} tw_msg;

typedef struct tw_timer {
    int64_t due; /* monotonic */
    long long seq;
} tw_timer;

typedef struct tw_cb {
    struct tw_cb *next;
    char *url;
    char *form;
    char sig[64];
} tw_cb;

static struct tw_state {
    char account[40];
    char token[128];
    struct {
        char phone[FC_PHONE];
        char sms_url[1024];
    } nums[TW_MAX_NUMS];
    size_t nnums;
    char sms_url[1024];
    /* under G.mu */
    tw_msg **ring;
    long long first, next;
    tw_timer *heap;
    size_t nheap, capheap;
    tw_cb *cb_head, *cb_tail;
    size_t ncb;
    pthread_cond_t cv;
    pthread_t th;
    int started;
    struct {
        long long sms_requests, sms_accepted, sms_refused, inbound;
        long long callbacks_sent, callbacks_failed, callbacks_dropped;
        long long responses[600];
    } st;
} TW = { .account = "AC00000000000000000000000000000001", .token = "fake-twilio-token" };


/* ------------------------------------------------------------ helpers */

static void tw_date(int64_t wall_ms, char out[40])
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static void tw_day(int64_t wall_ms, char out[16])
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

static int tw_number_idx(const char *phone)
{
    for (size_t i = 0; i < TW.nnums; i++)
        if (strcmp(TW.nums[i].phone, phone) == 0)
            return (int)i;
    return -1;
}

static int tw_reply(fc_req *r, int status, json_t *o)
{
    pthread_mutex_lock(&G.mu);
    if (status >= 100 && status < 600)
        TW.st.responses[status]++;
    pthread_mutex_unlock(&G.mu);
    return reply_json(r, status, o);
}

/* Twilio's REST error. */
static int tw_error(fc_req *r, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int tw_error(fc_req *r, int status, int code, const char *fmt, ...)
{
    char msg[512], more[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(more, sizeof more, "https://www.twilio.com/docs/errors/%d", code);
    json_t *o = json_object();
    jset_i(o, "code", code);
    jset_s(o, "message", msg);
    jset_s(o, "more_info", more);
    jset_i(o, "status", status);
    return tw_reply(r, status, o);
}

/* The signature Twilio sends in X-Twilio-Signature for a form POST. */
static void tw_sign(const char *url, char **names, char **values, int n, char out[64])
{
    int ord[64];
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
    out[0] = 0;
    if (!data)
        return;
    strcpy(data, url);
    for (int i = 0; i < n; i++) {
        strcat(data, names[ord[i]]);
        strcat(data, values[ord[i]]);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    pthread_mutex_lock(&G.mu);
    char token[128];
    fc_copy(token, sizeof token, TW.token);
    pthread_mutex_unlock(&G.mu);
    if (HMAC(EVP_sha1(), token, (int)strlen(token), (unsigned char *)data, strlen(data), mac,
             &maclen))
        EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
    free(data);
}

/* A signed form for url from n pairs: the encoded body (heap) and the
 * signature. */
static char *tw_form(const char *url, char **names, char **values, int n, char sig[64])
{
    CURL *e = curl_easy_init();
    size_t cap = 16;
    for (int i = 0; i < n; i++)
        cap += strlen(names[i]) + 3 * strlen(values[i]) + 2;
    char *body = e ? calloc(1, cap) : NULL;
    for (int i = 0; body && i < n; i++) {
        char *v = curl_easy_escape(e, values[i], 0);
        if (!v) {
            free(body);
            body = NULL;
            break;
        }
        if (i)
            strcat(body, "&");
        strcat(body, names[i]);
        strcat(body, "=");
        strcat(body, v);
        curl_free(v);
    }
    if (e)
        curl_easy_cleanup(e);
    tw_sign(url, names, values, n, sig);
    return body;
}

/* POST a signed form; the HTTP status (0: no answer). */
static long tw_post(CURL *e, const char *url, const char *form, const char *sig)
{
    struct curl_slist *h = NULL;
    char line[128];
    snprintf(line, sizeof line, "X-Twilio-Signature: %s", sig);
    h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
    h = curl_slist_append(h, "User-Agent: TwilioProxy/1.1 (fakecarrier)");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, line);
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)webhook_timeout_ms());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_discard);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, curl_abort_on_stop);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    if (rc != CURLE_OK && !atomic_load(&fc_stopping))
        fc_log("twilio: POST %s failed: %s", url, curl_easy_strerror(rc));
    return rc == CURLE_OK ? code : 0;
}

/* ------------------------------------------------------------ messages */

static tw_msg *tw_find_locked(long long seq)
{
    if (seq < TW.first || seq >= TW.next || !TW.ring)
        return NULL;
    tw_msg *m = TW.ring[(size_t)(seq % (long long)G.max_messages)];
    return m && m->seq == seq ? m : NULL;
}

static void tw_msg_free(tw_msg *m)
{
    if (m) {
        free(m->body);
        free(m->callback);
        free(m);
    }
}

/* Store m (taken): its seq and sid ("SM" + 16 random hex + 16 hex seq). */
static void tw_store_locked(tw_msg *m)
{
    if (TW.next - TW.first >= (long long)G.max_messages) {
        size_t slot = (size_t)(TW.first % (long long)G.max_messages);
        tw_msg_free(TW.ring[slot]);
        TW.ring[slot] = NULL;
        TW.first++;
    }
    m->seq = TW.next++;
    char hex[17];
    fc_random_hex(hex, 8);
    snprintf(m->sid, sizeof m->sid, "SM%s%016llx", hex, (unsigned long long)m->seq);
    TW.ring[(size_t)(m->seq % (long long)G.max_messages)] = m;
}

static tw_msg *tw_find_sid_locked(const char *sid)
{
    if (!sid || strlen(sid) != 34 || strncmp(sid, "SM", 2) != 0)
        return NULL;
    unsigned long long seq = strtoull(sid + 18, NULL, 16);
    tw_msg *m = tw_find_locked((long long)seq);
    return m && strcmp(m->sid, sid) == 0 ? m : NULL;
}

static void tw_timer_push_locked(int64_t due, long long seq)
{
    if (TW.nheap == TW.capheap) {
        size_t nc = TW.capheap ? TW.capheap * 2 : 1024;
        if (nc > 2 * G.max_messages + 1024)
            return; /* full: the message stays as it is */
        tw_timer *h = realloc(TW.heap, sizeof *h * nc);
        if (!h)
            return;
        TW.heap = h;
        TW.capheap = nc;
    }
    size_t i = TW.nheap++;
    TW.heap[i].due = due;
    TW.heap[i].seq = seq;
    while (i > 0 && TW.heap[(i - 1) / 2].due > TW.heap[i].due) {
        tw_timer t = TW.heap[i];
        TW.heap[i] = TW.heap[(i - 1) / 2];
        TW.heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    pthread_cond_signal(&TW.cv);
}

static tw_timer tw_timer_pop_locked(void)
{
    tw_timer top = TW.heap[0];
    TW.heap[0] = TW.heap[--TW.nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, rr = l + 1, s = i;
        if (l < TW.nheap && TW.heap[l].due < TW.heap[s].due)
            s = l;
        if (rr < TW.nheap && TW.heap[rr].due < TW.heap[s].due)
            s = rr;
        if (s == i)
            break;
        tw_timer t = TW.heap[i];
        TW.heap[i] = TW.heap[s];
        TW.heap[s] = t;
        i = s;
    }
    return top;
}

static json_t *tw_msg_json(const tw_msg *m)
{
    char d[40], uri[160];
    json_t *o = json_object();
    jset_s(o, "account_sid", TW.account);
    jset_s(o, "api_version", "2010-04-01");
    jset_s(o, "body", m->body ? m->body : "");
    tw_date(m->created, d);
    jset_s(o, "date_created", d);
    tw_date(m->updated, d);
    jset_s(o, "date_updated", d);
    if (m->sent) {
        tw_date(m->sent, d);
        jset_s(o, "date_sent", d);
    } else {
        json_object_set_new(o, "date_sent", json_null());
    }
    jset_s(o, "direction", m->inbound ? "inbound" : "outbound-api");
    if (m->error_code)
        jset_i(o, "error_code", m->error_code);
    else
        json_object_set_new(o, "error_code", json_null());
    json_object_set_new(o, "error_message",
                        m->error_code ? json_string("Unknown destination handset") : json_null());
    jset_s(o, "from", m->from);
    json_object_set_new(o, "messaging_service_sid", json_null());
    jset_s(o, "num_media", "0");
    char seg[16];
    snprintf(seg, sizeof seg, "%d", fc_segments(m->body ? m->body : ""));
    jset_s(o, "num_segments", seg);
    json_object_set_new(o, "price", json_null());
    jset_s(o, "price_unit", "USD");
    jset_s(o, "sid", m->sid);
    jset_s(o, "status", tw_status_names[m->status]);
    jset_s(o, "to", m->to);
    snprintf(uri, sizeof uri, "/2010-04-01/Accounts/%s/Messages/%s.json", TW.account, m->sid);
    jset_s(o, "uri", uri);
    return o;
}

/* ------------------------------------------------------------ callbacks */

/* Queue the status callback of m (under G.mu). */
static void tw_callback_locked(const tw_msg *m)
{
    if (!m->callback)
        return;
    if (TW.ncb >= 100000) {
        TW.st.callbacks_dropped++;
        return;
    }
    char errc[16];
    snprintf(errc, sizeof errc, "%d", m->error_code);
    char *names[10] = { "AccountSid", "ApiVersion", "From", "To", "MessageSid", "MessageStatus",
                        "SmsSid", "SmsStatus", "ErrorCode", NULL };
    char *values[10] = { TW.account, "2010-04-01", (char *)m->from, (char *)m->to,
                         (char *)m->sid, (char *)tw_status_names[m->status], (char *)m->sid,
                         (char *)tw_status_names[m->status], errc, NULL };
    int n = m->error_code ? 9 : 8;
    tw_cb *cb = calloc(1, sizeof *cb);
    if (!cb)
        return;
    /* tw_sign takes G.mu: sign outside it, in the poster */
    cb->url = strdup(m->callback);
    CURL *e = curl_easy_init();
    size_t cap = 16;
    for (int i = 0; i < n; i++)
        cap += strlen(names[i]) + 3 * strlen(values[i]) + 2;
    cb->form = e ? calloc(1, cap) : NULL;
    for (int i = 0; cb->form && i < n; i++) {
        char *v = curl_easy_escape(e, values[i], 0);
        if (i)
            strcat(cb->form, "&");
        strcat(cb->form, names[i]);
        strcat(cb->form, "=");
        strcat(cb->form, v ? v : "");
        curl_free(v);
    }
    if (e)
        curl_easy_cleanup(e);
    if (!cb->url || !cb->form) {
        free(cb->url);
        free(cb->form);
        free(cb);
        return;
    }
    /* the signature needs the decoded pairs: computed now, the token read
     * directly (G.mu is held) */
    {
        int ord[10];
        for (int i = 0; i < n; i++) {
            int j = i;
            while (j > 0 && strcmp(names[ord[j - 1]], names[i]) > 0) {
                ord[j] = ord[j - 1];
                j--;
            }
            ord[j] = i;
        }
        size_t len = strlen(m->callback) + 1;
        for (int i = 0; i < n; i++)
            len += strlen(names[i]) + strlen(values[i]);
        char *data = malloc(len);
        if (data) {
            strcpy(data, m->callback);
            for (int i = 0; i < n; i++) {
                strcat(data, names[ord[i]]);
                strcat(data, values[ord[i]]);
            }
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int maclen = 0;
            if (HMAC(EVP_sha1(), TW.token, (int)strlen(TW.token), (unsigned char *)data,
                     strlen(data), mac, &maclen))
                EVP_EncodeBlock((unsigned char *)cb->sig, mac, (int)maclen);
            free(data);
        }
    }
    if (TW.cb_tail)
        TW.cb_tail->next = cb;
    else
        TW.cb_head = cb;
    TW.cb_tail = cb;
    TW.ncb++;
    pthread_cond_signal(&TW.cv);
}

/* The Twilio thread: moves messages along and posts their callbacks, in
 * order (callbacks first: a change is posted before the next one). */
static void *tw_thread(void *arg)
{
    (void)arg;
    CURL *e = curl_easy_init();
    pthread_mutex_lock(&G.mu);
    while (!atomic_load(&fc_stopping)) {
        if (TW.cb_head) {
            tw_cb *cb = TW.cb_head;
            TW.cb_head = cb->next;
            if (!TW.cb_head)
                TW.cb_tail = NULL;
            TW.ncb--;
            pthread_mutex_unlock(&G.mu);
            long st = e ? tw_post(e, cb->url, cb->form, cb->sig) : 0;
            free(cb->url);
            free(cb->form);
            free(cb);
            pthread_mutex_lock(&G.mu);
            if (st >= 200 && st < 300)
                TW.st.callbacks_sent++;
            else
                TW.st.callbacks_failed++;
            continue;
        }
        if (TW.nheap == 0) {
            pthread_cond_wait(&TW.cv, &G.mu);
            continue;
        }
        int64_t now = fc_mono_ms();
        if (TW.heap[0].due > now) {
            struct timespec ts = fc_abs_mono(TW.heap[0].due);
            pthread_cond_timedwait(&TW.cv, &G.mu, &ts);
            continue;
        }
        tw_timer t = tw_timer_pop_locked();
        tw_msg *m = tw_find_locked(t.seq);
        if (!m)
            continue;
        if (m->status == TWS_QUEUED) {
            m->status = TWS_SENT;
            m->sent = fc_wall_ms();
            tw_timer_push_locked(now + G.k.dlr_delay_ms, m->seq);
        } else if (m->status == TWS_SENT) {
            m->status = m->undeliverable ? TWS_UNDELIVERED : TWS_DELIVERED;
            if (m->undeliverable)
                m->error_code = 30003;
        } else {
            continue;
        }
        m->updated = fc_wall_ms();
        tw_callback_locked(m);
    }
    pthread_mutex_unlock(&G.mu);
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

static int tw_start(void)
{
    if (TW.nnums == 0) {
        fc_copy(TW.nums[0].phone, FC_PHONE, "+15552000001");
        fc_copy(TW.nums[1].phone, FC_PHONE, "+15552000002");
        TW.nnums = 2;
    }
    TW.ring = calloc(G.max_messages, sizeof *TW.ring);
    TW.first = TW.next = 1;
    if (!TW.ring)
        return -1;
    fc_cond_init_mono(&TW.cv);
    if (pthread_create(&TW.th, NULL, tw_thread, NULL) != 0)
        return -1;
    TW.started = 1;
    return 0;
}

static void tw_clear_locked(void)
{
    for (long long s = TW.first; s < TW.next; s++) {
        size_t slot = (size_t)(s % (long long)G.max_messages);
        tw_msg_free(TW.ring[slot]);
        TW.ring[slot] = NULL;
    }
    TW.first = TW.next;
    TW.nheap = 0;
    memset(&TW.st, 0, sizeof TW.st);
}

/* After fc_stopping is set. */
static void tw_stop(void)
{
    if (TW.started) {
        pthread_mutex_lock(&G.mu);
        pthread_cond_broadcast(&TW.cv);
        pthread_mutex_unlock(&G.mu);
        pthread_join(TW.th, NULL);
        TW.started = 0;
    }
    if (TW.ring)
        tw_clear_locked();
    while (TW.cb_head) {
        tw_cb *cb = TW.cb_head;
        TW.cb_head = cb->next;
        free(cb->url);
        free(cb->form);
        free(cb);
    }
    free(TW.ring);
    free(TW.heap);
    TW.ring = NULL;
    TW.heap = NULL;
}

/* ------------------------------------------------------------ the API */

/* HTTP Basic auth with the account: 0, or the 401 answered. */
static int tw_auth(fc_req *r, const char *path_account)
{
    const char *h = mg_get_header(r->c, "Authorization");
    unsigned char dec[512];
    int n = -1;
    if (h && strncasecmp(h, "Basic ", 6) == 0) {
        const char *b = h + 6;
        while (*b == ' ')
            b++;
        n = fc_b64decode(b, dec, sizeof dec - 1);
    }
    int ok = 0;
    if (n > 0) {
        dec[n] = 0;
        char *colon = strchr((char *)dec, ':');
        if (colon && strlen((char *)dec) == (size_t)n) {
            *colon = 0;
            pthread_mutex_lock(&G.mu);
            ok = strcmp((char *)dec, TW.account) == 0 && strcmp(colon + 1, TW.token) == 0;
            pthread_mutex_unlock(&G.mu);
        }
    }
    if (!ok || strcmp(path_account, TW.account) != 0)
        return tw_error(r, 401, 20003, "Authenticate");
    return 0;
}

/* Twilio's error bodies of the faults (fault_answer in fakecarrier.c). */
static int tw_fault_body(fc_req *r, fc_fail f)
{
    switch (f) {
    case FAIL_429:
        return tw_error(r, 429, 20429, "Too Many Requests");
    case FAIL_503:
        return tw_error(r, 503, 20503, "Service Unavailable");
    case FAIL_401:
        return tw_error(r, 401, 20003, "Authenticate");
    default:
        return tw_error(r, 500, 20500, "Internal Server Error");
    }
}

static int tw_fault(fc_req *r, fc_fail f)
{
    return fault_answer(r, f, tw_fault_body);
}

/* A form field of the body: 1 (present, maybe empty) or 0. */
static int tw_field(const fc_req *r, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    int n = mg_get_var(r->body ? r->body : "", r->len, name, out, cap);
    if (n < 0) {
        out[0] = 0;
        return n == -1 ? 0 : -1; /* -2: too long for out */
    }
    return 1;
}

static int tw_create(fc_req *r)
{
    pthread_mutex_lock(&G.mu);
    TW.st.sms_requests++;
    int64_t delay = latency_sample_locked();
    pthread_mutex_unlock(&G.mu);
    if (req_read_body(r) != 0)
        return tw_error(r, 400, 20001, "Unable to read the request body");
    if (fc_sleep_ms(delay) != 0)
        return tw_error(r, 503, 20503, "Service Unavailable");
    fc_fail fault = draw_fault();
    pthread_mutex_lock(&G.mu);
    int lost = fault == FAIL_TIMEOUT && G.k.timeout_after_create;
    pthread_mutex_unlock(&G.mu);
    int st;
    if (!lost && (st = tw_fault(r, fault)) != 0)
        return st;
    char to[64], from[64], mss[64], cb[2100];
    char *body = malloc(FC_MAX_BODY + 1);
    if (!body)
        return tw_error(r, 500, 20500, "Internal Server Error");
    int has_to = tw_field(r, "To", to, sizeof to);
    int has_from = tw_field(r, "From", from, sizeof from);
    int has_mss = tw_field(r, "MessagingServiceSid", mss, sizeof mss);
    int has_body = tw_field(r, "Body", body, FC_MAX_BODY + 1);
    int has_cb = tw_field(r, "StatusCallback", cb, sizeof cb);
    int refused = 1;
    if (has_to <= 0 || !to[0])
        st = tw_error(r, 400, 21604, "A 'To' phone number is required.");
    else if (!fc_is_e164(to))
        st = tw_error(r, 400, 21211, "Invalid 'To' Phone Number: %s", to);
    else if ((has_from <= 0 || !from[0]) && (has_mss <= 0 || !mss[0]))
        st = tw_error(r, 400, 21603, "A 'From' phone number is required.");
    else if (has_from > 0 && from[0] && tw_number_idx(from) < 0)
        st = tw_error(r, 400, 21606,
                      "The From phone number %s is not a valid, SMS-capable inbound phone "
                      "number or short code for your account.",
                      from);
    else if (has_body <= 0 || !body[0])
        st = tw_error(r, 400, 21602, "Message body is required.");
    else if (fc_utf16_len(body) > TW_MAX_BODY_CHARS)
        st = tw_error(r, 400, 21617,
                      "The concatenated message body exceeds the 1600 character limit.");
    else if (has_cb < 0 || (has_cb > 0 && cb[0] && !is_http_url(cb)))
        st = tw_error(r, 400, 21609, "The StatusCallback URL %s is not a valid URL.", cb);
    else
        refused = 0;
    if (!refused) {
        pthread_mutex_lock(&G.mu);
        int inv = fc_phones_has(&G.invalid_to, to);
        pthread_mutex_unlock(&G.mu);
        if (inv) {
            st = tw_error(r, 400, 21211, "Invalid 'To' Phone Number: %s", to);
            refused = 1;
        }
    }
    if (refused) {
        free(body);
        pthread_mutex_lock(&G.mu);
        TW.st.sms_refused++;
        pthread_mutex_unlock(&G.mu);
        return st;
    }
    if (!from[0])
        fc_copy(from, sizeof from, TW.nums[0].phone); /* a service picks a sender */
    tw_msg *m = calloc(1, sizeof *m);
    if (!m) {
        free(body);
        return tw_error(r, 500, 20500, "Internal Server Error");
    }
    fc_copy(m->to, sizeof m->to, to);
    fc_copy(m->from, sizeof m->from, from);
    m->body = body;
    m->callback = cb[0] ? strdup(cb) : NULL;
    m->created = m->updated = fc_wall_ms();
    pthread_mutex_lock(&G.mu);
    m->undeliverable = fc_phones_has(&G.undeliverable, to);
    tw_store_locked(m);
    TW.st.sms_accepted++;
    tw_timer_push_locked(fc_mono_ms() + latency_sample_locked(), m->seq);
    json_t *o = tw_msg_json(m);
    pthread_mutex_unlock(&G.mu);
    if (lost) { /* made; its answer is lost */
        json_decref(o);
        return tw_fault(r, FAIL_TIMEOUT);
    }
    return tw_reply(r, 201, o);
}

static int tw_fetch(fc_req *r, const char *sidjson)
{
    char sid[64];
    fc_copy(sid, sizeof sid, sidjson);
    char *dot = strstr(sid, ".json");
    if (dot)
        *dot = 0;
    pthread_mutex_lock(&G.mu);
    tw_msg *m = tw_find_sid_locked(sid);
    json_t *o = m ? tw_msg_json(m) : NULL;
    pthread_mutex_unlock(&G.mu);
    if (!o)
        return tw_error(r, 404, 20404, "The requested resource /2010-04-01/Accounts/%s/Messages/"
                                       "%s.json was not found", TW.account, sid);
    return tw_reply(r, 200, o);
}

/* A query variable under either spelling of its name ('>' raw or %3E). */
static void tw_qvar(const char *q, const char *name, const char *enc, char *out, size_t cap)
{
    if (get_var(q, name, out, cap) < 0 || !out[0])
        get_var(q, enc, out, cap);
}

static int tw_list(fc_req *r)
{
    const char *q = r->ri->query_string;
    char to[64], from[64], on[16], after[16], before[16], ps[16];
    get_var(q, "To", to, sizeof to);
    get_var(q, "From", from, sizeof from);
    get_var(q, "DateSent", on, sizeof on);
    tw_qvar(q, "DateSent>", "DateSent%3E", after, sizeof after);
    tw_qvar(q, "DateSent<", "DateSent%3C", before, sizeof before);
    get_var(q, "PageSize", ps, sizeof ps);
    long long size = ps[0] ? fc_parse_uint(ps) : 50;
    if (size < 1)
        return tw_error(r, 400, 20001, "Invalid PageSize %s", ps);
    if (size > 1000)
        size = 1000;
    json_t *a = json_array();
    pthread_mutex_lock(&G.mu);
    for (long long s = TW.next - 1; s >= TW.first && (long long)json_array_size(a) < size; s--) {
        tw_msg *m = tw_find_locked(s);
        if (!m)
            continue;
        if ((to[0] && strcmp(m->to, to) != 0) || (from[0] && strcmp(m->from, from) != 0))
            continue;
        char day[16];
        tw_day(m->sent ? m->sent : m->created, day);
        if ((on[0] && strcmp(day, on) != 0) || (after[0] && strcmp(day, after) < 0) ||
            (before[0] && strcmp(day, before) > 0))
            continue;
        json_array_append_new(a, tw_msg_json(m));
    }
    pthread_mutex_unlock(&G.mu);
    char uri[256];
    snprintf(uri, sizeof uri, "/2010-04-01/Accounts/%s/Messages.json?PageSize=%lld&Page=0",
             TW.account, size);
    json_t *o = json_object();
    jset_i(o, "end", (long long)json_array_size(a) - 1);
    jset_s(o, "first_page_uri", uri);
    json_object_set_new(o, "messages", a);
    json_object_set_new(o, "next_page_uri", json_null());
    jset_i(o, "page", 0);
    jset_i(o, "page_size", size);
    json_object_set_new(o, "previous_page_uri", json_null());
    jset_i(o, "start", 0);
    jset_s(o, "uri", uri);
    return tw_reply(r, 200, o);
}

static int tw_account(fc_req *r)
{
    json_t *o = json_object();
    char d[40];
    tw_date(fc_wall_ms() - 86400000LL, d);
    jset_s(o, "sid", TW.account);
    jset_s(o, "friendly_name", "Fake Twilio account");
    jset_s(o, "status", "active");
    jset_s(o, "type", "Full");
    jset_s(o, "date_created", d);
    jset_s(o, "date_updated", d);
    return tw_reply(r, 200, o);
}

static int tw_numbers(fc_req *r)
{
    json_t *a = json_array();
    pthread_mutex_lock(&G.mu);
    for (size_t i = 0; i < TW.nnums; i++) {
        json_t *n = json_object();
        char sid[40];
        snprintf(sid, sizeof sid, "PN%032zx", i + 1);
        jset_s(n, "sid", sid);
        jset_s(n, "phone_number", TW.nums[i].phone);
        jset_s(n, "friendly_name", TW.nums[i].phone);
        json_t *cap = json_object();
        json_object_set_new(cap, "sms", json_true());
        json_object_set_new(cap, "mms", json_false());
        json_object_set_new(cap, "voice", json_true());
        json_object_set_new(n, "capabilities", cap);
        const char *url = TW.nums[i].sms_url[0] ? TW.nums[i].sms_url : TW.sms_url;
        json_object_set_new(n, "sms_url", url[0] ? json_string(url) : json_null());
        json_array_append_new(a, n);
    }
    pthread_mutex_unlock(&G.mu);
    json_t *o = json_object();
    json_object_set_new(o, "incoming_phone_numbers", a);
    jset_i(o, "page", 0);
    json_object_set_new(o, "next_page_uri", json_null());
    return tw_reply(r, 200, o);
}

/* /2010-04-01/Accounts/{sid}[.json | /Messages.json | /Messages/{Sid}.json |
 * /IncomingPhoneNumbers.json] */
static int tw_route(fc_req *r)
{
    char **s = r->seg;
    int n = r->nseg;
    if (n < 3 || strcmp(s[1], "Accounts") != 0)
        return tw_error(r, 404, 20404, "The requested resource %s was not found", r->ri->local_uri);
    char acc[64];
    fc_copy(acc, sizeof acc, s[2]);
    size_t al = strlen(acc);
    int account_json = n == 3 && al > 5 && strcmp(acc + al - 5, ".json") == 0;
    if (account_json)
        acc[al - 5] = 0;
    int st;
    if ((st = tw_auth(r, acc)) != 0)
        return st;
    if (account_json && req_is(r, "GET"))
        return tw_account(r);
    if (n == 4 && strcmp(s[3], "Messages.json") == 0) {
        if (req_is(r, "POST"))
            return tw_create(r);
        if (req_is(r, "GET"))
            return tw_list(r);
        return tw_error(r, 405, 20004, "Method not allowed");
    }
    if (n == 5 && strcmp(s[3], "Messages") == 0 && req_is(r, "GET"))
        return tw_fetch(r, s[4]);
    if (n == 4 && strcmp(s[3], "IncomingPhoneNumbers.json") == 0 && req_is(r, "GET"))
        return tw_numbers(r);
    return tw_error(r, 404, 20404, "The requested resource %s was not found", r->ri->local_uri);
}

/* ------------------------------------------------------------ control */

static int tw_fake_inbound(fc_req *r)
{
    if (req_read_body(r) != 0)
        return fake_error(r, 400, "cannot read the body");
    json_t *b = json_loadb(r->body, r->len, 0, NULL);
    const char *from = json_string_value(json_object_get(b, "from"));
    const char *to = json_string_value(json_object_get(b, "to"));
    const char *text = json_string_value(json_object_get(b, "text"));
    json_t *cp = json_object_get(b, "copies");
    long long copies = cp ? json_integer_value(cp) : 1;
    int idx = to ? tw_number_idx(to) : -1;
    char url[1024] = "";
    if (idx >= 0) {
        pthread_mutex_lock(&G.mu);
        fc_copy(url, sizeof url, TW.nums[idx].sms_url[0] ? TW.nums[idx].sms_url : TW.sms_url);
        pthread_mutex_unlock(&G.mu);
    }
    int st = 0;
    if (!json_is_object(b))
        st = fake_error(r, 400, "the body must be a JSON object {from, to, text, copies?}");
    else if (!fc_is_e164(from))
        st = fake_error(r, 400, "from must be an E.164 number");
    else if (idx < 0)
        st = fake_error(r, 400, "to must be one of the Twilio numbers");
    else if (!text || !*text || fc_utf16_len(text) > TW_MAX_BODY_CHARS)
        st = fake_error(r, 400, "text must be 1 to %d characters", TW_MAX_BODY_CHARS);
    else if (copies < 1 || copies > 10)
        st = fake_error(r, 400, "copies must be 1 to 10");
    else if (!url[0])
        st = fake_error(r, 400, "%s has no SmsUrl (--tw-sms-url or POST /_fake/twilio/config)",
                        to);
    if (st) {
        json_decref(b);
        return st;
    }
    tw_msg *m = calloc(1, sizeof *m);
    if (m)
        m->body = strdup(text);
    if (!m || !m->body) {
        tw_msg_free(m);
        json_decref(b);
        return fake_error(r, 500, "out of memory");
    }
    fc_copy(m->from, sizeof m->from, from);
    fc_copy(m->to, sizeof m->to, to);
    m->inbound = 1;
    m->status = TWS_RECEIVED;
    m->created = m->updated = m->sent = fc_wall_ms();
    char sid[40], segs[16], body_copy[8192], from_copy[FC_PHONE], to_copy[FC_PHONE];
    fc_copy(from_copy, sizeof from_copy, from);
    fc_copy(to_copy, sizeof to_copy, to);
    json_decref(b);
    pthread_mutex_lock(&G.mu);
    tw_store_locked(m);
    TW.st.inbound++;
    fc_copy(sid, sizeof sid, m->sid);
    fc_copy(body_copy, sizeof body_copy, m->body);
    pthread_mutex_unlock(&G.mu);
    snprintf(segs, sizeof segs, "%d", fc_segments(body_copy));
    char *names[] = { "ToCountry", "SmsMessageSid", "NumMedia", "SmsSid", "SmsStatus", "Body",
                      "To", "NumSegments", "MessageSid", "AccountSid", "From", "ApiVersion" };
    char *values[] = { "US", sid, "0", sid, "received", body_copy, to_copy, segs, sid,
                       TW.account, from_copy, "2010-04-01" };
    char sig[64];
    char *form = tw_form(url, names, values, 12, sig);
    json_t *resp = json_array();
    CURL *e = curl_easy_init();
    for (long long i = 0; form && e && i < copies; i++)
        json_array_append_new(resp, json_integer(tw_post(e, url, form, sig)));
    if (e)
        curl_easy_cleanup(e);
    free(form);
    json_t *o = json_object();
    jset_s(o, "sid", sid);
    json_object_set_new(o, "responses", resp);
    return reply_json(r, 200, o);
}

static int tw_fake_config(fc_req *r)
{
    if (req_read_body(r) != 0)
        return fake_error(r, 400, "cannot read the body");
    json_t *b = json_loadb(r->body, r->len, 0, NULL);
    const char *url = json_string_value(json_object_get(b, "sms_url"));
    const char *num = json_string_value(json_object_get(b, "number"));
    int idx = num ? tw_number_idx(num) : -1;
    int st = 0;
    if (!json_is_object(b) || !url || (url[0] && !is_http_url(url)) || strlen(url) >= 1024)
        st = fake_error(r, 400, "the body must be {sms_url: http(s) URL or \"\", number?}");
    else if (num && idx < 0)
        st = fake_error(r, 400, "number must be one of the Twilio numbers");
    if (!st) {
        pthread_mutex_lock(&G.mu);
        fc_copy(idx >= 0 ? TW.nums[idx].sms_url : TW.sms_url, 1024, url);
        pthread_mutex_unlock(&G.mu);
    }
    json_t *o = NULL;
    if (!st) {
        o = json_object();
        jset_s(o, "sms_url", url);
        if (num)
            jset_s(o, "number", num);
    }
    json_decref(b); /* url and num point into it */
    return st ? st : reply_json(r, 200, o);
}

static int tw_fake(fc_req *r)
{
    const char *what = r->nseg >= 3 ? r->seg[2] : "";
    if (r->nseg == 3 && strcmp(what, "inbound") == 0 && req_is(r, "POST"))
        return tw_fake_inbound(r);
    if (r->nseg == 3 && strcmp(what, "config") == 0 && req_is(r, "POST"))
        return tw_fake_config(r);
    return fake_error(r, 404, "no such control endpoint: %s %s", r->method, r->ri->local_uri);
}

/* GET /_fake/messages: append the Twilio messages of a direction
 * ("Outbound", "Inbound" or "all") to a (under G.mu). */
static void tw_fake_messages_locked(json_t *a, const char *dir, long long limit)
{
    for (long long s = TW.first; s < TW.next && (long long)json_array_size(a) < limit; s++) {
        tw_msg *m = tw_find_locked(s);
        if (!m || (strcmp(dir, "all") != 0 && strcmp(dir, m->inbound ? "Inbound" : "Outbound")))
            continue;
        json_t *o = json_object();
        jset_s(o, "provider", "twilio");
        jset_s(o, "sid", m->sid);
        jset_s(o, "id", m->sid);
        jset_s(o, "direction", m->inbound ? "Inbound" : "Outbound");
        jset_s(o, "from", m->from);
        json_t *to = json_array();
        json_array_append_new(to, json_string(m->to));
        json_object_set_new(o, "to", to);
        jset_s(o, "text", m->body ? m->body : "");
        jset_s(o, "status", tw_status_names[m->status]);
        if (m->callback)
            jset_s(o, "statusCallback", m->callback);
        if (m->error_code)
            jset_i(o, "errorCode", m->error_code);
        jset_iso(o, "creationTime", m->created);
        json_array_append_new(a, o);
    }
}

static json_t *tw_stats_locked(void)
{
    json_t *o = json_object();
    jset_i(o, "sms_requests", TW.st.sms_requests);
    jset_i(o, "sms_accepted", TW.st.sms_accepted);
    jset_i(o, "sms_refused", TW.st.sms_refused);
    jset_i(o, "inbound", TW.st.inbound);
    jset_i(o, "callbacks_sent", TW.st.callbacks_sent);
    jset_i(o, "callbacks_failed", TW.st.callbacks_failed);
    jset_i(o, "callbacks_dropped", TW.st.callbacks_dropped);
    json_t *resp = json_object();
    for (int c = 100; c < 600; c++)
        if (TW.st.responses[c]) {
            char k[8];
            snprintf(k, sizeof k, "%d", c);
            jset_i(resp, k, TW.st.responses[c]);
        }
    json_object_set_new(o, "responses", resp);
    jset_s(o, "account_sid", TW.account);
    json_t *nums = json_array();
    for (size_t i = 0; i < TW.nnums; i++)
        json_array_append_new(nums, json_string(TW.nums[i].phone));
    json_object_set_new(o, "numbers", nums);
    jset_s(o, "sms_url", TW.sms_url);
    return o;
}

/* ------------------------------------------------------------ options */

/* --tw-* options: 1 taken, 0 not ours, -1 bad (err set). */
static int tw_numbers_given;
static int tw_option(const char *name, const char *val, char *err, size_t cap)
{
    if (!strcmp(name, "tw_account_sid")) {
        if (strlen(val) != 34 || strncmp(val, "AC", 2) != 0) {
            snprintf(err, cap, "--tw-account-sid: AC followed by 32 hex digits");
            return -1;
        }
        fc_copy(TW.account, sizeof TW.account, val);
    } else if (!strcmp(name, "tw_auth_token")) {
        if (!*val || strlen(val) >= sizeof TW.token) {
            snprintf(err, cap, "--tw-auth-token: 1 to 127 characters");
            return -1;
        }
        fc_copy(TW.token, sizeof TW.token, val);
    } else if (!strcmp(name, "tw_number")) {
        if (!tw_numbers_given) {
            TW.nnums = 0;
            tw_numbers_given = 1;
        }
        if (!fc_is_e164(val) || TW.nnums >= TW_MAX_NUMS || tw_number_idx(val) >= 0) {
            snprintf(err, cap, "--tw-number %s: an E.164 number, not listed twice, at most %d",
                     val, TW_MAX_NUMS);
            return -1;
        }
        fc_copy(TW.nums[TW.nnums++].phone, FC_PHONE, val);
    } else if (!strcmp(name, "tw_sms_url")) {
        if (!is_http_url(val) || strlen(val) >= sizeof TW.sms_url) {
            snprintf(err, cap, "--tw-sms-url: an http(s) URL");
            return -1;
        }
        fc_copy(TW.sms_url, sizeof TW.sms_url, val);
    } else {
        return 0;
    }
    return 1;
}

static const char tw_usage[] =
    "Twilio (the same process; /2010-04-01/..., see bench/fc/twilio.h):\n"
    "  --tw-account-sid SID    account (AC00000000000000000000000000000001)\n"
    "  --tw-auth-token T       auth token, Basic auth password (fake-twilio-token)\n"
    "  --tw-number NUM         an SMS-capable number (repeatable; the first replaces\n"
    "                          the defaults +15552000001, +15552000002)\n"
    "  --tw-sms-url URL        where inbound SMS to the numbers are posted (none)\n"
    "  The fault and timing knobs above apply to Twilio sends too (500/503 -> 20500/\n"
    "  20503, 429 -> 20429; invalid_to -> 21211; undeliverable -> undelivered 30003).\n"
    "  POST /_fake/twilio/inbound  {from, to, text, copies?}: an inbound SMS, posted\n"
    "                              signed to the number's SmsUrl\n"
    "  POST /_fake/twilio/config   {sms_url, number?}: the SmsUrl (of one number)\n\n";

#endif
