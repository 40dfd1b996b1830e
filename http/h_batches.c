/*
 * http/h_batches.c — batches (SPEC section 5), in RingCentral's A2P shape:
 *
 *   POST /v1/sms/batches {"from", "text"?, "messages": [{"to": [...], "text"?}],
 *                         "sendAt"?, "userId"?}
 *   GET  /v1/sms/batches/:id
 *   GET  /v1/sms/batches/:id/messages?limit=&cursor=
 *
 * The body (up to batches.max_body_bytes, 50 MB) is never held whole: it is
 * read from civetweb in 64 KiB pieces and fed to yajl, an event parser;
 * each recipient is staged in the store as it is parsed (store/batch.c).
 * Fields may come in any order (a sorted-keys client sends "messages"
 * before "text"), so only when the body is complete and valid are the
 * recipients read back, in order, and checked one by one with the
 * validator's own rules (actors/sms/accept.h): each valid one becomes a
 * message record, each invalid one an entry of `rejected` (its 1-based
 * position among all recipients of all messages, RingCentral's
 * SMS-RC-410 for a bad number). The batch then commits in one durable
 * write, with its tenant's charge, and only then is it answered 202. Any
 * failure before that (bad JSON, a wrong type, over the limit, 402, the
 * client gone) deletes what was staged: the request changes nothing.
 *
 * The scheduler then releases the messages to the pipeline in pages
 * (actors/scheduler.c); the status changes keep the batch's counters
 * (processedCount, cost) in the same writes.
 *
 * Charging (live keys): while the records are made, each is charged
 * against the tenant's balance as read when the upload completed (quota
 * first, then the wallet at the destination's price: the validator's
 * rule); a recipient neither covers makes the batch 402 and nothing is
 * stored. The commit takes the total from the tenant under its ledger
 * lock, if the quota and wallet still hold it (a concurrent send may have
 * spent them meanwhile: then 402 too, nothing stored).
 */
#include <malloc.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "actors/sms/accept.h"
#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

#define READ_PIECE 65536  /* on the heap: civetweb's worker stacks are small */
#define SPOOL_MEM_MAX (1 << 20)
#define DEPTH_MAX 64
#define RC_BAD_NUMBER_CODE "SMS-RC-410"
#define RC_BAD_NUMBER_TEXT "The recipient number is invalid"

/* ---------------------------------------------------------------- rejected list */

/* The rejected entries, comma-separated JSON objects: in memory up to
 * SPOOL_MEM_MAX, then in an unnamed temporary file. */
typedef struct spool {
    char *buf;
    size_t len, cap;
    FILE *f;
    size_t total;
    int n;
} spool;

static int spool_add(spool *sp, const char *s, size_t n)
{
    const char *sep = sp->n ? "," : "";
    size_t sl = strlen(sep);
    if (!sp->f && sp->len + sl + n > SPOOL_MEM_MAX) {
        if (!(sp->f = tmpfile()))
            return 0;
        if (sp->len && fwrite(sp->buf, 1, sp->len, sp->f) != sp->len)
            return 0;
        free(sp->buf);
        sp->buf = NULL;
        sp->len = sp->cap = 0;
    }
    if (sp->f) {
        if (fwrite(sep, 1, sl, sp->f) != sl || fwrite(s, 1, n, sp->f) != n)
            return 0;
    } else {
        if (sp->len + sl + n > sp->cap) {
            size_t cap = sp->cap ? sp->cap * 2 : 4096;
            while (cap < sp->len + sl + n)
                cap *= 2;
            char *nb = realloc(sp->buf, cap);
            if (!nb)
                return 0;
            sp->buf = nb;
            sp->cap = cap;
        }
        memcpy(sp->buf + sp->len, sep, sl);
        memcpy(sp->buf + sp->len + sl, s, n);
        sp->len += sl + n;
    }
    sp->total += sl + n;
    sp->n++;
    return 1;
}

static void spool_free(spool *sp)
{
    free(sp->buf);
    if (sp->f)
        fclose(sp->f);
    memset(sp, 0, sizeof *sp);
}

/* The whole answer in one heap buffer (for an Idempotency-Key, whose
 * record keeps it): NULL if out of memory or the spool cannot be read. */
static char *answer_join(const char *h, size_t hl, const char *mid, const char *tail,
                         spool *sp, size_t total)
{
    char *all = malloc(total + 1), *p = all;
    if (!all)
        return NULL;
    memcpy(p, h, hl), p += hl;
    memcpy(p, mid, strlen(mid)), p += strlen(mid);
    if (sp->f) {
        rewind(sp->f);
        if (fread(p, 1, sp->total, sp->f) != sp->total) {
            free(all);
            return NULL;
        }
    } else if (sp->len) {
        memcpy(p, sp->buf, sp->len);
    }
    p += sp->total;
    memcpy(p, tail, strlen(tail) + 1);
    return all;
}

