/*
 * bench/fc/json.h — fakecarrier: the JSON shapes it answers with
 * (RingCentral's message record, notification bodies, subscriptions,
 * paging) and the knobs. Callers own what these return (json_decref).
 */
#ifndef FC_JSON_H
#define FC_JSON_H

#include "state.h"

static void jset_s(json_t *o, const char *k, const char *v)
{
    json_object_set_new(o, k, json_string(v ? v : ""));
}

static void jset_i(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void jset_iso(json_t *o, const char *k, int64_t wall_ms)
{
    char t[32];
    fc_iso(wall_ms, t);
    jset_s(o, k, t);
}

static json_t *phone_obj(const char *phone)
{
    json_t *o = json_object();
    jset_s(o, "phoneNumber", phone);
    return o;
}

static json_t *msg_to_array(const fc_msg *m)
{
    json_t *a = json_array();
    for (int i = 0; i < m->nto; i++)
        json_array_append_new(a, phone_obj(m->to[i]));
    return a;
}

/* The message record, as POST .../sms and GET .../message-store/{id}
 * answer it: ids are JSON numbers (transport/README.md section 3). */
static json_t *msg_json(const fc_msg *m)
{
    char buf[256];
    json_t *o = json_object();
    snprintf(buf, sizeof buf, "%s/restapi/v1.0/account/%s/extension/%s/message-store/%lld", G.base,
             G.account, m->ext, m->id);
    jset_s(o, "uri", buf);
    jset_i(o, "id", m->id);
    json_object_set_new(o, "to", msg_to_array(m));
    json_object_set_new(o, "from", phone_obj(m->from));
    jset_s(o, "type", "SMS");
    jset_iso(o, "creationTime", m->created);
    jset_s(o, "readStatus", m->inbound ? "Unread" : "Read");
    jset_s(o, "priority", "Normal");
    json_object_set_new(o, "attachments", json_array());
    jset_s(o, "direction", m->inbound ? "Inbound" : "Outbound");
    jset_s(o, "availability", "Alive");
    jset_s(o, "subject", m->text);
    jset_s(o, "messageStatus", fc_status_names[m->status]);
    if (!m->inbound)
        jset_i(o, "smsSendingAttemptsCount", 1);
    jset_i(o, "conversationId", m->conv);
    json_t *conv = json_object();
    snprintf(buf, sizeof buf, "%lld", m->conv);
    jset_s(conv, "id", buf);
    char uri[160];
    snprintf(uri, sizeof uri, "%s/restapi/v1.0/conversation/%lld", G.base, m->conv);
    jset_s(conv, "uri", uri);
    json_object_set_new(o, "conversation", conv);
    jset_iso(o, "lastModifiedTime", m->modified);
    jset_i(o, "segmentCount", m->segments);
    if (m->delivered)
        jset_iso(o, "smsDeliveryTime", m->delivered);
    if (m->status == ST_DELIVERY_FAILED)
        jset_s(o, "deliveryErrorCode", "SMS-CAR-411");
    return o;
}

/* The body of an instant-message notification (inbound SMS): ids are
 * strings there (transport/README.md section 7.6). */
static json_t *msg_instant_json(const fc_msg *m)
{
    char buf[32];
    json_t *o = json_object();
    snprintf(buf, sizeof buf, "%lld", m->id);
    jset_s(o, "id", buf);
    json_object_set_new(o, "to", msg_to_array(m));
    json_object_set_new(o, "from", phone_obj(m->from));
    jset_s(o, "type", "SMS");
    jset_iso(o, "creationTime", m->created);
    jset_iso(o, "lastModifiedTime", m->modified);
    jset_s(o, "readStatus", m->inbound ? "Unread" : "Read");
    jset_s(o, "priority", "Normal");
    json_object_set_new(o, "attachments", json_array());
    jset_s(o, "direction", m->inbound ? "Inbound" : "Outbound");
    jset_s(o, "availability", "Alive");
    jset_s(o, "subject", m->text);
    jset_s(o, "messageStatus", fc_status_names[m->status]);
    snprintf(buf, sizeof buf, "%lld", m->conv);
    jset_s(o, "conversationId", buf);
    return o;
}

/* The body of a message-store (Message Event) notification: counts, and
 * the new message's id when it is new (transport/README.md section 7.5). */
static json_t *msg_store_event_json(const fc_msg *m, int is_new)
{
    json_t *o = json_object();
    jset_s(o, "accountId", G.account);
    jset_s(o, "extensionId", m->ext);
    jset_iso(o, "lastUpdated", m->modified);
    json_t *ch = json_object();
    jset_s(ch, "type", "SMS");
    jset_i(ch, "newCount", is_new ? 1 : 0);
    jset_i(ch, "updatedCount", is_new ? 0 : 1);
    if (is_new) {
        json_t *ids = json_array();
        json_array_append_new(ids, json_integer((json_int_t)m->id));
        json_object_set_new(ch, "newMessageIds", ids);
    }
    json_t *changes = json_array();
    json_array_append_new(changes, ch);
    json_object_set_new(o, "changes", changes);
    return o;
}

/* The control API's view of a message. */
static json_t *msg_fake_json(const fc_msg *m)
{
    json_t *o = json_object();
    jset_i(o, "id", m->id);
    jset_s(o, "from", m->from);
    json_t *to = json_array();
    for (int i = 0; i < m->nto; i++)
        json_array_append_new(to, json_string(m->to[i]));
    json_object_set_new(o, "to", to);
    jset_s(o, "text", m->text);
    jset_s(o, "extensionId", m->ext);
    jset_s(o, "direction", m->inbound ? "Inbound" : "Outbound");
    jset_s(o, "status", fc_status_names[m->status]);
    jset_iso(o, "creationTime", m->created);
    jset_iso(o, "lastModifiedTime", m->modified);
    if (!m->inbound)
        jset_i(o, "attempt", m->attempt);
    if (!m->inbound)
        jset_s(o, "api", m->a2p ? "a2p" : "sms");
    if (m->a2p)
        jset_s(o, "batchId", m->batch);
    return o;
}

static json_t *sub_json_locked(const fc_sub *s)
{
    char buf[256];
    json_t *o = json_object();
    snprintf(buf, sizeof buf, "%s/restapi/v1.0/subscription/%s", G.base, s->id);
    jset_s(o, "uri", buf);
    jset_s(o, "id", s->id);
    jset_iso(o, "creationTime", s->created);
    jset_s(o, "status", "Active");
    json_t *f = json_array();
    for (size_t i = 0; i < s->nfilters; i++)
        json_array_append_new(f, json_string(s->filters[i]));
    json_object_set_new(o, "eventFilters", f);
    jset_iso(o, "expirationTime", s->expires_w);
    int64_t left = s->expires - fc_mono_ms();
    jset_i(o, "expiresIn", left > 0 ? (left + 999) / 1000 : 0);
    json_t *dm = json_object();
    jset_s(dm, "transportType", "WebHook");
    jset_s(dm, "address", s->address);
    json_object_set_new(dm, "encryption", json_false());
    json_object_set_new(o, "deliveryMode", dm);
    return o;
}

/* {uri, paging, navigation} for a page of a list at path (absolute path,
 * no query). Records are added by the caller. */
static json_t *page_json(const char *path, long long page, long long per, long long total,
                         long long shown)
{
    char uri[512];
    json_t *o = json_object();
    snprintf(uri, sizeof uri, "%s%s?page=%lld&perPage=%lld", G.base, path, page, per);
    jset_s(o, "uri", uri);
    long long pages = total == 0 ? 1 : (total + per - 1) / per;
    json_t *pg = json_object();
    jset_i(pg, "page", page);
    jset_i(pg, "totalPages", pages);
    jset_i(pg, "perPage", per);
    jset_i(pg, "totalElements", total);
    if (shown > 0) {
        jset_i(pg, "pageStart", (page - 1) * per);
        jset_i(pg, "pageEnd", (page - 1) * per + shown - 1);
    }
    json_object_set_new(o, "paging", pg);
    json_t *nav = json_object();
    struct {
        const char *name;
        long long p;
        int on;
    } links[] = { { "firstPage", 1, 1 },
                  { "nextPage", page + 1, page < pages },
                  { "previousPage", page - 1, page > 1 && page - 1 <= pages },
                  { "lastPage", pages, 1 } };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        if (!links[i].on)
            continue;
        json_t *l = json_object();
        snprintf(uri, sizeof uri, "%s%s?page=%lld&perPage=%lld", G.base, path, links[i].p, per);
        jset_s(l, "uri", uri);
        json_object_set_new(nav, links[i].name, l);
    }
    json_object_set_new(o, "navigation", nav);
    return o;
}

