/*
 * bench/fc/a2p.h — fakecarrier: RingCentral's High Volume (A2P) SMS API
 * (transport/README.md section 8), included by bench/fakecarrier.c after
 * its SMS handlers (it uses get_var, draw_fault, apply_fault,
 * check_account).
 *
 *   POST /restapi/v1.0/account/~/a2p-sms/batches
 *        {from, text?, messages: [{to: [..], text?}]}: `from` must be an
 *        account number with A2PSmsSender (else 400 CMN-101 on [from]:
 *        RingCentral's exact code is unconfirmed). Each recipient becomes
 *        one message (a message with several `to` expands to several);
 *        recipients that are not E.164 or are in --invalid-to are not sent
 *        and are listed in the answer's rejected[] ({index: 1-based
 *        position in messages, to: [the number], errorCode: "SMS-RC-410",
 *        description}); rejected[] is filled only in this answer. The
 *        fault knobs (fail_next, rate_5xx, rate_429, rate_timeout,
 *        rate_drop, latency_ms) apply to it as to an SMS send, and with
 *        timeout_after_create a 'timeout' creates the batch first, then
 *        holds and drops the answer (the answer is lost, the batch exists).
 *        Answers 200 with the batch (status Processing).
 *   GET  .../a2p-sms/batches/{id}   the batch: processedCount counts the
 *        rejected recipients and the messages past Queued; status
 *        Completed when processedCount = batchSize (batchSize counts every
 *        recipient, rejected ones included); rejected [] always.
 *   GET  .../a2p-sms/batches?from=&dateFrom=&dateTo=&perPage=&pageToken=
 *        batches, oldest first.
 *   GET  .../a2p-sms/messages?batchId=&view=Simple|Detailed&dateFrom=
 *        &dateTo=&phoneNumber=&perPage=&pageToken=   messages (oldest
 *        first): {id (string), batchId, from, to: [..], direction,
 *        creationTime, lastModifiedTime, messageStatus, segmentCount,
 *        errorCode (DeliveryFailed: SMS-CAR-411), text (Detailed only)};
 *        paging {pageToken, perPage, firstPageToken, nextPageToken?}.
 *   GET  .../a2p-sms/messages/{id}
 * Messages move Queued -> Sent -> Delivered (DeliveryFailed for
 * --undeliverable numbers) like SMS sends (latency_ms, dlr_delay_ms).
 * They live in the same message ring, with no extension: the
 * extension's message store does not list them; /_fake/messages shows them
 * with "api": "a2p" and their batchId; /_fake/stats has an "a2p" object.
 *
 * Locking: G.mu, as everything else (bench/fc/state.h).
 */
#ifndef FC_A2P_H
#define FC_A2P_H

#define FC_A2P_BATCHES 4096
#define FC_A2P_PER_PAGE_MAX 1000

typedef struct fc_batch {
    char id[40];
    char from[FC_PHONE];
    long long first;     /* the id of its first message */
    long long n;         /* messages made (consecutive ids from first) */
    long long nrejected;
    int64_t created;     /* wall ms */
} fc_batch;

static struct {
    fc_batch v[FC_A2P_BATCHES]; /* a ring: the oldest is replaced */
    long long nbatches;         /* ever made; v[i % FC_A2P_BATCHES] */
    long long requests, created, messages, rejected;
} A2P;

static void a2p_reset_locked(void)
{
    memset(&A2P, 0, sizeof A2P);
}

static json_t *a2p_stats_locked(void)
{
    json_t *o = json_object();
    jset_i(o, "batch_requests", A2P.requests);
    jset_i(o, "batches", A2P.created);
    jset_i(o, "messages", A2P.messages);
    jset_i(o, "rejected", A2P.rejected);
    return o;
}

static fc_batch *a2p_batch_find_locked(const char *id)
{
    long long lo = A2P.nbatches > FC_A2P_BATCHES ? A2P.nbatches - FC_A2P_BATCHES : 0;
    for (long long i = A2P.nbatches - 1; i >= lo; i--) {
        fc_batch *b = &A2P.v[i % FC_A2P_BATCHES];
        if (strcmp(b->id, id) == 0)
            return b;
    }
    return NULL;
}

