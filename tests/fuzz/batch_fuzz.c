/*
 * tests/fuzz/batch_fuzz.c — POST /v1/sms/batches bodies, through the
 * handler's own two passes (http/h_batches.c h_batches_create):
 *
 *   pass 1: the body, cut into 1-3 pieces, is streamed through yajl with
 *           parse_callbacks, which stage each recipient in the store;
 *   pass 2: when the body is valid and names from and messages (and the
 *           top-level fields pass, as in the handler), every staged
 *           recipient goes through accept_one as a test key's (no ledger):
 *           a message record or an entry of `rejected`.
 *
 * The input's first two bytes are not body: they choose how many pieces
 * the body is cut into and where (so values and tokens straddle the
 * reads, as with civetweb's 64 KiB pieces); each piece is its own heap
 * copy, so a read past a piece is caught. Checked: every staged recipient
 * is seen once, in order; accepted + rejected == recipients staged; the
 * rejected list (joined as the answer joins it) is JSON whose indexes are
 * 1-based, strictly increasing and at most the total. Nothing is
 * committed: the upload is destroyed (its staged and added records
 * deleted) after each input.
 *
 * parse, accept_one and the spool are file-private: this target compiles
 * http/h_batches.c itself (the library's copy is then not linked). The
 * store is a real one in a temporary folder (see setup()).
 *
 * It found two bugs, fixed with it: a recipient, or a userId, holding an
 * escaped lone surrogate (yajl lets it through as bytes that are not
 * UTF-8) made the whole batch 503; now that recipient is rejected (its
 * `to` shown with '?' for such bytes) and such a userId is a 400. The
 * reproducers are in the corpus (regress-*).
 */
#include "http/h_batches.c"

#include <unistd.h>

#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define TENANT "tenant_0123456789abcdef"
#define APP "app_0123456789abcdef"

static char store_dir[64];
static sgw_store *store;
static sgw_cfg *cfg;
static sgw_accept_rules rules;
static int chunk_records;

static void cleanup(void)
{
    sgw_accept_rules_fini(&rules);
    sgw_tmpstore_remove(store_dir, &store);
    sgw_cfg_destroy(&cfg);
}

static void setup(void)
{
    fuzz_store_open(store_dir, sizeof store_dir, "batch_fuzz", &cfg, &store);
    atexit(cleanup);
    /* the embedded defaults' pricing, as h_batches_create loads it */
    if (sgw_accept_rules_load(cfg, &rules) != SGW_OK) {
        fprintf(stderr, "batch_fuzz: the default configuration's pricing does not load\n");
        abort();
    }
    chunk_records = (int)sgw_cfg_int(cfg, "batches.chunk_records");
    fuzz_put_sender_ids(store, TENANT);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setup();
    return 0;
}

/* Pass 2's callback, wrapped: every staged recipient once, in order. */
typedef struct scan_check {
    accept_ctx *a;
    uint64_t seen;
    uint32_t last_msg, msgs;
} scan_check;

static int checked_accept_one(void *ctx, uint64_t seq, uint32_t mi, const char *to, size_t to_len,
                              const char *text, size_t text_len)
{
    scan_check *c = ctx;
    FUZZ_CHECK(seq == c->seen + 1);
    FUZZ_CHECK(mi >= 1 && mi <= c->msgs && mi >= c->last_msg);
    FUZZ_CHECK(to != NULL || to_len == 0);
    c->seen = seq;
    c->last_msg = mi;
    /* yajl passes an escaped lone surrogate ("\ud800") through as bytes
     * that are not UTF-8, which reject()'s json_pack refuses: the known bug */
    json_t *js = json_stringn(to, to_len);
    int utf8_to = js != NULL; /* a recipient that is not UTF-8 is never a number */
    json_decref(js);
    uint64_t before = c->a->accepted;
    int go_on = accept_one(c->a, seq, mi, to, to_len, text, text_len);
    FUZZ_CHECK(utf8_to || c->a->accepted == before);
    if (c->a->accepted > before) {
        /* an accepted message is shown as JSON later (GET .../messages):
         * its body and userId must be strings jansson takes */
        const char *body = c->a->cur_text ? c->a->cur_text : c->a->top_text;
        FUZZ_CHECK(body != NULL);
        json_t *b = json_string(body), *u = c->a->user_id ? json_string(c->a->user_id) : NULL;
        FUZZ_CHECK(b != NULL);
        FUZZ_CHECK(!c->a->user_id || u != NULL);
        json_decref(b);
        json_decref(u);
    }
    return go_on;
}

