/*
 * actors/pipeline.c — what the actors share: the pipeline order, and the
 * codecs of the payloads they exchange.
 */
#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "bus/util.h"

const struct sgw_actor_ops *const sgw_pipeline[SGW_PIPELINE_LEN] = {
    &sgw_actor_ingress, &sgw_actor_validator, &sgw_actor_scheduler,
    &sgw_actor_ratelimit, &sgw_actor_sender, &sgw_actor_rcwebhook, &sgw_actor_twwebhook,
    &sgw_actor_status,
    &sgw_actor_webhooks,
};

void sgw_route_load(const sgw_cfg *cfg, int test, sgw_route *out)
{
    memset(out, 0, sizeof *out);
    const config_setting_t *r =
        sgw_cfg_setting(cfg, test ? "transport.test_route" : "transport.default_route");
    int len = r ? config_setting_length(r) : 0;
    for (int i = 0; i < len && out->n < SGW_ROUTE_MAX; i++) {
        const char *name = config_setting_get_string_elem(r, i);
        if (name && name[0])
            snprintf(out->name[out->n++], sizeof out->name[0], "%s", name);
    }
    if (out->n == 0)
        snprintf(out->name[out->n++], sizeof out->name[0], "sim");
}

int sgw_route_start(const sgw_sms *m, const sgw_route *r)
{
    if (m->nattempts == 0 || m->attempts[m->nattempts - 1].ok)
        return 0;
    const char *last = m->attempts[m->nattempts - 1].provider;
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->name[i], last) == 0)
            return i < r->n - 1 ? i + 1 : i;
    return 0; /* the route changed since: from its start */
}

sgw_err sgw_list_add(sgw_list *l, const void *item, size_t len)
{
    size_t need = l->len + len + 5;
    if (need > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        while (cap < need)
            cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b)
            return SGW_ENOMEM;
        l->buf = b;
        l->cap = cap;
    }
    /* bin 32 header: 0xc6 + big-endian length */
    unsigned char *h = (unsigned char *)l->buf + l->len;
    h[0] = 0xc6;
    h[1] = (unsigned char)(len >> 24);
    h[2] = (unsigned char)(len >> 16);
    h[3] = (unsigned char)(len >> 8);
    h[4] = (unsigned char)len;
    memcpy(l->buf + l->len + 5, item, len);
    l->len += len + 5;
    l->n++;
    return SGW_OK;
}

sgw_err sgw_list_send(const sgw_actor_env *env, nng_socket sock, sgw_msg_type type, int code,
                      sgw_list *l, int timeout_ms)
{
    if (l->n == 0)
        return SGW_OK;
    /* array 32 header in front of the items */
    size_t total = l->len + 5;
    char *body = malloc(total);
    if (!body)
        return SGW_ENOMEM;
    unsigned char *h = (unsigned char *)body;
    h[0] = 0xdd;
    h[1] = (unsigned char)((unsigned)l->n >> 24);
    h[2] = (unsigned char)((unsigned)l->n >> 16);
    h[3] = (unsigned char)((unsigned)l->n >> 8);
    h[4] = (unsigned char)l->n;
    memcpy(body + 5, l->buf, l->len);
    sgw_msg m;
    sgw_msg_init(&m, type, "");
    m.code = code;
    m.attempt = l->n;
    m.body = body;
    m.body_len = total;
    sgw_err rv = sgw_actor_send(env, sock, &m, timeout_ms);
    free(body);
    l->len = 0;
    l->n = 0;
    return rv;
}

void sgw_list_free(sgw_list *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

int sgw_list_next(const void *body, size_t len, size_t *off, const void **item, size_t *ilen)
{
    const unsigned char *p = body;
    if (*off == 0) {
        if (len < 5 || p[0] != 0xdd)
            return 0;
        *off = 5;
    }
    if (*off + 5 > len || p[*off] != 0xc6)
        return 0;
    size_t n = (size_t)p[*off + 1] << 24 | (size_t)p[*off + 2] << 16 |
               (size_t)p[*off + 3] << 8 | p[*off + 4];
    if (n > len - *off - 5)
        return 0;
    *item = p + *off + 5;
    *ilen = n;
    *off += 5 + n;
    return 1;
}

static void pk_s(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

sgw_err sgw_outcome_encode(const sgw_tr_outcome *o, const char *provider, void **out,
                           size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 16);
    msgpack_pack_int(&pk, o->kind);
    pk_s(&pk, o->id);
    msgpack_pack_int(&pk, (int)o->result);
    pk_s(&pk, provider);
    pk_s(&pk, o->provider_msg_id);
    pk_s(&pk, o->error_code);
    pk_s(&pk, o->error_message);
    msgpack_pack_int64(&pk, o->retry_after_ms);
    msgpack_pack_int64(&pk, o->started_ms);
    msgpack_pack_int64(&pk, o->finished_ms);
    msgpack_pack_int(&pk, o->attempt);
    /* inbound SMS (SGW_TR_INBOUND) */
    pk_s(&pk, o->tenant);
    pk_s(&pk, o->from);
    pk_s(&pk, o->to);
    if (o->body)
        pk_s(&pk, o->body);
    else
        msgpack_pack_nil(&pk);
    msgpack_pack_int(&pk, o->flags);
    if (!sb.data)
        return SGW_ENOMEM;
    *out = sb.data;
    *len = sb.size;
    return SGW_OK;
}

static int od_str(const msgpack_object *v, char *out, size_t outsz)
{
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= outsz)
        return 0;
    /* (an empty str may have a NULL ptr: msgpack-c) */
    memcpy(out, v->via.str.size ? v->via.str.ptr : "", v->via.str.size);
    out[v->via.str.size] = '\0';
    return 1;
}