static json_t *a2p_batch_json_locked(const fc_batch *b)
{
    long long processed = b->nrejected;
    int64_t modified = b->created;
    for (long long id = b->first; id < b->first + b->n; id++) {
        fc_msg *m = msg_find_locked(id);
        if (!m || m->status != ST_QUEUED)
            processed++; /* an evicted message was processed long ago */
        if (m && m->modified > modified)
            modified = m->modified;
    }
    long long size = b->n + b->nrejected;
    json_t *o = json_object();
    jset_s(o, "id", b->id);
    jset_s(o, "from", b->from);
    jset_i(o, "batchSize", size);
    jset_i(o, "processedCount", processed);
    jset_s(o, "status", processed >= size ? "Completed" : "Processing");
    jset_iso(o, "creationTime", b->created);
    jset_iso(o, "lastModifiedTime", modified);
    json_object_set_new(o, "rejected", json_array());
    return o;
}

static json_t *a2p_msg_json(const fc_msg *m, int detailed)
{
    char buf[32];
    json_t *o = json_object();
    snprintf(buf, sizeof buf, "%lld", m->id);
    jset_s(o, "id", buf);
    jset_s(o, "batchId", m->batch);
    jset_s(o, "from", m->from);
    json_t *to = json_array();
    for (int i = 0; i < m->nto; i++)
        json_array_append_new(to, json_string(m->to[i]));
    json_object_set_new(o, "to", to);
    jset_s(o, "direction", "Outbound");
    jset_iso(o, "creationTime", m->created);
    jset_iso(o, "lastModifiedTime", m->modified);
    jset_s(o, "messageStatus", fc_status_names[m->status]);
    jset_i(o, "segmentCount", m->segments);
    if (m->status == ST_DELIVERY_FAILED)
        jset_s(o, "errorCode", "SMS-CAR-411");
    if (detailed)
        jset_s(o, "text", m->text);
    return o;
}

/* perPage and pageToken (an offset, "pt<N>"). 0, or the status answered. */
static int a2p_paging(fc_req *r, long long *per, long long *off)
{
    char buf[64];
    *per = FC_A2P_PER_PAGE_MAX;
    *off = 0;
    const char *q = r->ri->query_string;
    if (get_var(q, "perPage", buf, sizeof buf) >= 0 && buf[0]) {
        *per = fc_parse_uint(buf);
        if (*per < 1)
            return rc_bad_param(r, "perPage", buf);
        if (*per > FC_A2P_PER_PAGE_MAX)
            *per = FC_A2P_PER_PAGE_MAX;
    }
    if (get_var(q, "pageToken", buf, sizeof buf) >= 0 && buf[0]) {
        *off = strncmp(buf, "pt", 2) == 0 ? fc_parse_uint(buf + 2) : -1;
        if (*off < 0)
            return rc_bad_param(r, "pageToken", buf);
    }
    return 0;
}

static void a2p_page_tokens(json_t *o, long long per, long long off, int more)
{
    char buf[32];
    json_t *pg = json_object();
    snprintf(buf, sizeof buf, "pt%lld", off);
    jset_s(pg, "pageToken", buf);
    jset_i(pg, "perPage", per);
    jset_s(pg, "firstPageToken", "pt0");
    if (off > 0) {
        snprintf(buf, sizeof buf, "pt%lld", off > per ? off - per : 0);
        jset_s(pg, "previousPageToken", buf);
    }
    if (more) {
        snprintf(buf, sizeof buf, "pt%lld", off + per);
        jset_s(pg, "nextPageToken", buf);
    }
    json_object_set_new(o, "paging", pg);
}

/* dateFrom / dateTo. 0, or the status answered. */
static int a2p_dates(fc_req *r, int64_t *tfrom, int64_t *tto)
{
    char from[64], to[64];
    get_var(r->ri->query_string, "dateFrom", from, sizeof from);
    get_var(r->ri->query_string, "dateTo", to, sizeof to);
    *tfrom = from[0] ? fc_parse_iso(from) : 0;
    *tto = to[0] ? fc_parse_iso(to) : INT64_MAX;
    if (*tfrom < 0)
        return rc_bad_param(r, "dateFrom", from);
    if (*tto < 0)
        return rc_bad_param(r, "dateTo", to);
    return 0;
}