/* Write head (a JSON object, its closing brace replaced), then
 * "rejected": [spool] and the brace: the answer, streamed; or, with an
 * Idempotency-Key (idem), stored whole and then sent. */
static void reply_with_rejected(sgw_req *r, sgw_idem *idem, int status, json_t *head, spool *sp)
{
    char *h = json_dumps(head, JSON_COMPACT);
    json_decref(head);
    if (!h) { /* after a commit (2xx) the claim stays: a retry gets 409 */
        if (status < 300)
            sgw_idem_abandon(idem), sgw_reply_error(r, 500, "internal", "Internal error");
        else
            sgw_idem_reply_error(r, idem, 500, "internal", "Internal error");
        return;
    }
    size_t hl = strlen(h) - 1; /* without its '}' */
    const char *mid = hl > 1 ? ",\"rejected\":[" : "\"rejected\":[", *tail = "]}";
    size_t total = hl + strlen(mid) + sp->total + strlen(tail);
    if (idem) {
        char *all = answer_join(h, hl, mid, tail, sp, total);
        free(h);
        if (all) {
            sgw_idem_reply(r, idem, status, all, total);
        } else if (status < 300) { /* a 202 would be lost: the claim stays (409) */
            sgw_idem_abandon(idem);
            sgw_reply_error(r, 500, "internal", "Internal error");
        } else {
            sgw_idem_reply_error(r, idem, 500, "internal", "Internal error");
        }
        free(all);
        return;
    }
    sgw_reply_head(r, status, total);
    mg_write(r->conn, h, hl);
    mg_write(r->conn, mid, strlen(mid));
    char *buf = sp->f ? malloc(READ_PIECE) : NULL;
    if (buf) {
        size_t got;
        rewind(sp->f);
        while ((got = fread(buf, 1, READ_PIECE, sp->f)) > 0)
            mg_write(r->conn, buf, got);
        free(buf);
    } else if (sp->len) {
        mg_write(r->conn, sp->buf, sp->len);
    }
    mg_write(r->conn, tail, strlen(tail));
    free(h);
}

/* ---------------------------------------------------------------- pass 1: the stream */

enum { K_OTHER = 0, K_FROM, K_TEXT, K_MESSAGES, K_SEND_AT, K_USER_ID, K_N };
static const char *const top_names[K_N] = { "", "from", "text", "messages", "sendAt",
                                            "userId" };
enum { MK_OTHER = 0, MK_TO, MK_TEXT };
enum { V_NULL, V_BOOL, V_NUMBER, V_STRING, V_MAP, V_ARRAY };

typedef struct parse {
    sgw_batch_up *up;
    sgw_err store_err;      /* a staging write failed */
    char err[200];          /* the request is malformed: why (validation_error) */
    int depth;              /* containers open */
    int skip_from;          /* > 0: inside an ignored value opened at this depth */
    int top_key, msg_key;
    int in_messages, in_msg, in_to;
    uint32_t msg_index;     /* the current message, from 1 */
    int msg_seen_to, msg_seen_text;
    uint64_t recipients;
    int seen[K_N];
    char *field[K_N];       /* from, text, sendAt, userId (heap) or NULL */
    int has_messages;
} parse;

static int fail(parse *p, const char *fmt, const char *arg) __attribute__((format(printf, 2, 0)));
static int fail(parse *p, const char *fmt, const char *arg)
{
    if (!p->err[0])
        snprintf(p->err, sizeof p->err, fmt, arg ? arg : "");
    return 0; /* cancels the parse */
}

