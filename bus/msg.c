#include "bus/msg.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static const char *const msg_names[] = {
#define SGW_MSG(e, name) name,
#include "bus/msg_types.def"
#undef SGW_MSG
};

const char *sgw_msg_type_name(sgw_msg_type t)
{
    return (unsigned)t < SGW_MSG_TYPE_MAX ? msg_names[t] : "?";
}

void sgw_msg_init(sgw_msg *m, sgw_msg_type t, const char *id)
{
    memset(m, 0, sizeof *m);
    m->type = t;
    if (id)
        snprintf(m->id, sizeof m->id, "%s", id);
}

static void pack_str(msgpack_packer *pk, const char *key, const char *v)
{
    size_t n = strlen(v);
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, v, n);
}

static void pack_int(msgpack_packer *pk, const char *key, int64_t v)
{
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
    msgpack_pack_int64(pk, v);
}

static void pack_bin(msgpack_packer *pk, const char *key, const void *v, size_t n)
{
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, v, n);
}

sgw_err sgw_msg_encode(const sgw_msg *m, void **out, size_t *outlen)
{
    if ((unsigned)m->type >= SGW_MSG_TYPE_MAX)
        return SGW_EINVAL;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t n = 11 + (m->reply ? 1 : 0) + (m->body ? 1 : 0);
    msgpack_pack_map(&pk, n);
    pack_int(&pk, "v", SGW_MSG_VERSION);
    pack_str(&pk, "type", msg_names[m->type]);
    pack_str(&pk, "id", m->id);
    pack_str(&pk, "tenant", m->tenant);
    pack_str(&pk, "app", m->app);
    pack_int(&pk, "attempt", m->attempt);
    pack_int(&pk, "code", m->code);
    pack_int(&pk, "flags", m->flags);
    pack_int(&pk, "created_ms", m->created_ms);
    pack_int(&pk, "sent_ms", m->sent_ms);
    pack_int(&pk, "due_ms", m->due_ms);
    if (m->reply)
        pack_bin(&pk, "reply", m->reply, m->reply_len);
    if (m->body)
        pack_bin(&pk, "body", m->body, m->body_len);
    if (!sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return SGW_ENOMEM;
    }
    *out = sb.data; /* sbuffer's data is malloc'd: the caller frees it */
    *outlen = sb.size;
    return SGW_OK;
}

static int key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static int get_int(const msgpack_object *v, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (v->via.u64 > INT64_MAX)
            return 0;
        *out = (int64_t)v->via.u64;
        return 1;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return 1;
    }
    return 0;
}

static int get_str(const msgpack_object *v, char *out, size_t outsz)
{
    if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= outsz)
        return 0;
    if (memchr(v->via.str.ptr, '\0', v->via.str.size))
        return 0;
    memcpy(out, v->via.str.ptr, v->via.str.size);
    out[v->via.str.size] = '\0';
    return 1;
}

/* msgpack_unpack_next references str/bin payloads in buf rather than
 * copying them, so body and reply can point into buf (checked below). */
sgw_err sgw_msg_decode(const void *buf, size_t len, sgw_msg *m)
{
    memset(m, 0, sizeof *m);
    m->type = SGW_MSG_TYPE_MAX;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    sgw_err rv = SGW_EPROTO;
    if (msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
        goto done;
    const msgpack_object *root = &up.data;
    if (root->type != MSGPACK_OBJECT_MAP)
        goto done;
    int have_v = 0, have_type = 0, have_id = 0, have_created = 0;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        const msgpack_object *v = &root->via.map.ptr[i].val;
        int64_t n;
        char tname[32];
        if (key_is(k, "v")) {
            if (!get_int(v, &n) || n != SGW_MSG_VERSION)
                goto done;
            have_v = 1;
        } else if (key_is(k, "type")) {
            if (!get_str(v, tname, sizeof tname))
                goto done;
            for (int t = 0; t < SGW_MSG_TYPE_MAX; t++)
                if (strcmp(tname, msg_names[t]) == 0)
                    m->type = (sgw_msg_type)t;
            if (m->type == SGW_MSG_TYPE_MAX)
                goto done;
            have_type = 1;
        } else if (key_is(k, "id")) {
            if (!get_str(v, m->id, sizeof m->id))
                goto done;
            have_id = 1;
        } else if (key_is(k, "tenant")) {
            if (!get_str(v, m->tenant, sizeof m->tenant))
                goto done;
        } else if (key_is(k, "app")) {
            if (!get_str(v, m->app, sizeof m->app))
                goto done;
        } else if (key_is(k, "attempt") || key_is(k, "code") || key_is(k, "flags")) {
            if (!get_int(v, &n) || n < INT32_MIN || n > (int64_t)UINT32_MAX)
                goto done;
            if (key_is(k, "attempt"))
                m->attempt = (int32_t)n;
            else if (key_is(k, "code"))
                m->code = (int32_t)n;
            else
                m->flags = (uint32_t)n;
        } else if (key_is(k, "created_ms")) {
            if (!get_int(v, &m->created_ms))
                goto done;
            have_created = 1;
        } else if (key_is(k, "sent_ms")) {
            if (!get_int(v, &m->sent_ms))
                goto done;
        } else if (key_is(k, "due_ms")) {
            if (!get_int(v, &m->due_ms))
                goto done;
        } else if (key_is(k, "reply") || key_is(k, "body")) {
            if (v->type != MSGPACK_OBJECT_BIN)
                goto done;
            /* point into buf: the unpacker copies nothing for bin, but be
             * safe and translate the pointer into buf's range */
            const char *p = v->via.bin.ptr;
            if (p < (const char *)buf || p + v->via.bin.size > (const char *)buf + len)
                goto done;
            if (key_is(k, "reply")) {
                m->reply = p;
                m->reply_len = v->via.bin.size;
            } else {
                m->body = p;
                m->body_len = v->via.bin.size;
            }
        }
        /* anything else: ignored (a newer sender's field) */
    }
    if (have_v && have_type && have_id && have_created)
        rv = SGW_OK;
done:
    msgpack_unpacked_destroy(&up);
    if (rv != SGW_OK)
        memset(m, 0, sizeof *m);
    return rv;
}