typedef struct a2p_rej {
    long long index;
    char to[FC_PHONE + 8];
} a2p_rej;

static int a2p_create(fc_req *r)
{
    int st;
    json_t *body = NULL;
    if (req_read_body(r) == 0)
        body = json_loadb(r->body, r->len, 0, NULL);
    pthread_mutex_lock(&G.mu);
    A2P.requests++;
    int64_t delay = latency_sample_locked();
    int lose_answer = G.k.timeout_after_create;
    pthread_mutex_unlock(&G.mu);
    if (fc_sleep_ms(delay) != 0) {
        json_decref(body);
        return rc_error(r, 503, "CMN-201", "Service Temporary Unavailable", NULL, NULL);
    }
    fc_fail fault = draw_fault();
    int lost = fault == FAIL_TIMEOUT && lose_answer;
    if (!lost && (st = apply_fault(r, fault)) != 0) {
        json_decref(body);
        return st;
    }
    st = 0;
    if (!body)
        st = rc_error(r, 400, "CMN-103", "JSON can't be parsed.", NULL, NULL);
    else if (!json_is_object(body))
        st = rc_error(r, 400, "CMN-104", "Cannot parse request", NULL, NULL);
    const char *fromv = json_string_value(json_object_get(body, "from"));
    char from[FC_PHONE];
    fc_copy(from, sizeof from, fromv && strlen(fromv) < sizeof from ? fromv : "");
    json_t *top = json_object_get(body, "text"), *msgs = json_object_get(body, "messages");
    const fc_number *num = fc_number_find(from);
    if (!st && !fc_is_e164(fromv))
        st = rc_bad_param(r, "from", fromv);
    else if (!st && (!num || !(num->feat & FEAT_A2P)))
        st = rc_error(r, 400, "CMN-101",
                      "Parameter [from] value is invalid: the number is not an A2P SMS sender "
                      "of this account",
                      "from", from);
    else if (!st && top && (!json_is_string(top) || json_string_length(top) == 0))
        st = rc_bad_param(r, "text", NULL);
    else if (!st && (!json_is_array(msgs) || json_array_size(msgs) == 0))
        st = rc_bad_param(r, "messages", NULL);
    size_t i, k;
    json_t *it, *t;
    long long nrecip = 0;
    if (!st)
        json_array_foreach(msgs, i, it)
        {
            json_t *to = json_object_get(it, "to"), *tx = json_object_get(it, "text");
            if (!json_is_object(it) || !json_is_array(to) || json_array_size(to) == 0) {
                st = rc_bad_param(r, "messages.to", NULL);
                break;
            }
            if (tx ? !json_is_string(tx) || json_string_length(tx) == 0 : !top) {
                st = rc_bad_param(r, "messages.text", NULL);
                break;
            }
            json_array_foreach(to, k, t) if (!json_is_string(t))
            {
                st = rc_bad_param(r, "messages.to", NULL);
                break;
            }
            if (st)
                break;
            nrecip += (long long)json_array_size(to);
        }
    if (st) {
        json_decref(body);
        return st;
    }
    a2p_rej *rej = calloc((size_t)nrecip, sizeof *rej);
    fc_msg **made = calloc((size_t)nrecip, sizeof *made);
    long long nrej = 0, nmade = 0;
    int oom = !rej || !made;
    int64_t now = fc_wall_ms();
    /* recipients checked and messages built outside the lock */
    json_array_foreach(msgs, i, it)
    {
        json_t *tx = json_object_get(it, "text");
        const char *text = json_string_value(tx ? tx : top);
        json_array_foreach(json_object_get(it, "to"), k, t)
        {
            const char *to = json_string_value(t);
            pthread_mutex_lock(&G.mu);
            int invalid = !fc_is_e164(to) || fc_phones_has(&G.invalid_to, to);
            int undeliverable = !invalid && fc_phones_has(&G.undeliverable, to);
            pthread_mutex_unlock(&G.mu);
            if (oom)
                continue;
            if (invalid) {
                rej[nrej].index = (long long)i + 1;
                fc_copy(rej[nrej].to, sizeof rej[nrej].to, to);
                nrej++;
                continue;
            }
            fc_msg *m = calloc(1, sizeof *m);
            if (!m || !(m->text = strdup(text))) {
                free(m);
                oom = 1;
                continue;
            }
            m->a2p = 1;
            m->nto = 1;
            fc_copy(m->to[0], FC_PHONE, to);
            fc_copy(m->from, sizeof m->from, from);
            m->undeliverable = undeliverable;
            m->status = ST_QUEUED;
            m->attempt = 1;
            m->created = m->modified = now;
            m->segments = fc_segments(m->text);
            made[nmade++] = m;
        }
    }
    json_decref(body);
    if (oom) {
        for (long long x = 0; x < nmade; x++)
            msg_free(made[x]);
        free(made);
        free(rej);
        return rc_error(r, 500, "CMN-203", "Internal Server Error", NULL, NULL);
    }
    json_t *o;
    pthread_mutex_lock(&G.mu);
    fc_batch *b = &A2P.v[A2P.nbatches++ % FC_A2P_BATCHES];
    memset(b, 0, sizeof *b);
    fc_uuid(b->id);
    fc_copy(b->from, sizeof b->from, from);
    b->created = now;
    b->nrejected = nrej;
    b->n = nmade;
    for (long long x = 0; x < nmade; x++) {
        fc_copy(made[x]->batch, sizeof made[x]->batch, b->id);
        long long id = msg_store_locked(made[x]);
        if (x == 0)
            b->first = id;
        timer_push_locked(fc_mono_ms() + latency_sample_locked(), id);
    }
    A2P.created++;
    A2P.messages += nmade;
    A2P.rejected += nrej;
    o = a2p_batch_json_locked(b);
    pthread_mutex_unlock(&G.mu);
    free(made);
    json_t *ra = json_object_get(o, "rejected");
    for (long long x = 0; x < nrej; x++) {
        json_t *e = json_object(), *to = json_array();
        jset_i(e, "index", rej[x].index);
        json_array_append_new(to, json_string(rej[x].to));
        json_object_set_new(e, "to", to);
        jset_s(e, "errorCode", "SMS-RC-410");
        jset_s(e, "description", "The recipient number is invalid");
        json_array_append_new(ra, e);
    }
    free(rej);
    if (lost) { /* created, but the answer never comes */
        json_decref(o);
        return apply_fault(r, FAIL_TIMEOUT);
    }
    return reply_json(r, 200, o);
}

