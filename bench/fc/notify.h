/*
 * bench/fc/notify.h — fakecarrier: webhook notifications and the
 * subscription validation handshake.
 *
 * Notifications leave from a small pool of threads (--notify-threads),
 * each with its own bounded queue (--notify-queue jobs in all) and its own
 * curl handle, so connections are reused. A subscription always maps to
 * the same thread, which keeps its notifications in order. A full queue
 * drops the notification and counts it (notifications_dropped). Nothing is
 * ever posted from a request thread or with G.mu held; the validation
 * handshake of a new subscription is the one synchronous call, made by the
 * request thread that creates it, with no lock held.
 */
#ifndef FC_NOTIFY_H
#define FC_NOTIFY_H

#include "json.h"

typedef struct fc_job {
    struct fc_job *next;
    char *url;
    char *vtoken;
    char *body;
} fc_job;

typedef struct fc_nq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fc_job *head, *tail;
    size_t n;
    pthread_t th;
    int started;
} fc_nq;

static fc_nq *fc_nqs;
static int fc_nnq;
static size_t fc_nq_cap;

static void job_free(fc_job *j)
{
    if (j) {
        free(j->url);
        free(j->vtoken);
        free(j->body);
        free(j);
    }
}

static size_t curl_discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static int curl_abort_on_stop(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)ud;
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return atomic_load(&fc_stopping) ? 1 : 0;
}

static long long webhook_timeout_ms(void)
{
    pthread_mutex_lock(&G.mu);
    long long t = G.k.webhook_timeout_ms;
    pthread_mutex_unlock(&G.mu);
    return t;
}

/* POST one notification; 1 if the receiver answered 2xx. */
static int notify_post(CURL *e, const fc_job *j)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json; charset=UTF-8");
    h = curl_slist_append(h, "User-Agent: RingCentral-Webhook/8.3 (fakecarrier)");
    h = curl_slist_append(h, "Expect:");
    if (j->vtoken) {
        char line[512];
        snprintf(line, sizeof line, "Verification-Token: %s", j->vtoken);
        h = curl_slist_append(h, line);
    }
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)webhook_timeout_ms());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_discard);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, curl_abort_on_stop);
    CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    int ok = rc == CURLE_OK && code >= 200 && code < 300;
    if (!ok && !atomic_load(&fc_stopping))
        fc_log("notification to %s failed: %s, HTTP %ld", j->url,
               rc == CURLE_OK ? "answered" : curl_easy_strerror(rc), code);
    return ok;
}

static void *notify_worker(void *arg)
{
    fc_nq *q = arg;
    CURL *e = curl_easy_init();
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->head && !atomic_load(&fc_stopping))
            pthread_cond_wait(&q->cv, &q->mu);
        if (atomic_load(&fc_stopping)) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        fc_job *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
        pthread_mutex_unlock(&q->mu);
        int ok = e ? notify_post(e, j) : 0;
        pthread_mutex_lock(&G.mu);
        if (ok)
            G.st.notif_sent++;
        else
            G.st.notif_failed++;
        pthread_mutex_unlock(&G.mu);
        job_free(j);
    }
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

static int notify_start(int threads, size_t cap)
{
    fc_nnq = threads;
    fc_nq_cap = cap / (size_t)threads + 1;
    fc_nqs = calloc((size_t)threads, sizeof *fc_nqs);
    if (!fc_nqs)
        return -1;
    for (int i = 0; i < threads; i++) {
        pthread_mutex_init(&fc_nqs[i].mu, NULL);
        pthread_cond_init(&fc_nqs[i].cv, NULL);
        if (pthread_create(&fc_nqs[i].th, NULL, notify_worker, &fc_nqs[i]) != 0)
            return -1;
        fc_nqs[i].started = 1;
    }
    return 0;
}