/* A value begins (a scalar, or a container opening): decide what it is. */
static int on_value(parse *p, int type, const unsigned char *s, size_t len)
{
    if (p->skip_from)
        return 1;
    if (p->depth == 0)
        return type == V_MAP ? 1 : fail(p, "Request body must be a JSON object", NULL);
    if (p->depth == 1) {
        int k = p->top_key;
        if (k == K_OTHER) {
            if (type == V_MAP || type == V_ARRAY)
                p->skip_from = p->depth + 1;
            return 1;
        }
        if (type == V_NULL)
            return 1; /* as if absent */
        if (k == K_MESSAGES) {
            if (type != V_ARRAY)
                return fail(p, "messages must be an array", NULL);
            p->in_messages = 1;
            p->has_messages = 1;
            return 1;
        }
        if (type != V_STRING)
            return fail(p, "%s must be a string", top_names[k]);
        if (memchr(s, 0, len))
            return fail(p, "%s must not contain NUL characters", top_names[k]);
        free(p->field[k]);
        if (!(p->field[k] = strndup((const char *)s, len))) {
            p->store_err = SGW_ENOMEM;
            return 0;
        }
        return 1;
    }
    if (p->depth == 2 && p->in_messages) {
        if (type != V_MAP)
            return fail(p, "each message must be an object", NULL);
        p->msg_index++;
        p->in_msg = 1;
        p->msg_seen_to = p->msg_seen_text = 0;
        return 1;
    }
    if (p->depth == 3 && p->in_msg) {
        if (p->msg_key == MK_OTHER) {
            if (type == V_MAP || type == V_ARRAY)
                p->skip_from = p->depth + 1;
            return 1;
        }
        if (p->msg_key == MK_TO) {
            if (type != V_ARRAY)
                return fail(p, "each message's to must be an array of phone numbers", NULL);
            p->in_to = 1;
            return 1;
        }
        /* text */
        if (type == V_NULL)
            return 1;
        if (type != V_STRING)
            return fail(p, "each message's text must be a string", NULL);
        sgw_err rv = sgw_store_batch_stage_text(p->up, p->msg_index, (const char *)s, len);
        if (rv != SGW_OK) {
            p->store_err = rv;
            return 0;
        }
        return 1;
    }
    if (p->depth == 4 && p->in_to) {
        if (type != V_STRING)
            return fail(p, "each message's to must be an array of phone numbers", NULL);
        p->recipients++;
        sgw_err rv = sgw_store_batch_stage(p->up, p->msg_index, (const char *)s, len);
        if (rv != SGW_OK) {
            p->store_err = rv;
            return 0;
        }
        return 1;
    }
    return fail(p, "Invalid JSON", NULL); /* not reached: every depth is handled */
}

static int open_container(parse *p, int type)
{
    if (!on_value(p, type, NULL, 0))
        return 0;
    if (++p->depth > DEPTH_MAX)
        return fail(p, "Invalid JSON: nested too deeply", NULL);
    return 1;
}

static int close_container(parse *p)
{
    p->depth--;
    if (p->skip_from) {
        if (p->depth < p->skip_from)
            p->skip_from = 0;
        return 1;
    }
    if (p->depth == 3 && p->in_to) {
        p->in_to = 0;
    } else if (p->depth == 2 && p->in_msg) {
        p->in_msg = 0;
        if (!p->msg_seen_to)
            return fail(p, "each message needs a to array", NULL);
    } else if (p->depth == 1 && p->in_messages) {
        p->in_messages = 0;
    }
    return 1;
}

static int cb_null(void *ctx) { return on_value(ctx, V_NULL, NULL, 0); }
static int cb_boolean(void *ctx, int b)
{
    (void)b;
    return on_value(ctx, V_BOOL, NULL, 0);
}
static int cb_number(void *ctx, const char *s, size_t l)
{
    (void)s;
    (void)l;
    return on_value(ctx, V_NUMBER, NULL, 0);
}
static int cb_string(void *ctx, const unsigned char *s, size_t l)
{
    return on_value(ctx, V_STRING, s, l);
}
static int cb_start_map(void *ctx) { return open_container(ctx, V_MAP); }
static int cb_start_array(void *ctx) { return open_container(ctx, V_ARRAY); }
static int cb_end(void *ctx) { return close_container(ctx); }

static int cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
    parse *p = ctx;
    if (p->skip_from)
        return 1;
#define IS(lit) (len == sizeof lit - 1 && memcmp(key, lit, len) == 0)
    if (p->depth == 1) {
        int k = IS("from")                          ? K_FROM
                : IS("text")                        ? K_TEXT
                : IS("messages")                    ? K_MESSAGES
                : IS("sendAt") || IS("send_at")     ? K_SEND_AT
                : IS("userId") || IS("user_id")     ? K_USER_ID
                                                    : K_OTHER;
        if (k != K_OTHER && p->seen[k]++)
            return fail(p, "Duplicate key: %s", top_names[k]);
        p->top_key = k;
    } else if (p->depth == 3 && p->in_msg) {
        p->msg_key = IS("to") ? MK_TO : IS("text") ? MK_TEXT : MK_OTHER;
        if (p->msg_key == MK_TO && p->msg_seen_to++)
            return fail(p, "Duplicate key: %s", "to");
        if (p->msg_key == MK_TEXT && p->msg_seen_text++)
            return fail(p, "Duplicate key: %s", "text");
    }
#undef IS
    return 1;
}

static const yajl_callbacks parse_callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

/* ---------------------------------------------------------------- pass 2: the messages */

