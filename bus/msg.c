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
    /* msgpack-c may give an empty str a NULL ptr, which memchr/memcpy must not get */
    const char *s = v->via.str.size ? v->via.str.ptr : "";
    if (memchr(s, '\0', v->via.str.size))
        return 0;
    memcpy(out, s, v->via.str.size);
    out[v->via.str.size] = '\0';
    return 1;
}

/* Big-endian unsigned of n bytes. */
static uint64_t mp_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int sgw_msgpack_plausible(const void *buf, size_t len)
{
    const unsigned char *p = buf, *end = p + len;
    uint64_t pending = 1; /* objects still to read; each takes a byte at least */
    while (pending > 0) {
        if (p >= end)
            return 0;
        unsigned b = *p++;
        pending--;
        int nlen = 0;       /* bytes of a length or count that follow */
        uint64_t skip = 0;  /* fixed bytes that follow (scalars, ext type) */
        int kind = 0;       /* 0 scalar, 1 payload of the length, 2 array, 3 map */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            ;
        } else if (b <= 0x8f) {
            pending += 2 * (uint64_t)(b & 0x0f);
        } else if (b <= 0x9f) {
            pending += b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else if (b == 0xc1) {
            return 0; /* never used */
        } else if (b <= 0xc6) {
            kind = 1, nlen = 1 << (b - 0xc4);           /* bin 8/16/32 */
        } else if (b <= 0xc9) {
            kind = 1, nlen = 1 << (b - 0xc7), skip = 1; /* ext 8/16/32 + type */
        } else if (b <= 0xd3) {
            static const unsigned char w[] = { 4, 8, 1, 2, 4, 8, 1, 2, 4, 8 };
            skip = w[b - 0xca];                         /* float, uint, int */
        } else if (b <= 0xd8) {
            skip = 1 + (1u << (b - 0xd4));              /* fixext 1..16 + type */
        } else if (b <= 0xdb) {
            kind = 1, nlen = 1 << (b - 0xd9);           /* str 8/16/32 */
        } else {
            kind = b <= 0xdd ? 2 : 3, nlen = b & 1 ? 4 : 2; /* array/map 16/32 */
        }
        if ((uint64_t)(end - p) < (uint64_t)nlen)
            return 0;
        uint64_t n = mp_be(p, nlen);
        p += nlen;
        if (kind == 1)
            skip += n;
        else if (kind >= 2)
            pending += kind == 3 ? 2 * n : n;
        if ((uint64_t)(end - p) < skip || pending > (uint64_t)(end - p) - skip)
            return 0;
        p += skip;
    }
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
    if (!sgw_msgpack_plausible(buf, len) ||
        msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
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
