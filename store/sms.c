#include "store/sms.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "bus/msg.h"

#define SMS_RECORD_VERSION 1

static const char *const status_names[SGW_ST_MAX] = {
    "scheduled", "queued", "sending", "sent", "delivered",
    "failed", "rejected", "cancelled", "received",
};

const char *sgw_status_name(int st)
{
    return st >= 0 && st < SGW_ST_MAX ? status_names[st] : "?";
}

int sgw_status_parse(const char *name)
{
    for (int i = 0; name && i < SGW_ST_MAX; i++)
        if (strcmp(name, status_names[i]) == 0)
            return i;
    return -1;
}

int sgw_status_terminal(int st)
{
    return st == SGW_ST_DELIVERED || st == SGW_ST_FAILED || st == SGW_ST_REJECTED ||
           st == SGW_ST_CANCELLED || st == SGW_ST_RECEIVED;
}

void sgw_sms_clear(sgw_sms *sms)
{
    if (!sms)
        return;
    free(sms->body);
    free(sms->user_id);
    free(sms->error);
    for (int i = 0; i < sms->nattempts; i++)
        free(sms->attempts[i].error_message);
    free(sms->attempts);
    free(sms->events);
    memset(sms, 0, sizeof *sms);
}

sgw_err sgw_sms_set_str(char **field, const char *v)
{
    char *copy = NULL;
    if (v && !(copy = strdup(v)))
        return SGW_ENOMEM;
    free(*field);
    *field = copy;
    return SGW_OK;
}

sgw_err sgw_sms_copy(sgw_sms *dst, const sgw_sms *src)
{
    *dst = *src;
    dst->body = dst->user_id = dst->error = NULL;
    dst->attempts = NULL;
    dst->events = NULL;
    dst->nattempts = dst->nevents = 0;
    if (sgw_sms_set_str(&dst->body, src->body) != SGW_OK ||
        sgw_sms_set_str(&dst->user_id, src->user_id) != SGW_OK ||
        sgw_sms_set_str(&dst->error, src->error) != SGW_OK)
        goto fail;
    for (int i = 0; i < src->nattempts; i++)
        if (sgw_sms_add_attempt(dst, &src->attempts[i]) != SGW_OK)
            goto fail;
    if (src->nevents) {
        dst->events = malloc(sizeof *dst->events * (size_t)src->nevents);
        if (!dst->events)
            goto fail;
        memcpy(dst->events, src->events, sizeof *dst->events * (size_t)src->nevents);
        dst->nevents = src->nevents;
    }
    return SGW_OK;
fail:
    sgw_sms_clear(dst);
    return SGW_ENOMEM;
}

sgw_err sgw_sms_set_status(sgw_sms *sms, int st, int64_t at_ms)
{
    sgw_event *ev = realloc(sms->events, sizeof *ev * (size_t)(sms->nevents + 1));
    if (!ev)
        return SGW_ENOMEM;
    sms->events = ev;
    ev[sms->nevents++] = (sgw_event){ .status = st, .at_ms = at_ms };
    sms->status = st;
    sms->updated_ms = at_ms;
    return SGW_OK;
}

sgw_err sgw_sms_add_attempt(sgw_sms *sms, const sgw_attempt *a)
{
    sgw_attempt *v = realloc(sms->attempts, sizeof *v * (size_t)(sms->nattempts + 1));
    if (!v)
        return SGW_ENOMEM;
    sms->attempts = v;
    v[sms->nattempts] = *a;
    v[sms->nattempts].error_message = NULL;
    if (a->error_message && !(v[sms->nattempts].error_message = strdup(a->error_message)))
        return SGW_ENOMEM;
    sms->nattempts++;
    return SGW_OK;
}

/* ---------------------------------------------------------------- codec */