typedef struct accept_ctx {
    const sgw_accept_rules *rules;
    sgw_batch_up *up;
    const char *tenant, *app;
    int test;
    const char *from, *top_text, *user_id;
    int64_t now, send_at_ms;
    /* the current message's text */
    uint32_t cur_msg;
    char *cur_text;        /* heap: its own text, or NULL: the top-level one */
    int cur_ok;
    sgw_text_info cur_ti, top_ti;
    sgw_verdict cur_v;
    /* the tenant's balance as the records are charged (live keys) */
    int live;
    int64_t quota_left, wallet;
    sgw_batch_charge charge;
    int unpaid;
    uint64_t accepted;
    spool rejected;
    sgw_err err;
} accept_ctx;

static int reject(accept_ctx *a, uint64_t seq, const char *to, size_t to_len, const char *code,
                  const char *why)
{
    /* `to` as given, unless it is not UTF-8 (an escaped lone surrogate the
     * streaming parser let through): then each byte outside printable
     * ASCII becomes '?', so the answer stays JSON and only this recipient
     * is refused */
    char *safe = NULL;
    sgw_text_info ti;
    if (sgw_text_analyze(to, to_len, &ti) != SGW_OK && (safe = malloc(to_len + 1))) {
        for (size_t i = 0; i < to_len; i++)
            safe[i] = to[i] >= 0x20 && to[i] < 0x7f ? to[i] : '?';
        safe[to_len] = '\0';
        to = safe;
    }
    json_t *o = json_pack("{s:I, s:[s%], s:s, s:s}", "index", (json_int_t)seq, "to", to, to_len,
                          "errorCode", code, "description", why);
    free(safe);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    int ok = s && spool_add(&a->rejected, s, strlen(s));
    free(s);
    if (!ok)
        a->err = SGW_ENOMEM;
    return ok;
}

/* The text of message mi (own, or the top-level one), checked once. */
static void accept_text(accept_ctx *a, uint32_t mi, const char *text, size_t text_len)
{
    a->cur_msg = mi;
    free(a->cur_text);
    a->cur_text = NULL;
    if (text) {
        if (memchr(text, 0, text_len)) {
            a->cur_ok = sgw_refuse(&a->cur_v, 400, "validation_error",
                                   "text must not contain NUL characters", NULL);
            return;
        }
        a->cur_ok = sgw_accept_body(text, text_len, &a->cur_ti, &a->cur_v);
        if (a->cur_ok && !(a->cur_text = strndup(text, text_len))) {
            a->err = SGW_ENOMEM;
            a->cur_ok = 0;
        }
    } else if (a->top_text) {
        a->cur_ti = a->top_ti;
        a->cur_ok = 1;
    } else {
        a->cur_ok = sgw_refuse(&a->cur_v, 400, "validation_error",
                               "text is required, in the message or at the top level", NULL);
    }
}

static int accept_one(void *ctx, uint64_t seq, uint32_t mi, const char *to, size_t to_len,
                      const char *text, size_t text_len)
{
    accept_ctx *a = ctx;
    if (mi != a->cur_msg)
        accept_text(a, mi, text, text_len);
    if (a->err != SGW_OK)
        return 0;
    char num[24];
    sgw_verdict v;
    if (to_len >= sizeof num || memchr(to, 0, to_len)) {
        return reject(a, seq, to, to_len, RC_BAD_NUMBER_CODE, RC_BAD_NUMBER_TEXT);
    }
    memcpy(num, to, to_len);
    num[to_len] = '\0';
    if (!sgw_accept_to(num, &v))
        return reject(a, seq, to, to_len, RC_BAD_NUMBER_CODE, RC_BAD_NUMBER_TEXT);
    if (!a->cur_ok)
        return reject(a, seq, to, to_len, a->cur_v.code, a->cur_v.error);
    sgw_accept_in in = { .tenant = a->tenant, .app = a->app, .test = a->test, .to = num,
                         .from = a->from, .body = a->cur_text ? a->cur_text : a->top_text,
                         .ti = &a->cur_ti, .user_id = a->user_id, .country = NULL,
                         .now = a->now, .send_at_ms = a->send_at_ms };
    sgw_sms rec;
    int64_t unit;
    if ((a->err = sgw_accept_fill(a->rules, &in, &rec, &unit)) != SGW_OK)
        return 0;
    if (a->live) {
        int q;
        int64_t w;
        if (!sgw_ledger_charge_one(&a->quota_left, &a->wallet, rec.segments, unit, &q, &w)) {
            a->unpaid = 1; /* the batch cannot be paid in full */
            sgw_sms_clear(&rec);
            return 0;
        }
        rec.charge_quota = q;
        rec.charge_wallet = w;
        rec.charge_month = a->charge.month;
        a->charge.quota += q;
        a->charge.wallet += w;
    }
    a->err = sgw_store_batch_add(a->up, &rec);
    sgw_sms_clear(&rec);
    if (a->err != SGW_OK)
        return 0;
    a->accepted++;
    return 1;
}