static json_t *features_json(unsigned feat)
{
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof fc_feature_names / sizeof fc_feature_names[0]; i++)
        if (feat & fc_feature_names[i].bit)
            json_array_append_new(a, json_string(fc_feature_names[i].name));
    return a;
}

static json_t *phones_json(const fc_phones *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->v[i]));
    return a;
}

static json_t *knobs_json_locked(void)
{
    json_t *o = json_object();
    for (size_t i = 0; i < FC_NKNOBS; i++) {
        const struct fc_knob_def *d = &fc_knob_defs[i];
        const char *p = (const char *)&G.k + d->off;
        if (d->type == K_INT)
            jset_i(o, d->name, *(const long long *)p);
        else if (d->type == K_PROB)
            json_object_set_new(o, d->name, json_real(*(const double *)p));
        else
            json_object_set_new(o, d->name, json_boolean(*(const int *)p));
    }
    json_object_set_new(o, "undeliverable", phones_json(&G.undeliverable));
    json_object_set_new(o, "invalid_to", phones_json(&G.invalid_to));
    json_t *f = json_array();
    for (size_t i = 0; i < G.fail_n; i++)
        json_array_append_new(
            f, json_string(fc_fail_names[G.failq[(G.fail_head + i) % FC_FAIL_QUEUE]]));
    json_object_set_new(o, "fail_next", f);
    return o;
}

#endif