static int a2p_batch_list(fc_req *r)
{
    long long per, off;
    int64_t tfrom, tto;
    int st;
    char from[64];
    if ((st = a2p_paging(r, &per, &off)) != 0 || (st = a2p_dates(r, &tfrom, &tto)) != 0)
        return st;
    get_var(r->ri->query_string, "from", from, sizeof from);
    json_t *recs = json_array();
    long long seen = 0;
    int more = 0;
    pthread_mutex_lock(&G.mu);
    long long lo = A2P.nbatches > FC_A2P_BATCHES ? A2P.nbatches - FC_A2P_BATCHES : 0;
    for (long long i = lo; i < A2P.nbatches; i++) {
        const fc_batch *b = &A2P.v[i % FC_A2P_BATCHES];
        if ((from[0] && strcmp(b->from, from) != 0) || b->created < tfrom || b->created > tto)
            continue;
        if (seen++ < off)
            continue;
        if ((long long)json_array_size(recs) == per) {
            more = 1;
            break;
        }
        json_array_append_new(recs, a2p_batch_json_locked(b));
    }
    pthread_mutex_unlock(&G.mu);
    json_t *o = json_object();
    json_object_set_new(o, "records", recs);
    a2p_page_tokens(o, per, off, more);
    return reply_json(r, 200, o);
}

static int a2p_batch_get(fc_req *r, const char *id)
{
    pthread_mutex_lock(&G.mu);
    fc_batch *b = a2p_batch_find_locked(id);
    json_t *o = b ? a2p_batch_json_locked(b) : NULL;
    pthread_mutex_unlock(&G.mu);
    if (!o)
        return rc_not_found(r, "batchId", id);
    return reply_json(r, 200, o);
}