/* ---------------------------------------------------------------- POST */

/* Read (and drop) what is left of the body, so the client, still sending,
 * hears the answer; at most up to the limit. */
/* Read what is left of the body (at most max in all), into the hash too
 * (when there is one). */
static void drain_body(sgw_req *r, char *buf, int64_t *total, int64_t max, EVP_MD_CTX *hash)
{
    int got;
    while (*total <= max && (got = mg_read(r->conn, buf, READ_PIECE)) > 0) {
        *total += got;
        if (hash)
            EVP_DigestUpdate(hash, buf, (size_t)got);
    }
}

static void hash_hex(EVP_MD_CTX *hash, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(hash, md, &n);
    sgw_hex(out, md, n < 32 ? n : 32);
}

void h_batches_create(sgw_req *r)
{
    sgw_http *srv = r->srv;
    const sgw_cfg *cfg = srv->deps.cfg;
    sgw_store *st = srv->deps.store;
    if (atomic_load(&srv->deps.app->draining)) {
        sgw_reply_error(r, 503, "unavailable", "Server is shutting down");
        return;
    }
    if (r->auth.role != SGW_ROLE_APP) {
        sgw_reply_error(r, 403, "forbidden", "Sending needs an app key");
        return;
    }
    /* Idempotency-Key: a bad one is refused before the body is read (so
     * the connection closes); a good one is claimed once the whole body is
     * read and hashed (below) */
    size_t eh = strlen(r->extra_headers);
    snprintf(r->extra_headers + eh, sizeof r->extra_headers - eh, "Connection: close\r\n");
    if (!sgw_idem_key_check(r))
        return;
    r->extra_headers[eh] = '\0';
    int64_t max = sgw_cfg_int(cfg, "batches.max_body_bytes");
    if (r->ri->content_length > max) {
        snprintf(r->extra_headers + strlen(r->extra_headers),
                 sizeof r->extra_headers - strlen(r->extra_headers), "Connection: close\r\n");
        sgw_reply_error(r, 413, "payload_too_large", "Request body too large");
        return;
    }
    sgw_accept_rules rules;
    if (sgw_accept_rules_load(cfg, &rules) != SGW_OK) {
        sgw_accept_rules_fini(&rules);
        sgw_reply_error(r, 500, "internal", "Invalid pricing configuration");
        return;
    }
    parse p = { 0 };
    accept_ctx a = { 0 };
    char id[SGW_BATCH_ID_LEN + 1];
    yajl_handle y = NULL;
    sgw_idem *idem = NULL; /* from its claim on, every answer goes through it */
    EVP_MD_CTX *hash = NULL;
    char *buf = malloc(READ_PIECE);
    int64_t total = 0;
    int status = 0; /* an error answered below: status, code, text */
    const char *code = "validation_error";
    char text[256] = "";
    sgw_err rv = buf ? sgw_store_batch_up_new(st, r->auth.tenant,
                                              (int)sgw_cfg_int(cfg, "batches.chunk_records"),
                                              &p.up, id)
                     : SGW_ENOMEM;
    if (rv != SGW_OK || !(y = yajl_alloc(&parse_callbacks, NULL, &p))) {
        status = 503, code = "unavailable", snprintf(text, sizeof text, "Store unavailable");
        goto answer;
    }
    if (mg_get_header(r->conn, "Idempotency-Key") &&
        (!(hash = EVP_MD_CTX_new()) || EVP_DigestInit_ex(hash, EVP_sha256(), NULL) != 1)) {
        status = 503, code = "unavailable", snprintf(text, sizeof text, "Out of memory");
        goto answer;
    }

    /* pass 1: stream the body into the parser; stage the recipients */
    int complete = 0;
    yajl_status ys = yajl_status_ok;
    for (;;) {
        int got = mg_read(r->conn, buf, READ_PIECE);
        if (got < 0)
            break;
        if (got == 0) {
            complete = r->ri->content_length < 0 || total == r->ri->content_length;
            break;
        }
        total += got;
        if (hash)
            EVP_DigestUpdate(hash, buf, (size_t)got);
        if (total > max) {
            snprintf(r->extra_headers + strlen(r->extra_headers),
                     sizeof r->extra_headers - strlen(r->extra_headers), "Connection: close\r\n");
            status = 413, code = "payload_too_large";
            snprintf(text, sizeof text, "Request body too large");
            goto answer;
        }
        if ((ys = yajl_parse(y, (const unsigned char *)buf, (size_t)got)) != yajl_status_ok)
            break;
        if (r->ri->content_length >= 0 && total == r->ri->content_length) {
            complete = 1;
            break;
        }
    }
    if (p.store_err != SGW_OK) {
        status = 503, code = "unavailable", snprintf(text, sizeof text, "Store unavailable");
        goto answer;
    }
    if (complete && ys == yajl_status_ok)
        ys = yajl_complete_parse(y);
    int bad_json = p.err[0] || ys != yajl_status_ok;
    if (bad_json)
        drain_body(r, buf, &total, max, hash);
    if (bad_json && total > max) { /* not all read (nor hashed): no claim */
        snprintf(r->extra_headers + strlen(r->extra_headers),
                 sizeof r->extra_headers - strlen(r->extra_headers), "Connection: close\r\n");
        status = 400;
        snprintf(text, sizeof text, "%s", p.err[0] ? p.err : "Invalid JSON");
        goto answer;
    }
    if (!bad_json && !complete) { /* the client went away (or stalled past the timeout) */
        status = 400;
        snprintf(text, sizeof text, "Request body incomplete");
        goto answer;
    }
    int all_read = r->ri->content_length < 0 || total == r->ri->content_length;
    if (hash && all_read) { /* the whole body is read: the key is claimed, or answered */
        char hex[65];
        hash_hex(hash, hex);
        if (!sgw_idem_begin_hashed(r, hex, id, sgw_idem_orphan_batch, &idem))
            goto done; /* replayed, 409 or 503: nothing of this upload is kept */
    }
    if (bad_json) {
        status = 400;
        snprintf(text, sizeof text, "%s", p.err[0] ? p.err : "Invalid JSON");
        goto answer;
    }

    /* the whole request: its fields */
    const char *from = p.field[K_FROM], *top_text = p.field[K_TEXT];
    sgw_verdict v;
    int64_t now = sgw_now_ms(), send_at_ms = 0;
    if (!from || !p.has_messages) {
        status = 400, snprintf(text, sizeof text, "from and messages are required");
        goto answer;
    }
    if (p.msg_index == 0) {
        status = 400, snprintf(text, sizeof text, "messages must not be empty");
        goto answer;
    }
    if (p.recipients == 0) {
        status = 400, snprintf(text, sizeof text, "messages name no recipient");
        goto answer;
    }
    if (!sgw_accept_from(&rules, st, r->auth.tenant, r->auth.test, from, &v) ||
        (top_text && !sgw_accept_body(top_text, strlen(top_text), &a.top_ti, &v)) ||
        !sgw_accept_user_id(p.field[K_USER_ID], &v) ||
        !sgw_accept_send_at(p.field[K_SEND_AT], now, &send_at_ms, &v)) {
        status = v.status, code = v.code, snprintf(text, sizeof text, "%s", v.error);
        goto answer;
    }

    /* pass 2: every recipient, in order: a message or a rejection */
    a.rules = &rules;
    a.up = p.up;
    a.tenant = r->auth.tenant;
    a.app = r->auth.app;
    a.test = r->auth.test;
    a.from = from;
    a.top_text = top_text;
    a.user_id = p.field[K_USER_ID];
    a.now = now;
    a.send_at_ms = send_at_ms;
    a.live = !r->auth.test;
    if (a.live && sgw_store_tenant_balance(st, r->auth.tenant, &a.charge.month, &a.quota_left,
                                           &a.wallet) != SGW_OK) {
        status = 503, code = "unavailable", snprintf(text, sizeof text, "Store unavailable");
        goto answer;
    }
    rv = sgw_store_batch_staged_scan(p.up, accept_one, &a);
    if (a.unpaid) {
        status = 402, code = "sms_quota_exceeded";
        snprintf(text, sizeof text, "Monthly SMS quota and wallet are exhausted");
        goto answer;
    }
    if ((rv != SGW_OK && rv != SGW_ECLOSED) || a.err != SGW_OK) {
        status = 503, code = "unavailable", snprintf(text, sizeof text, "Store unavailable");
        goto answer;
    }
    if (a.accepted == 0) {
        json_t *o = json_pack("{s:s, s:s}", "error", "No valid recipients", "code",
                              "validation_error");
        reply_with_rejected(r, idem, 400, o, &a.rejected);
        idem = NULL; /* answered through it */
        goto done;
    }

    /* commit: the batch exists from this write on */
    char created[32], send_at_ts[32];
    sgw_time_format(created, now);
    if (send_at_ms)
        sgw_time_format(send_at_ts, send_at_ms);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:o, s:o, s:b, s:s}", "id", id,
                            "tenantId", r->auth.tenant, "appId", r->auth.app, "from", from,
                            "text", top_text ? json_string(top_text) : json_null(),
                            "batchSize", (json_int_t)a.accepted, "creationTime", created,
                            "sendAt", send_at_ms ? json_string(send_at_ts) : json_null(),
                            "userId", a.user_id ? json_string(a.user_id) : json_null(),
                            "test", r->auth.test, "currency", rules.currency);
    char *doc_json = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    rv = doc_json ? sgw_store_batch_commit(p.up, doc_json, now, send_at_ms ? send_at_ms : now,
                                           a.live && (a.charge.quota || a.charge.wallet)
                                               ? &a.charge
                                               : NULL)
                  : SGW_ENOMEM;
    free(doc_json);
    if (rv == SGW_ESTATE) {
        status = 402, code = "sms_quota_exceeded";
        snprintf(text, sizeof text, "Monthly SMS quota and wallet are exhausted");
        goto answer;
    }
    if (rv != SGW_OK) {
        status = 503, code = "unavailable", snprintf(text, sizeof text, "Store unavailable");
        goto answer;
    }
    sgw_log(SGW_LOG_INFO, "http", "batch %s: %llu messages accepted, %d rejected (%lld bytes)",
            id, (unsigned long long)a.accepted, a.rejected.n, (long long)total);
    json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s, s:s}", "id", id, "from", from,
                          "batchSize", (json_int_t)a.accepted, "processedCount", 0, "status",
                          "Processing", "creationTime", created, "lastModifiedTime", created);
    if (o && send_at_ms)
        json_object_set_new(o, "sendAt", json_string(send_at_ts));
    reply_with_rejected(r, idem, 202, o, &a.rejected);
    idem = NULL;
    goto done;