/* The rejected list, joined as the answer is (answer_join), read back. */
static void check_rejected(accept_ctx *a, uint64_t total)
{
    static const char head[] = "{\"error\":\"No valid recipients\",\"code\":\"validation_error\"}";
    size_t hl = sizeof head - 2; /* without its '}' */
    const char *mid = ",\"rejected\":[", *tail = "]}";
    size_t len = hl + strlen(mid) + a->rejected.total + strlen(tail);
    char *all = answer_join(head, hl, mid, tail, &a->rejected, len);
    FUZZ_CHECK(all != NULL);
    FUZZ_CHECK(strlen(all) == len);
    json_error_t jerr;
    /* a rejected "to" may hold a NUL (written \u0000): valid JSON */
    json_t *o = json_loadb(all, len, JSON_ALLOW_NUL, &jerr);
    if (!o)
        fprintf(stderr, "batch_fuzz: the answer is not JSON: %s\n", jerr.text);
    FUZZ_CHECK(o != NULL);
    json_t *rej = json_object_get(o, "rejected");
    FUZZ_CHECK(json_is_array(rej));
    FUZZ_CHECK(json_array_size(rej) == (size_t)a->rejected.n);
    json_int_t prev = 0;
    size_t i;
    json_t *e;
    json_array_foreach(rej, i, e) {
        json_t *ix = json_object_get(e, "index");
        FUZZ_CHECK(json_is_integer(ix));
        json_int_t n = json_integer_value(ix);
        FUZZ_CHECK(n > prev && (uint64_t)n <= total);
        prev = n;
        json_t *to = json_object_get(e, "to"); /* RingCentral's shape: ["number"] */
        FUZZ_CHECK(json_is_array(to) && json_array_size(to) == 1 &&
                   json_is_string(json_array_get(to, 0)));
        const char *code = json_string_value(json_object_get(e, "errorCode"));
        FUZZ_CHECK(code && code[0]);
        const char *why = json_string_value(json_object_get(e, "description"));
        FUZZ_CHECK(why && why[0]);
    }
    json_decref(o);
    free(all);
}

/* Pass 1 over the pieces; then, as h_batches_create does, the top-level
 * checks and pass 2. Returns with everything freed and nothing stored. */