static int od_int(const msgpack_object *v, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
        *out = (int64_t)v->via.u64;
    else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = v->via.i64;
    else
        return 0;
    return 1;
}

sgw_err sgw_outcome_decode(const void *buf, size_t len, sgw_tr_outcome *o, char provider[24])
{
    memset(o, 0, sizeof *o);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int ok = 0;
    int64_t kind, result, attempt;
    if (sgw_msgpack_plausible(buf, len) &&
        msgpack_unpack_next(&up, buf, len, &off) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_ARRAY && up.data.via.array.size >= 11) {
        const msgpack_object *f = up.data.via.array.ptr;
        ok = od_int(&f[0], &kind) && od_str(&f[1], o->id, sizeof o->id) &&
             od_int(&f[2], &result) && od_str(&f[3], provider, 24) &&
             od_str(&f[4], o->provider_msg_id, sizeof o->provider_msg_id) &&
             od_str(&f[5], o->error_code, sizeof o->error_code) &&
             od_str(&f[6], o->error_message, sizeof o->error_message) &&
             od_int(&f[7], &o->retry_after_ms) && od_int(&f[8], &o->started_ms) &&
             od_int(&f[9], &o->finished_ms) && od_int(&f[10], &attempt) &&
             result >= SGW_SEND_OK && result <= SGW_SEND_REJECTED;
        if (ok && up.data.via.array.size >= 15) {
            ok = od_str(&f[11], o->tenant, sizeof o->tenant) &&
                 od_str(&f[12], o->from, sizeof o->from) && od_str(&f[13], o->to, sizeof o->to) &&
                 (f[14].type == MSGPACK_OBJECT_NIL || f[14].type == MSGPACK_OBJECT_STR);
            if (ok && f[14].type == MSGPACK_OBJECT_STR) {
                o->body = malloc(f[14].via.str.size + 1);
                if (o->body) {
                    memcpy(o->body, f[14].via.str.size ? f[14].via.str.ptr : "",
                           f[14].via.str.size);
                    o->body[f[14].via.str.size] = '\0';
                } else {
                    ok = 0;
                }
            }
        }
        int64_t flags = 0;
        if (ok && up.data.via.array.size >= 16)
            ok = od_int(&f[15], &flags) && flags >= 0 && flags <= SGW_TR_FLAGS_ALL;
        if (ok) {
            o->flags = (int)flags;
            o->kind = (int)kind;
            o->result = (sgw_send_result)result;
            o->attempt = (int)attempt;
        }
    }
    msgpack_unpacked_destroy(&up);
    if (!ok) { /* a later field was bad: nothing is handed back */
        free(o->body);
        o->body = NULL;
    }
    return ok ? SGW_OK : SGW_EPROTO;
}

char *sgw_event_json(const sgw_sms *m)
{
    char ts[32];
    sgw_time_format(ts, m->updated_ms);
    json_t *o;
    if (m->direction == SGW_DIR_INBOUND) {
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "sms_inbound",
                      "messageId", m->id, "from", m->from, "to", m->to, "body",
                      m->body ? m->body : "", "rcMessageId", m->provider_msg_id, "tenantId",
                      m->tenant, "timestamp", ts);
    } else {
        o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "sms_status", "messageId", m->id,
                      "appId", m->app, "tenantId", m->tenant, "status",
                      sgw_status_name(m->status));
        if (o && m->error)
            json_object_set_new(o, "error", json_string(m->error));
        else if (o && m->provider_msg_id[0])
            json_object_set_new(o, "rcMessageId", json_string(m->provider_msg_id));
        if (o)
            json_object_set_new(o, "timestamp", json_string(ts));
    }
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* Pick the id of an inbound SMS: msg_ + 12 hex of SHA-256(tenant, provider,
 * provider message id, k), the first k whose id is free (*dup = 0) or holds
 * this very SMS (*dup = 1: heard before). Not SGW_OK: the store failed. */
sgw_err sgw_inbound_id(sgw_store *store, const char *tenant, const char *provider,
                       const char *pmid, char id[24], int *dup)
{
    *dup = 0;
    for (int k = 0; k < 8; k++) {
        char key[192], hex[65];
        int len = snprintf(key, sizeof key, "%s/%s/%s/%d", tenant, provider, pmid, k);
        sgw_sha256_hex(hex, key, (size_t)len);
        snprintf(id, 24, "msg_%.12s", hex);
        sgw_sms old;
        sgw_err rv = sgw_store_sms_get(store, id, &old);
        if (rv == SGW_ENOENT)
            return SGW_OK;
        if (rv == SGW_EPROTO)
            continue; /* a corrupt record there: not ours to reuse */
        if (rv != SGW_OK)
            return rv;
        *dup = old.direction == SGW_DIR_INBOUND && strcmp(old.tenant, tenant) == 0 &&
               strcmp(old.provider, provider) == 0 && strcmp(old.provider_msg_id, pmid) == 0;
        sgw_sms_clear(&old);
        if (*dup)
            return SGW_OK;
    }
    return SGW_EEXIST; /* eight collisions: not in this universe */
}