answer:
    sgw_idem_reply_error(r, idem, status, code, text);
    idem = NULL;
done:
    if (hash)
        EVP_MD_CTX_free(hash);
    sgw_store_batch_up_destroy(&p.up); /* uncommitted: everything staged goes */
    if (y)
        yajl_free(y);
    free(buf);
    for (int k = 0; k < K_N; k++)
        free(p.field[k]);
    free(a.cur_text);
    spool_free(&a.rejected);
    sgw_accept_rules_fini(&rules);
    /* a large upload leaves its chunks free in this thread's malloc arena:
     * give them back, so RSS with 1M pending is the store's, not the
     * request's (glibc keeps freed heap otherwise) */
    if (total > (1 << 20))
        malloc_trim(0);
}

/* ---------------------------------------------------------------- GET */

/* The batch the caller may see, as its document; else answers and NULL. */
static json_t *batch_visible(sgw_req *r, sgw_batch_counts *c)
{
    const char *id = r->param[0];
    if (!sgw_id_valid(id, "batch_", 16)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid batchId format");
        return NULL;
    }
    char *json = NULL;
    sgw_err rv = sgw_store_batch_get(r->srv->deps.store, id, &json, c);
    json_t *doc = rv == SGW_OK ? json_loads(json, 0, NULL) : NULL;
    free(json);
    if (rv == SGW_OK && !doc)
        rv = SGW_EPROTO;
    if (rv == SGW_OK && r->auth.role == SGW_ROLE_APP) {
        const char *t = json_string_value(json_object_get(doc, "tenantId"));
        const char *a = json_string_value(json_object_get(doc, "appId"));
        if (!t || !a || strcmp(t, r->auth.tenant) != 0 || strcmp(a, r->auth.app) != 0)
            rv = SGW_ENOENT; /* another tenant's or app's: it does not exist for you */
    }
    if (rv == SGW_ENOENT) {
        json_decref(doc);
        sgw_reply_error(r, 404, "not_found", "Batch not found");
        return NULL;
    }
    if (rv != SGW_OK) {
        json_decref(doc);
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return NULL;
    }
    return doc;
}