/* After fc_stopping is set: wake, join and free everything queued. */
static void notify_stop(void)
{
    for (int i = 0; i < fc_nnq; i++) {
        pthread_mutex_lock(&fc_nqs[i].mu);
        pthread_cond_broadcast(&fc_nqs[i].cv);
        pthread_mutex_unlock(&fc_nqs[i].mu);
    }
    for (int i = 0; i < fc_nnq; i++) {
        if (fc_nqs[i].started)
            pthread_join(fc_nqs[i].th, NULL);
        fc_job *j = fc_nqs[i].head;
        while (j) {
            fc_job *next = j->next;
            job_free(j);
            j = next;
        }
        pthread_mutex_destroy(&fc_nqs[i].mu);
        pthread_cond_destroy(&fc_nqs[i].cv);
    }
    free(fc_nqs);
    fc_nqs = NULL;
    fc_nnq = 0;
}

/* Queue a notification (takes body). */
static void notify_enqueue(const char *sub_id, const char *url, const char *vtoken, char *body)
{
    fc_job *j = calloc(1, sizeof *j);
    if (j) {
        j->url = strdup(url);
        j->vtoken = vtoken ? strdup(vtoken) : NULL;
        j->body = body;
        body = NULL;
    }
    if (!j || !j->url || (vtoken && !j->vtoken)) {
        job_free(j);
        free(body);
        pthread_mutex_lock(&G.mu);
        G.st.notif_dropped++;
        pthread_mutex_unlock(&G.mu);
        return;
    }
    fc_nq *q = &fc_nqs[fc_fnv1a(0, sub_id) % (uint64_t)fc_nnq];
    pthread_mutex_lock(&q->mu);
    int full = q->n >= fc_nq_cap;
    if (!full) {
        if (q->tail)
            q->tail->next = j;
        else
            q->head = j;
        q->tail = j;
        q->n++;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (full) {
        job_free(j);
        pthread_mutex_lock(&G.mu);
        G.st.notif_dropped++;
        pthread_mutex_unlock(&G.mu);
    }
}

/* Does an event filter (ids resolved, maybe with a query) match an event
 * at path whose message has this type and direction? */
static int filter_matches(const char *filter, const char *path, const char *direction)
{
    const char *q = strchr(filter, '?');
    size_t plen = q ? (size_t)(q - filter) : strlen(filter);
    if (strlen(path) != plen || strncmp(filter, path, plen) != 0)
        return 0;
    if (!q)
        return 1;
    char buf[256];
    fc_copy(buf, sizeof buf, q + 1);
    char *save = NULL;
    for (char *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *v = eq + 1;
        if (strcmp(kv, "type") == 0 && strcasecmp(v, "SMS") != 0)
            return 0;
        if (strcmp(kv, "direction") == 0 && strcasecmp(v, direction) != 0)
            return 0;
    }
    return 1;
}

typedef struct fc_target {
    char sub_id[40];
    char owner[FC_ID];
    char *filter;
    char *address;
    char *vtoken;
    int instant; /* 1: instant-message event, 0: message-store event */
} fc_target;

static void targets_free(fc_target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].filter);
        free(t[i].address);
        free(t[i].vtoken);
    }
    free(t);
}

/* A message was created (is_new) or changed status: notify every
 * subscription with a matching filter. m is a snapshot; call without
 * G.mu. */