static void pk_str(msgpack_packer *pk, const char *s)
{
    if (!s) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#define SMS_FIELDS 27

sgw_err sgw_sms_encode(const sgw_sms *s, void **out, size_t *outlen)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, SMS_FIELDS + 1);
    msgpack_pack_int(&pk, SMS_RECORD_VERSION);
    pk_str(&pk, s->id);
    pk_str(&pk, s->tenant);
    pk_str(&pk, s->app);
    msgpack_pack_int(&pk, s->direction);
    msgpack_pack_int(&pk, s->status);
    msgpack_pack_int(&pk, s->test);
    msgpack_pack_int(&pk, s->encoding);
    msgpack_pack_int(&pk, s->segments);
    pk_str(&pk, s->to);
    pk_str(&pk, s->from);
    pk_str(&pk, s->body);
    pk_str(&pk, s->user_id);
    pk_str(&pk, s->error);
    pk_str(&pk, s->error_code);
    pk_str(&pk, s->country);
    msgpack_pack_int64(&pk, s->send_at_ms);
    pk_str(&pk, s->batch_id);
    msgpack_pack_int64(&pk, s->cost_amount);
    pk_str(&pk, s->currency);
    pk_str(&pk, s->provider);
    pk_str(&pk, s->provider_msg_id);
    msgpack_pack_int64(&pk, s->created_ms);
    msgpack_pack_int64(&pk, s->updated_ms);
    /* due_ms and due_kind, then the lists */
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int64(&pk, s->due_ms);
    msgpack_pack_int(&pk, s->due_kind);
    msgpack_pack_array(&pk, (size_t)s->nattempts);
    for (int i = 0; i < s->nattempts; i++) {
        const sgw_attempt *a = &s->attempts[i];
        msgpack_pack_array(&pk, 7);
        pk_str(&pk, a->provider);
        msgpack_pack_int64(&pk, a->started_ms);
        msgpack_pack_int64(&pk, a->finished_ms);
        msgpack_pack_int(&pk, a->ok);
        pk_str(&pk, a->provider_msg_id);
        pk_str(&pk, a->error_code);
        pk_str(&pk, a->error_message);
    }
    msgpack_pack_array(&pk, (size_t)s->nevents);
    for (int i = 0; i < s->nevents; i++) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, s->events[i].status);
        msgpack_pack_int64(&pk, s->events[i].at_ms);
    }
    /* appended fields (an older reader ignores them): the charge */
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, s->charge_quota);
    msgpack_pack_int64(&pk, s->charge_wallet);
    msgpack_pack_int(&pk, s->charge_month);
    msgpack_pack_int(&pk, s->refunded);
    if (!sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return SGW_ENOMEM;
    }
    *out = sb.data;
    *outlen = sb.size;
    return SGW_OK;
}

static int up_int(const msgpack_object *o, int64_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *v = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return 1;
    }
    return 0;
}

static int up_i(const msgpack_object *o, int *v)
{
    int64_t x;
    if (!up_int(o, &x) || x < INT32_MIN || x > INT32_MAX)
        return 0;
    *v = (int)x;
    return 1;
}

/* into a fixed buffer; nil -> "" */
static int up_fixed(const msgpack_object *o, char *out, size_t outsz)
{
    if (o->type == MSGPACK_OBJECT_NIL) {
        out[0] = '\0';
        return 1;
    }
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= outsz)
        return 0;
    /* (an empty str may have a NULL ptr: msgpack-c) */
    memcpy(out, o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    out[o->via.str.size] = '\0';
    return 1;
}