/* A batch's progress as shown (GET /v1/sms/batches[/:id]). */
static json_t *batch_progress(json_t *doc, const sgw_batch_counts *c)
{
    json_int_t size = json_integer_value(json_object_get(doc, "batchSize"));
    char mtime[32];
    sgw_time_format(mtime, c->mtime_ms);
    return json_pack("{s:O, s:O, s:I, s:I, s:s, s:O, s:s, s:[], s:f, s:O, s:O, s:O}", "id",
                     json_object_get(doc, "id"), "from", json_object_get(doc, "from"),
                     "batchSize", size, "processedCount", (json_int_t)c->processed, "status",
                     c->processed >= size ? "Completed" : "Processing", "creationTime",
                     json_object_get(doc, "creationTime"), "lastModifiedTime", mtime,
                     "rejected", "cost", (double)c->cost / 100.0, "currency",
                     json_object_get(doc, "currency"), "sendAt", json_object_get(doc, "sendAt"),
                     "test", json_object_get(doc, "test"));
}

/* cost in the currency's units (minor units / 100), written as a decimal:
 * 0.14, never 0.14000000000000001 */
static void reply_progress(sgw_req *r, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(o);
    if (!s) {
        sgw_reply_error(r, 500, "internal", "Internal error");
        return;
    }
    sgw_reply_raw(r, 200, s, strlen(s));
    free(s);
}

