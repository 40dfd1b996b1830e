/*
 * transport/rc_parse.c — RingCentral's answers, read (rc_parse.h).
 */
#include "transport/rc_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A non-empty string member, else NULL. */
static const char *text_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && s[0] ? s : NULL;
}

void sgw_rc_error_text(const char *body, char *code, size_t codesz, char *msg, size_t msgsz)
{
    json_t *o = body ? json_loads(body, 0, NULL) : NULL;
    const char *c = text_of(o, "errorCode");
    const char *m = text_of(o, "message");
    json_t *first = json_array_get(json_object_get(o, "errors"), 0);
    if (!c)
        c = text_of(first, "errorCode");
    if (!m)
        m = text_of(first, "message");
    if (!c)
        c = text_of(o, "error");
    if (!m)
        m = text_of(o, "error_description");
    snprintf(code, codesz, "%s", c ? c : "");
    snprintf(msg, msgsz, "%s", m ? m : "no error message");
    json_decref(o);
}

/* An id that is a string or an integer, as text ("" otherwise). */
static void id_text(const json_t *v, char *out, size_t outsz)
{
    out[0] = '\0';
    if (json_is_string(v))
        snprintf(out, outsz, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, outsz, "%lld", (long long)json_integer_value(v));
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int64_t sgw_rc_expiry_ms(int64_t now_ms, int64_t ttl_s)
{
    if (ttl_s <= 0)
        return 0;
    if (ttl_s > SGW_RC_TTL_MAX_S)
        ttl_s = SGW_RC_TTL_MAX_S;
    return now_ms + ttl_s * 1000;
}

int sgw_rc_token_parse(const char *body, int64_t now_ms, sgw_rc_token *t)
{
    memset(t, 0, sizeof *t);
    json_t *o = json_loads(body ? body : "", 0, NULL);
    const char *tok = json_string_value(json_object_get(o, "access_token"));
    json_int_t ttl = json_integer_value(json_object_get(o, "expires_in"));
    const char *refresh = json_string_value(json_object_get(o, "refresh_token"));
    json_int_t rttl = json_integer_value(json_object_get(o, "refresh_token_expires_in"));
    json_t *owner = json_object_get(o, "owner_id");
    t->has_owner = json_is_string(owner) || json_is_integer(owner);
    id_text(owner, t->owner, sizeof t->owner);
    int ok = 0;
    if (tok && ttl > 0 && (t->access = strdup(tok))) {
        t->exp_ms = sgw_rc_expiry_ms(now_ms, ttl);
        t->refresh = dup_or_null(refresh);
        t->refresh_exp_ms = refresh ? sgw_rc_expiry_ms(now_ms, rttl) : 0;
        ok = 1;
    }
    json_decref(o);
    return ok;
}

static void wipe(char **s)
{
    if (*s) {
        memset(*s, 0, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void sgw_rc_token_wipe(sgw_rc_token *t)
{
    wipe(&t->access);
    wipe(&t->refresh);
}

unsigned sgw_rc_features(const json_t *arr)
{
    unsigned f = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s && strcmp(s, "SmsSender") == 0)
            f |= SGW_RC_FEAT_SMS;
        else if (s && strcmp(s, "A2PSmsSender") == 0)
            f |= SGW_RC_FEAT_A2P;
    }
    return f;
}

int64_t sgw_rc_numbers_page(const char *body, sgw_rc_number_fn fn, void *ctx)
{
    json_t *o = json_loads(body ? body : "", 0, NULL);
    json_t *recs = json_object_get(o, "records");
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *phone = json_string_value(json_object_get(r, "phoneNumber"));
        char ext[24];
        id_text(json_object_get(json_object_get(r, "extension"), "id"), ext, sizeof ext);
        if (!phone || !ext[0])
            continue; /* a number no extension owns cannot send */
        /* the account's list has no features (README): a number with none
         * listed is left to RingCentral to judge */
        json_t *feats = json_object_get(r, "features");
        if (!fn(ctx, phone, ext, json_is_array(feats) ? sgw_rc_features(feats) : SGW_RC_FEAT_SMS))
            break;
    }
    json_int_t pages =
        json_integer_value(json_object_get(json_object_get(o, "paging"), "totalPages"));
    json_decref(o);
    return pages;
}

void sgw_rc_message_id(const char *body, char pmid[64])
{
    json_t *o = json_loads(body ? body : "", 0, NULL);
    id_text(json_object_get(o, "id"), pmid, 64);
    json_decref(o);
}

int sgw_rc_message_status(const char *body, char *why, size_t whysz)
{
    json_t *o = json_loads(body ? body : "", 0, NULL);
    const char *ms = json_string_value(json_object_get(o, "messageStatus"));
    int verdict = 0;
    if (ms && strcmp(ms, "Delivered") == 0) {
        verdict = 1;
    } else if (ms && (strcmp(ms, "DeliveryFailed") == 0 || strcmp(ms, "SendingFailed") == 0)) {
        const char *ec = json_string_value(json_object_get(o, "deliveryErrorCode"));
        snprintf(why, whysz, "RingCentral reports %s%s%s", ms, ec ? ": " : "", ec ? ec : "");
        verdict = -1;
    }
    json_decref(o);
    return verdict;
}
