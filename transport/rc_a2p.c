/*
 * transport/rc_a2p.c — RingCentral's A2P answers and the message-store
 * search, read (rc_a2p.h).
 */
#include "transport/rc_a2p.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bus/util.h"
#include "transport/rc_parse.h"

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && s[0] ? s : NULL;
}

/* A string or integer member as text ("" otherwise). */
static void id_of(const json_t *o, const char *key, char *out, size_t outsz)
{
    const json_t *v = json_object_get(o, key);
    out[0] = '\0';
    if (json_is_string(v))
        snprintf(out, outsz, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, outsz, "%lld", (long long)json_integer_value(v));
}

static int64_t int_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static int64_t time_of(const json_t *o, const char *key)
{
    int64_t ms = 0;
    const char *s = str_of(o, key);
    if (!s || sgw_time_parse(s, &ms) != SGW_OK)
        return 0;
    return ms;
}

int sgw_rc_a2p_status(const char *w)
{
    static const char *const names[] = { "Queued", "Sent", "Delivered", "DeliveryFailed",
                                         "SendingFailed" };
    for (int i = 0; w && i < 5; i++)
        if (strcmp(w, names[i]) == 0)
            return i;
    return SGW_A2P_UNKNOWN;
}

static int batch_of(const json_t *o, sgw_rc_a2p_batch *b)
{
    memset(b, 0, sizeof *b);
    id_of(o, "id", b->id, sizeof b->id);
    if (!b->id[0])
        return 0;
    const char *from = str_of(o, "from");
    snprintf(b->from, sizeof b->from, "%s", from ? from : "");
    b->size = int_of(o, "batchSize");
    b->processed = int_of(o, "processedCount");
    const char *st = str_of(o, "status");
    b->completed = st && strcmp(st, "Completed") == 0;
    b->created_ms = time_of(o, "creationTime");
    return 1;
}

int sgw_rc_a2p_batch_parse(const char *body, sgw_rc_a2p_batch *b)
{
    json_t *o = json_loads(body ? body : "", 0, NULL);
    int ok = json_is_object(o) && batch_of(o, b);
    if (!ok)
        memset(b, 0, sizeof *b);
    json_decref(o);
    return ok;
}

int sgw_rc_a2p_rejected(const char *body, sgw_rc_a2p_rejected_fn fn, void *ctx)
{
    json_t *o = json_loads(body ? body : "", 0, NULL);
    size_t i;
    json_t *r;
    int n = 0;
    json_array_foreach(json_object_get(o, "rejected"), i, r)
    {
        const char *to = json_string_value(json_array_get(json_object_get(r, "to"), 0));
        const char *code = str_of(r, "errorCode"), *desc = str_of(r, "description");
        fn(ctx, int_of(r, "index"), to ? to : "", code ? code : "", desc ? desc : "");
        n++;
    }
    json_decref(o);
    return n;
}

static int msg_of(const json_t *o, sgw_rc_a2p_msg *m, char idbuf[64])
{
    memset(m, 0, sizeof *m);
    id_of(o, "id", idbuf, 64);
    if (!idbuf[0])
        return 0;
    m->id = idbuf;
    m->batch = str_of(o, "batchId");
    m->from = str_of(o, "from");
    m->to = json_string_value(json_array_get(json_object_get(o, "to"), 0));
    m->text = json_string_value(json_object_get(o, "text"));
    m->error_code = str_of(o, "errorCode");
    m->status = sgw_rc_a2p_status(str_of(o, "messageStatus"));
    return 1;
}

int sgw_rc_a2p_message_parse(const char *body, sgw_rc_a2p_msg *m, void **keep)
{
    static _Thread_local char idbuf[64];
    json_t *o = json_loads(body ? body : "", 0, NULL);
    *keep = o;
    return json_is_object(o) && msg_of(o, m, idbuf);
}

void sgw_rc_a2p_release(void *keep)
{
    json_decref(keep);
}

static json_t *page_of(const char *body, char *next, size_t nextsz, json_t **recs)
{
    next[0] = '\0';
    json_t *o = json_loads(body ? body : "", 0, NULL);
    *recs = json_object_get(o, "records");
    if (!json_is_array(*recs)) {
        json_decref(o);
        return NULL;
    }
    const char *nt = str_of(json_object_get(o, "paging"), "nextPageToken");
    if (nt && strlen(nt) < nextsz)
        snprintf(next, nextsz, "%s", nt);
    return o;
}

int sgw_rc_a2p_messages_page(const char *body, sgw_rc_a2p_msg_fn fn, void *ctx, char *next,
                             size_t nextsz)
{
    json_t *recs, *o = page_of(body, next, nextsz, &recs);
    if (!o)
        return -1;
    size_t i;
    json_t *r;
    int n = 0;
    char idbuf[64];
    json_array_foreach(recs, i, r)
    {
        sgw_rc_a2p_msg m;
        if (msg_of(r, &m, idbuf)) {
            fn(ctx, &m);
            n++;
        }
    }
    json_decref(o);
    return n;
}

int sgw_rc_a2p_batches_page(const char *body, sgw_rc_a2p_batch_fn fn, void *ctx, char *next,
                            size_t nextsz)
{
    json_t *recs, *o = page_of(body, next, nextsz, &recs);
    if (!o)
        return -1;
    size_t i;
    json_t *r;
    int n = 0;
    json_array_foreach(recs, i, r)
    {
        sgw_rc_a2p_batch b;
        if (batch_of(r, &b)) {
            fn(ctx, &b);
            n++;
        }
    }
    json_decref(o);
    return n;
}

int sgw_rc_find_sent(const char *body, const char *from, const char *to, const char *text,
                     int64_t not_before_ms, char pmid[64])
{
    pmid[0] = '\0';
    json_t *o = json_loads(body ? body : "", 0, NULL);
    json_t *recs = json_object_get(o, "records");
    if (!json_is_array(recs)) {
        json_decref(o);
        return -1;
    }
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *dir = str_of(r, "direction");
        const char *f = str_of(json_object_get(r, "from"), "phoneNumber");
        const char *subj = json_string_value(json_object_get(r, "subject"));
        if ((dir && strcmp(dir, "Outbound") != 0) || !f || strcmp(f, from) != 0 ||
            (subj && strcmp(subj, text) != 0))
            continue;
        int64_t created = time_of(r, "creationTime");
        if (created && created < not_before_ms)
            continue;
        size_t k;
        json_t *t;
        int hit = 0;
        json_array_foreach(json_object_get(r, "to"), k, t)
        {
            const char *p = str_of(t, "phoneNumber");
            if (p && strcmp(p, to) == 0)
                hit = 1;
        }
        if (hit)
            id_of(r, "id", pmid, 64); /* newest first: the last hit is the oldest */
    }
    json_decref(o);
    return pmid[0] ? 1 : 0;
}

int64_t sgw_rc_features_page(const char *body, sgw_rc_feature_fn fn, void *ctx)
{
    json_t *o = json_loads(body ? body : "", 0, NULL);
    json_t *recs = json_object_get(o, "records");
    if (!json_is_array(recs)) {
        json_decref(o);
        return -1;
    }
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *phone = str_of(r, "phoneNumber");
        json_t *feats = json_object_get(r, "features");
        if (phone && json_is_array(feats))
            fn(ctx, phone, sgw_rc_features(feats));
    }
    json_int_t pages =
        json_integer_value(json_object_get(json_object_get(o, "paging"), "totalPages"));
    json_decref(o);
    return pages;
}