void h_batches_get(sgw_req *r)
{
    sgw_batch_counts c;
    json_t *doc = batch_visible(r, &c);
    if (!doc)
        return;
    json_t *o = batch_progress(doc, &c);
    json_decref(doc);
    reply_progress(r, o);
}

typedef struct list_page {
    sgw_store *st;
    json_t *data;
} list_page;

static void list_add(void *ctx, const char *id)
{
    list_page *lp = ctx;
    char *json = NULL;
    sgw_batch_counts c;
    if (sgw_store_batch_get(lp->st, id, &json, &c) != SGW_OK)
        return;
    json_t *doc = json_loads(json, 0, NULL);
    free(json);
    if (doc)
        json_array_append_new(lp->data, batch_progress(doc, &c));
    json_decref(doc);
}

void h_batches_list(sgw_req *r)
{
    char lim[16], cursor[SGW_BATCH_CURSOR_LEN + 2] = "", tenant[40] = "";
    int limit = 50;
    if (sgw_req_query(r, "limit", lim, sizeof lim)) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (!lim[0] || *end || v < 1 || v > 200) {
            sgw_reply_error(r, 400, "validation_error", "limit must be an integer from 1 to 200");
            return;
        }
        limit = (int)v;
    }
    if (sgw_req_query(r, "cursor", cursor, sizeof cursor) &&
        strlen(cursor) != SGW_BATCH_CURSOR_LEN) {
        sgw_reply_error(r, 400, "validation_error", "Invalid cursor");
        return;
    }
    const char *app = NULL;
    if (r->auth.role == SGW_ROLE_ADMIN) {
        /* an admin names the tenant, and sees all its apps' batches */
        if (!sgw_req_query(r, "tenantId", tenant, sizeof tenant) ||
            !sgw_id_valid(tenant, "tenant_", 16)) {
            sgw_reply_error(r, 400, "validation_error",
                            "tenantId (a tenant_ id) is required with an admin key");
            return;
        }
    } else {
        snprintf(tenant, sizeof tenant, "%s", r->auth.tenant);
        app = r->auth.app; /* an app sees its own batches, as with GET /:id */
    }
    list_page lp = { r->srv->deps.store, json_array() };
    char next[SGW_BATCH_CURSOR_LEN + 1];
    sgw_err rv = sgw_store_batch_list(lp.st, tenant, app, cursor, limit, list_add, &lp, next);
    if (rv == SGW_EINVAL) {
        json_decref(lp.data);
        sgw_reply_error(r, 400, "validation_error", "Invalid cursor");
        return;
    }
    if (rv != SGW_OK) {
        json_decref(lp.data);
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    reply_progress(r, json_pack("{s:o, s:o}", "data", lp.data, "nextCursor",
                                next[0] ? json_string(next) : json_null()));
}

typedef struct member_page {
    sgw_store *st;
    json_t *data;
} member_page;

static void member_add(void *ctx, const char *mid)
{
    member_page *mp = ctx;
    sgw_sms m;
    if (sgw_store_sms_get(mp->st, mid, &m) != SGW_OK)
        return;
    json_array_append_new(mp->data, sgw_render_message(&m));
    sgw_sms_clear(&m);
}

void h_batches_messages(sgw_req *r)
{
    sgw_batch_counts c;
    json_t *doc = batch_visible(r, &c);
    if (!doc)
        return;
    json_decref(doc);
    char lim[16], cursor[32];
    int limit = 50;
    uint64_t after = 0;
    if (sgw_req_query(r, "limit", lim, sizeof lim)) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (!lim[0] || *end || v < 1 || v > 200) {
            sgw_reply_error(r, 400, "validation_error", "limit must be an integer from 1 to 200");
            return;
        }
        limit = (int)v;
    }
    if (sgw_req_query(r, "cursor", cursor, sizeof cursor) && cursor[0]) {
        char *end;
        unsigned long long v = strtoull(cursor, &end, 16);
        if (strlen(cursor) != 16 || *end) {
            sgw_reply_error(r, 400, "validation_error", "Invalid cursor");
            return;
        }
        after = v;
    }
    member_page mp = { r->srv->deps.store, json_array() };
    uint64_t next = 0;
    if (sgw_store_batch_members(mp.st, r->param[0], after, limit, member_add, &mp, &next) !=
        SGW_OK) {
        json_decref(mp.data);
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    char nc[17];
    snprintf(nc, sizeof nc, "%016llx", (unsigned long long)next);
    sgw_reply_json(r, 200, json_pack("{s:o, s:o}", "data", mp.data, "nextCursor",
                                     next ? json_string(nc) : json_null()));
}