static void one(const uint8_t *body, size_t len, size_t cut1, size_t cut2)
{
    parse p = { 0 };
    accept_ctx a = { 0 };
    char id[SGW_BATCH_ID_LEN + 1];
    yajl_handle y = NULL;
    FUZZ_CHECK(sgw_store_batch_up_new(store, TENANT, chunk_records, &p.up, id) == SGW_OK);
    FUZZ_CHECK((y = yajl_alloc(&parse_callbacks, NULL, &p)) != NULL);

    /* pass 1: the pieces, each its own heap copy (never empty: mg_read's
     * 0 is the end, not a piece) */
    size_t cuts[4] = { 0, cut1, cut2, len };
    yajl_status ys = yajl_status_ok;
    for (int i = 0; i < 3 && ys == yajl_status_ok; i++) {
        size_t n = cuts[i + 1] - cuts[i];
        if (n == 0)
            continue;
        unsigned char *piece = malloc(n);
        FUZZ_CHECK(piece != NULL);
        memcpy(piece, body + cuts[i], n);
        ys = yajl_parse(y, piece, n);
        free(piece);
    }
    /* a real store in a temporary folder does not fail */
    FUZZ_CHECK(p.store_err == SGW_OK);
    if (ys == yajl_status_ok)
        ys = yajl_complete_parse(y);
    FUZZ_CHECK(p.store_err == SGW_OK);
    int bad_json = p.err[0] || ys != yajl_status_ok;
    if (bad_json && ys == yajl_status_error) {
        /* what a 400 would not show, but must not crash either */
        unsigned char *msg = yajl_get_error(y, 0, NULL, 0);
        FUZZ_CHECK(msg != NULL);
        yajl_free_error(y, msg);
    }
    if (!bad_json) {
        /* a complete body: one object, balanced */
        FUZZ_CHECK(p.depth == 0 && !p.skip_from && !p.in_messages && !p.in_msg && !p.in_to);
    }

    const char *from = p.field[K_FROM], *top_text = p.field[K_TEXT];
    sgw_verdict v;
    int64_t now = sgw_now_ms(), send_at_ms = 0;
    if (bad_json || !from || !p.has_messages || p.msg_index == 0 || p.recipients == 0)
        goto done;
    if (!sgw_accept_from(&rules, store, TENANT, 1, from, &v) ||
        (top_text && !sgw_accept_body(top_text, strlen(top_text), &a.top_ti, &v)) ||
        !sgw_accept_user_id(p.field[K_USER_ID], &v) ||
        !sgw_accept_send_at(p.field[K_SEND_AT], now, &send_at_ms, &v)) {
        FUZZ_CHECK(v.status >= 400 && v.status < 500 && v.code && v.code[0] && v.error[0]);
        goto done;
    }

    /* pass 2: a test key (a.live = 0: no ledger) */
    a.rules = &rules;
    a.up = p.up;
    a.tenant = TENANT;
    a.app = APP;
    a.test = 1;
    a.from = from;
    a.top_text = top_text;
    a.user_id = p.field[K_USER_ID];
    a.now = now;
    a.send_at_ms = send_at_ms;
    a.live = 0;
    scan_check c = { &a, 0, 0, p.msg_index };
    sgw_err rv = sgw_store_batch_staged_scan(p.up, checked_accept_one, &c);
    FUZZ_CHECK(rv == SGW_OK && a.err == SGW_OK && !a.unpaid);
    FUZZ_CHECK(c.seen == p.recipients);
    FUZZ_CHECK(a.accepted + (uint64_t)a.rejected.n == p.recipients);
    check_rejected(&a, p.recipients);

done:
    sgw_store_batch_up_destroy(&p.up); /* never committed: everything staged goes */
    FUZZ_CHECK(p.up == NULL);
    yajl_free(y);
    for (int k = 0; k < K_N; k++)
        free(p.field[k]);
    free(a.cur_text);
    spool_free(&a.rejected);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1 << 20)) /* batches.max_body_bytes is 50 MB; keep the runs short */
        return 0;
    /* two bytes choose the cuts: h0 % 3 + 1 pieces, h1 where the first
     * cut falls, h0 / 3 where the second one does in what remains */
    unsigned h0 = size > 0 ? data[0] : 0, h1 = size > 1 ? data[1] : 0;
    size_t skip = size < 2 ? size : 2;
    const uint8_t *body = data + skip;
    size_t len = size - skip;
    int pieces = 1 + (int)(h0 % 3);
    size_t cut1 = pieces >= 2 ? (size_t)((uint64_t)len * h1 / 255) : len;
    size_t cut2 = pieces >= 3 ? cut1 + (size_t)((uint64_t)(len - cut1) * (h0 / 3) / 85) : len;
    FUZZ_CHECK(cut1 <= cut2 && cut2 <= len);
    one(body, len, cut1, cut2);
    return 0;
}