/* into a heap string; nil -> NULL */
static int up_heap(const msgpack_object *o, char **out)
{
    *out = NULL;
    if (o->type == MSGPACK_OBJECT_NIL)
        return 1;
    if (o->type != MSGPACK_OBJECT_STR)
        return 0;
    *out = strndup(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
    return *out != NULL;
}

sgw_err sgw_sms_decode(const void *buf, size_t len, sgw_sms *s)
{
    memset(s, 0, sizeof *s);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int ok = 0;
    if (!sgw_msgpack_plausible(buf, len) ||
        msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS)
        goto done;
    const msgpack_object *r = &up.data;
    if (r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size < SMS_FIELDS)
        goto done;
    const msgpack_object *f = r->via.array.ptr;
    int64_t version;
    if (!up_int(&f[0], &version) || version != SMS_RECORD_VERSION)
        goto done;
    if (!up_fixed(&f[1], s->id, sizeof s->id) || !up_fixed(&f[2], s->tenant, sizeof s->tenant) ||
        !up_fixed(&f[3], s->app, sizeof s->app) || !up_i(&f[4], &s->direction) ||
        !up_i(&f[5], &s->status) || !up_i(&f[6], &s->test) || !up_i(&f[7], &s->encoding) ||
        !up_i(&f[8], &s->segments) || !up_fixed(&f[9], s->to, sizeof s->to) ||
        !up_fixed(&f[10], s->from, sizeof s->from) || !up_heap(&f[11], &s->body) ||
        !up_heap(&f[12], &s->user_id) || !up_heap(&f[13], &s->error) ||
        !up_fixed(&f[14], s->error_code, sizeof s->error_code) ||
        !up_fixed(&f[15], s->country, sizeof s->country) || !up_int(&f[16], &s->send_at_ms) ||
        !up_fixed(&f[17], s->batch_id, sizeof s->batch_id) ||
        !up_int(&f[18], &s->cost_amount) || !up_fixed(&f[19], s->currency, sizeof s->currency) ||
        !up_fixed(&f[20], s->provider, sizeof s->provider) ||
        !up_fixed(&f[21], s->provider_msg_id, sizeof s->provider_msg_id) ||
        !up_int(&f[22], &s->created_ms) || !up_int(&f[23], &s->updated_ms))
        goto done;
    if (f[24].type != MSGPACK_OBJECT_ARRAY || f[24].via.array.size != 2 ||
        !up_int(&f[24].via.array.ptr[0], &s->due_ms) ||
        !up_i(&f[24].via.array.ptr[1], &s->due_kind))
        goto done;
    if (f[25].type != MSGPACK_OBJECT_ARRAY || f[26].type != MSGPACK_OBJECT_ARRAY)
        goto done;
    for (uint32_t i = 0; i < f[25].via.array.size; i++) {
        const msgpack_object *a = &f[25].via.array.ptr[i];
        sgw_attempt at = { 0 };
        if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size < 7)
            goto done;
        const msgpack_object *af = a->via.array.ptr;
        int good = up_fixed(&af[0], at.provider, sizeof at.provider) &&
                   up_int(&af[1], &at.started_ms) && up_int(&af[2], &at.finished_ms) &&
                   up_i(&af[3], &at.ok) &&
                   up_fixed(&af[4], at.provider_msg_id, sizeof at.provider_msg_id) &&
                   up_fixed(&af[5], at.error_code, sizeof at.error_code) &&
                   up_heap(&af[6], &at.error_message);
        if (good)
            good = sgw_sms_add_attempt(s, &at) == SGW_OK;
        free(at.error_message);
        if (!good)
            goto done;
    }
    uint32_t nev = f[26].via.array.size;
    if (nev) {
        s->events = calloc(nev, sizeof *s->events);
        if (!s->events)
            goto done;
        for (uint32_t i = 0; i < nev; i++) {
            const msgpack_object *e = &f[26].via.array.ptr[i];
            if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size < 2 ||
                !up_i(&e->via.array.ptr[0], &s->events[i].status) ||
                !up_int(&e->via.array.ptr[1], &s->events[i].at_ms))
                goto done;
            s->nevents++;
        }
    }
    if (r->via.array.size > SMS_FIELDS) { /* the charge, when the writer knew it */
        const msgpack_object *c = &f[SMS_FIELDS];
        if (c->type != MSGPACK_OBJECT_ARRAY || c->via.array.size < 4 ||
            !up_i(&c->via.array.ptr[0], &s->charge_quota) ||
            !up_int(&c->via.array.ptr[1], &s->charge_wallet) ||
            !up_i(&c->via.array.ptr[2], &s->charge_month) ||
            !up_i(&c->via.array.ptr[3], &s->refunded))
            goto done;
    }
    ok = 1;
done:
    msgpack_unpacked_destroy(&up);
    if (!ok) {
        sgw_sms_clear(s);
        return SGW_EPROTO;
    }
    return SGW_OK;
}