static int a2p_msg_list(fc_req *r)
{
    long long per, off;
    int64_t tfrom, tto;
    int st;
    const char *q = r->ri->query_string;
    char batch[64], view[32], phone[64], dir[32];
    if ((st = a2p_paging(r, &per, &off)) != 0 || (st = a2p_dates(r, &tfrom, &tto)) != 0)
        return st;
    get_var(q, "batchId", batch, sizeof batch);
    get_var(q, "view", view, sizeof view);
    get_var(q, "phoneNumber", phone, sizeof phone);
    get_var(q, "direction", dir, sizeof dir);
    if (view[0] && strcmp(view, "Simple") != 0 && strcmp(view, "Detailed") != 0)
        return rc_bad_param(r, "view", view);
    if (dir[0] && strcmp(dir, "Outbound") != 0 && strcmp(dir, "Inbound") != 0)
        return rc_bad_param(r, "direction", dir);
    int detailed = strcmp(view, "Detailed") == 0;
    json_t *recs = json_array();
    long long seen = 0;
    int more = 0;
    pthread_mutex_lock(&G.mu);
    long long lo = G.first_id, hi = G.next_id;
    if (batch[0]) {
        fc_batch *b = a2p_batch_find_locked(batch);
        if (!b) {
            pthread_mutex_unlock(&G.mu);
            json_decref(recs);
            return rc_not_found(r, "batchId", batch);
        }
        lo = b->first > lo ? b->first : lo;
        hi = b->first + b->n < hi ? b->first + b->n : hi;
    }
    for (long long id = lo; id < hi && strcmp(dir, "Inbound") != 0; id++) {
        fc_msg *m = msg_find_locked(id);
        if (!m || !m->a2p || m->created < tfrom || m->created > tto)
            continue;
        if (phone[0] && strcmp(m->to[0], phone) != 0 && strcmp(m->from, phone) != 0)
            continue;
        if (seen++ < off)
            continue;
        if ((long long)json_array_size(recs) == per) {
            more = 1;
            break;
        }
        json_array_append_new(recs, a2p_msg_json(m, detailed));
    }
    pthread_mutex_unlock(&G.mu);
    json_t *o = json_object();
    json_object_set_new(o, "records", recs);
    a2p_page_tokens(o, per, off, more);
    return reply_json(r, 200, o);
}

static int a2p_msg_get(fc_req *r, const char *idstr)
{
    long long id = fc_parse_uint(idstr);
    pthread_mutex_lock(&G.mu);
    fc_msg *m = id >= 0 ? msg_find_locked(id) : NULL;
    json_t *o = m && m->a2p ? a2p_msg_json(m, 1) : NULL;
    pthread_mutex_unlock(&G.mu);
    if (!o)
        return rc_not_found(r, "messageId", idstr);
    return reply_json(r, 200, o);
}

/* account/{a}/a2p-sms/..., authenticated: s[0] "account", s[2] "a2p-sms". */
static int a2p_route(fc_req *r, char **s, int n)
{
    int st;
    int post = req_is(r, "POST"), get = req_is(r, "GET");
    if ((st = req_rate(r, G_LIGHT, r->owner, 0)) != 0)
        return st;
    if ((st = check_account(r, s[1])) != 0)
        return st;
    if (n == 4 && strcmp(s[3], "batches") == 0) {
        if (post)
            return a2p_create(r);
        if (get)
            return a2p_batch_list(r);
    } else if (n == 5 && strcmp(s[3], "batches") == 0) {
        if (get)
            return a2p_batch_get(r, s[4]);
    } else if (n == 4 && strcmp(s[3], "messages") == 0) {
        if (get)
            return a2p_msg_list(r);
    } else if (n == 5 && strcmp(s[3], "messages") == 0) {
        if (get)
            return a2p_msg_get(r, s[4]);
    } else {
        return rc_error(r, 404, "CMN-120", "Invalid URI", NULL, NULL);
    }
    return rc_error(r, 405, "CMN-202", "Operation is not supported", NULL, NULL);
}

#endif