static void notify_message(const fc_msg *m, int is_new)
{
    char ipath[300], spath[256];
    snprintf(spath, sizeof spath, "/restapi/v1.0/account/%s/extension/%s/message-store", G.account,
             m->ext);
    snprintf(ipath, sizeof ipath, "%s/instant", spath);
    const char *dir = m->inbound ? "Inbound" : "Outbound";

    fc_target *t = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&G.mu);
    long long copies = G.k.notify_copies;
    subs_purge_expired_locked();
    for (size_t i = 0; i < G.nsubs; i++) {
        fc_sub *s = G.subs[i];
        int got_instant = 0, got_store = 0;
        for (size_t f = 0; f < s->nfilters; f++) {
            int instant = 0;
            if (m->inbound && is_new && !got_instant && filter_matches(s->filters[f], ipath, dir))
                instant = got_instant = 1;
            else if (!got_store && filter_matches(s->filters[f], spath, dir))
                got_store = 1;
            else
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                fc_target *v = realloc(t, sizeof *v * nc);
                if (!v)
                    break;
                t = v;
                cap = nc;
            }
            fc_target *x = &t[n++];
            memset(x, 0, sizeof *x);
            fc_copy(x->sub_id, sizeof x->sub_id, s->id);
            fc_copy(x->owner, sizeof x->owner, s->owner);
            x->filter = strdup(s->filters[f]);
            x->address = strdup(s->address);
            x->vtoken = s->vtoken ? strdup(s->vtoken) : NULL;
            x->instant = instant;
        }
    }
    pthread_mutex_unlock(&G.mu);

    for (size_t i = 0; i < n; i++) {
        if (!t[i].filter || !t[i].address)
            continue;
        char uuid[40], ts[32];
        fc_uuid(uuid);
        fc_iso(fc_wall_ms(), ts);
        json_t *o = json_object();
        jset_s(o, "uuid", uuid);
        jset_s(o, "event", t[i].filter);
        jset_s(o, "timestamp", ts);
        jset_s(o, "subscriptionId", t[i].sub_id);
        jset_s(o, "ownerId", t[i].owner);
        json_object_set_new(o, "body",
                            t[i].instant ? msg_instant_json(m) : msg_store_event_json(m, is_new));
        char *body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        /* notify_copies > 1: the same notification (same uuid) again */
        for (long long c = 1; body && c < copies; c++) {
            char *again = strdup(body);
            if (again)
                notify_enqueue(t[i].sub_id, t[i].address, t[i].vtoken, again);
        }
        if (body)
            notify_enqueue(t[i].sub_id, t[i].address, t[i].vtoken, body);
    }
    targets_free(t, n);
}

/* ------------------------------------------------------------ validation */

typedef struct fc_vstate {
    const char *want;
    int token_ok;
    size_t bytes;
} fc_vstate;

static size_t validation_header(char *p, size_t sz, size_t n, void *ud)
{
    fc_vstate *v = ud;
    size_t len = sz * n;
    v->bytes += len;
    static const char name[] = "Validation-Token:";
    if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        const char *s = p + sizeof name - 1;
        const char *end = p + len;
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        while (end > s && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        size_t wl = strlen(v->want);
        v->token_ok = (size_t)(end - s) == wl && memcmp(s, v->want, wl) == 0;
    }
    return len;
}

static size_t validation_body(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    fc_vstate *v = ud;
    v->bytes += sz * n;
    return v->bytes > 65536 ? 0 : sz * n;
}

/* The handshake RingCentral does before creating a WebHook subscription:
 * POST address with Validation-Token and an empty body; the receiver must
 * answer 200 with the same Validation-Token header, in time, in at most
 * 1024 bytes. 0 if it passed; otherwise the HTTP status to answer and
 * RingCentral's error code and message. */
static int validate_webhook(const char *address, const char **code, char *msg, size_t cap)
{
    char tok[40], line[128];
    fc_uuid(tok);
    fc_vstate v = { tok, 0, 0 };
    CURL *e = curl_easy_init();
    if (!e) {
        *code = "CMN-203";
        fc_copy(msg, cap, "Internal Server Error");
        return 500;
    }
    struct curl_slist *h = NULL;
    snprintf(line, sizeof line, "Validation-Token: %s", tok);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "User-Agent: RingCentral-Webhook/8.3 (fakecarrier)");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, address);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)webhook_timeout_ms());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, validation_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &v);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, validation_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &v);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, curl_abort_on_stop);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);

    int ret = 0;
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status)) {
        *code = "CMN-101";
        fc_copy(msg, cap, "Parameter [deliveryMode.address] value is invalid");
        fc_log("webhook validation of %s: %s", address, curl_easy_strerror(rc));
        ret = 400;
    } else if (status != 200) {
        *code = "SUB-522";
        snprintf(msg, cap, "WebHook responds with incorrect HTTP status. HTTP status is %ld",
                 status);
        ret = 400;
    } else if (v.bytes > 1024) {
        *code = "SUB-525";
        fc_copy(msg, cap, "WebHook server response is invalid");
        ret = 400;
    } else if (!v.token_ok) {
        *code = "SUB-520";
        fc_copy(msg, cap, "Validation Token is not returned");
        ret = 400;
    }
    return ret;
}

#endif
