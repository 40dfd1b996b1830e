/* The store on a real RocksDB in a temporary folder. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/util.h"
#include "store/store.h"
#include "tests/harness/sgw_test.h"
#include "tests/harness/tmpstore.h"

static char dir[64];
static sgw_cfg *cfg;

static sgw_store *open_fresh(void)
{
    return sgw_tmpstore_open(dir, sizeof dir, "store_test", "none", &cfg);
}

static void close_and_remove(sgw_store **s)
{
    sgw_tmpstore_remove(dir, s);
}

static void make(sgw_sms *m, const char *id, const char *tenant, int64_t created)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    snprintf(m->app, sizeof m->app, "app_0000000000000001");
    strcpy(m->to, "+15559876543");
    strcpy(m->from, "+15551234567");
    sgw_sms_set_str(&m->body, "héllo");
    m->created_ms = created;
    sgw_sms_set_status(m, SGW_ST_QUEUED, created);
}

static void test_record_codec(void)
{
    sgw_sms m, d;
    make(&m, "msg_000000000001", "tenant_000000000000000a", 1000);
    sgw_sms_set_str(&m.user_id, "u-1");
    sgw_attempt a = { .started_ms = 5, .finished_ms = 6, .ok = 0 };
    strcpy(a.provider, "sim");
    strcpy(a.error_code, "busy");
    a.error_message = "provider busy";
    ASSERT_OK(sgw_sms_add_attempt(&m, &a));
    m.due_ms = 77;
    m.due_kind = SGW_DUE_SEND;
    void *buf;
    size_t len;
    ASSERT_OK(sgw_sms_encode(&m, &buf, &len));
    ASSERT_OK(sgw_sms_decode(buf, len, &d));
    ASSERT_STREQ(d.id, m.id);
    ASSERT_STREQ(d.body, "héllo");
    ASSERT_STREQ(d.user_id, "u-1");
    ASSERT_NULL(d.error);
    ASSERT_EQ(d.nattempts, 1);
    ASSERT_STREQ(d.attempts[0].error_message, "provider busy");
    ASSERT_EQ(d.nevents, 1);
    ASSERT_EQ(d.events[0].status, SGW_ST_QUEUED);
    ASSERT_EQ(d.due_ms, 77);
    ASSERT_EQ(d.due_kind, SGW_DUE_SEND);
    /* truncated records are refused */
    for (size_t cut = 0; cut < len; cut += 7) {
        sgw_sms x;
        ASSERT_EQ(sgw_sms_decode(buf, cut, &x), SGW_EPROTO);
    }
    free(buf);
    sgw_sms_clear(&m);
    sgw_sms_clear(&d);
}

static void test_insert_get(void)
{
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_sms a, b, got;
    make(&a, "msg_00000000000a", "tenant_000000000000000a", 1000);
    make(&b, "msg_00000000000b", "tenant_000000000000000a", 1001);
    sgw_sms *v[2] = { &a, &b };
    ASSERT_OK(sgw_store_sms_insert(s, v, 2));
    ASSERT_TRUE(sgw_store_sms_exists(s, "msg_00000000000a"));
    ASSERT_FALSE(sgw_store_sms_exists(s, "msg_00000000000c"));
    ASSERT_OK(sgw_store_sms_get(s, "msg_00000000000b", &got));
    ASSERT_STREQ(got.body, "héllo");
    ASSERT_EQ(got.created_ms, 1001);
    sgw_sms_clear(&got);
    ASSERT_EQ(sgw_store_sms_get(s, "msg_00000000000c", &got), SGW_ENOENT);
    sgw_sms_clear(&a);
    sgw_sms_clear(&b);
    close_and_remove(&s);
}

static int set_sent(sgw_sms *m, void *ctx, int i)
{
    int *calls = ctx;
    calls[i]++;
    sgw_sms_set_status(m, m->status == SGW_ST_SENT ? SGW_ST_DELIVERED : SGW_ST_SENT, 2000);
    return 1;
}

static void test_update_batch_and_duplicates(void)
{
    sgw_store *s = open_fresh();
    sgw_sms a;
    make(&a, "msg_00000000000a", "tenant_000000000000000a", 1000);
    sgw_sms *v[1] = { &a };
    ASSERT_OK(sgw_store_sms_insert(s, v, 1));
    /* the same id twice in one batch: the second mutation sees the first */
    const char *ids[3] = { "msg_00000000000a", "msg_0000000000zz", "msg_00000000000a" };
    int calls[3] = { 0 };
    sgw_err found[3];
    ASSERT_OK(sgw_store_sms_update(s, ids, 3, set_sent, calls, found));
    ASSERT_EQ(calls[0], 1);
    ASSERT_EQ(calls[1], 0);
    ASSERT_EQ(calls[2], 1);
    ASSERT_EQ(found[1], SGW_ENOENT);
    sgw_sms got;
    ASSERT_OK(sgw_store_sms_get(s, "msg_00000000000a", &got));
    ASSERT_EQ(got.status, SGW_ST_DELIVERED);
    ASSERT_EQ(got.nevents, 3);
    sgw_sms_clear(&got);
    sgw_sms_clear(&a);
    close_and_remove(&s);
}

typedef struct seen {
    char ids[16][24];
    int64_t due[16];
    int kind[16];
    int n;
} seen;

static void on_due(void *ctx, const char *id, int64_t due, int kind)
{
    seen *x = ctx;
    if (x->n < 16) {
        snprintf(x->ids[x->n], 24, "%s", id);
        x->due[x->n] = due;
        x->kind[x->n++] = kind;
    }
}

static int move_due(sgw_sms *m, void *ctx, int i)
{
    (void)i;
    m->due_ms = *(int64_t *)ctx;
    m->due_kind = SGW_DUE_SEND;
    return 1;
}

static void test_schedule_order_and_moves(void)
{
    sgw_store *s = open_fresh();
    static const int64_t dues[4] = { 300, 100, 400, 200 };
    sgw_sms m[4];
    sgw_sms *v[4];
    for (int i = 0; i < 4; i++) {
        char id[24];
        snprintf(id, sizeof id, "msg_00000000000%d", i);
        make(&m[i], id, "tenant_000000000000000a", 1000);
        m[i].due_ms = dues[i];
        m[i].due_kind = i == 2 ? SGW_DUE_LEASE : SGW_DUE_SEND;
        v[i] = &m[i];
    }
    ASSERT_OK(sgw_store_sms_insert(s, v, 4));
    ASSERT_EQ(sgw_store_sched_next(s), 100);
    seen x = { 0 };
    ASSERT_EQ(sgw_store_sched_scan(s, 0, NULL, 250, 10, on_due, &x), 2);
    ASSERT_STREQ(x.ids[0], "msg_000000000001");
    ASSERT_STREQ(x.ids[1], "msg_000000000003");
    ASSERT_EQ(x.kind[0], SGW_DUE_SEND);
    /* resume after a position */
    seen y = { 0 };
    ASSERT_EQ(sgw_store_sched_scan(s, 200, "msg_000000000003", 1000, 10, on_due, &y), 2);
    ASSERT_STREQ(y.ids[0], "msg_000000000000");
    ASSERT_STREQ(y.ids[1], "msg_000000000002");
    ASSERT_EQ(y.kind[1], SGW_DUE_LEASE);
    /* moving an entry through an update leaves exactly one entry */
    const char *ids[1] = { "msg_000000000001" };
    int64_t to = 350;
    ASSERT_OK(sgw_store_sms_update(s, ids, 1, move_due, &to, NULL));
    seen z = { 0 };
    ASSERT_EQ(sgw_store_sched_scan(s, 0, NULL, 10000, 10, on_due, &z), 4);
    ASSERT_STREQ(z.ids[0], "msg_000000000003");
    ASSERT_STREQ(z.ids[2], "msg_000000000001");
    ASSERT_EQ(z.due[2], 350);
    for (int i = 0; i < 4; i++)
        sgw_sms_clear(&m[i]);
    close_and_remove(&s);
}

static void test_list_newest_first_and_paging(void)
{
    sgw_store *s = open_fresh();
    enum { N = 25 };
    sgw_sms m[N];
    sgw_sms *v[N];
    for (int i = 0; i < N; i++) {
        char id[24];
        snprintf(id, sizeof id, "msg_0000000000%02d", i);
        make(&m[i], id, i % 5 == 4 ? "tenant_000000000000000b" : "tenant_000000000000000a",
             1000 + i);
        if (i % 3 == 0)
            sgw_sms_set_status(&m[i], SGW_ST_SENT, 2000);
        v[i] = &m[i];
    }
    ASSERT_OK(sgw_store_sms_insert(s, v, N));
    sgw_sms_query q = { .tenant = "tenant_000000000000000a", .direction = -1, .status = -1,
                        .limit = 7 };
    char next[SGW_CURSOR_LEN + 1], cur[SGW_CURSOR_LEN + 1];
    int total = 0, pages = 0;
    int64_t last = 1 << 30;
    do {
        sgw_sms *out;
        int n;
        ASSERT_OK(sgw_store_sms_list(s, &q, &out, &n, next));
        for (int i = 0; i < n; i++) {
            ASSERT_STREQ(out[i].tenant, "tenant_000000000000000a");
            ASSERT_TRUE(out[i].created_ms < last); /* newest first, no repeats */
            last = out[i].created_ms;
            sgw_sms_clear(&out[i]);
        }
        free(out);
        total += n;
        pages++;
        strcpy(cur, next);
        q.cursor = cur;
    } while (next[0] && pages < 10);
    ASSERT_EQ(total, 20);
    ASSERT_EQ(pages, 3);
    /* filter by status */
    sgw_sms_query f = { .tenant = "tenant_000000000000000a", .direction = -1,
                        .status = SGW_ST_SENT, .limit = 100 };
    sgw_sms *out;
    int n;
    ASSERT_OK(sgw_store_sms_list(s, &f, &out, &n, next));
    ASSERT_EQ(n, 7); /* i in 0,3,6,...,24 but not i%5==4 (9, 24): 9 - 2 */
    for (int i = 0; i < n; i++)
        sgw_sms_clear(&out[i]);
    free(out);
    ASSERT_STREQ(next, "");
    /* malformed cursors */
    f.cursor = "zz";
    ASSERT_EQ(sgw_store_sms_list(s, &f, &out, &n, next), SGW_EINVAL);
    f.cursor = "g00000000000000000000000000000000000000000000000";
    ASSERT_EQ(sgw_store_sms_list(s, &f, &out, &n, next), SGW_EINVAL);
    for (int i = 0; i < N; i++)
        sgw_sms_clear(&m[i]);
    close_and_remove(&s);
}

static void test_docs_and_reopen(void)
{
    sgw_store *s = open_fresh();
    sgw_doc_op ops[2] = { { SGW_DOC_TENANT, "tenant_1", "{\"status\":\"active\"}" },
                          { SGW_DOC_TENANT, "tenant_2", "{\"status\":\"suspended\"}" } };
    ASSERT_OK(sgw_store_docs_write(s, ops, 2));
    ASSERT_EQ(sgw_store_tenant_active(s, "tenant_1"), 1);
    ASSERT_EQ(sgw_store_tenant_active(s, "tenant_2"), 0);
    ASSERT_EQ(sgw_store_tenant_active(s, "tenant_3"), -1);
    sgw_doc_op del = { SGW_DOC_TENANT, "tenant_2", NULL };
    ASSERT_OK(sgw_store_docs_write(s, &del, 1));
    /* close and open the same folder: the data is still there */
    char why[256];
    sgw_store_close(&s);
    ASSERT_OK(sgw_store_open(dir, cfg, &s, why, sizeof why));
    char *json;
    ASSERT_OK(sgw_store_doc_get(s, SGW_DOC_TENANT, "tenant_1", &json));
    ASSERT_STREQ(json, "{\"status\":\"active\"}");
    free(json);
    ASSERT_EQ(sgw_store_doc_get(s, SGW_DOC_TENANT, "tenant_2", &json), SGW_ENOENT);
    close_and_remove(&s);
    sgw_cfg_destroy(&cfg);
}

/* An app's webhook queue: in order, per app; the head found from the seq
 * of the head before (past the deleted ones) or from 0 alike. */
static void test_outbox_head_order(void)
{
    sgw_store *s = open_fresh();
    ASSERT_TRUE(s != NULL);
    sgw_wh_entry e[4] = { 0 };
    sgw_wh_entry *v[4];
    const char *apps[4] = { "app_a", "app_b", "app_a", "app_a" };
    for (int i = 0; i < 4; i++) {
        snprintf(e[i].id, sizeof e[i].id, "dlv_%024d", i);
        snprintf(e[i].app, sizeof e[i].app, "%s", apps[i]);
        snprintf(e[i].event, sizeof e[i].event, "sms_status");
        e[i].body = i == 0 ? "{\"n\":0}" : i == 1 ? "{\"n\":1}" : i == 2 ? "{\"n\":2}" : "{\"n\":3}";
        e[i].created_ms = 1000 + i;
        v[i] = &e[i];
    }
    ASSERT_OK(sgw_store_outbox_add(s, v, 4));
    ASSERT_EQ(e[0].seq, 1);
    ASSERT_EQ(e[1].seq, 1);
    ASSERT_EQ(e[2].seq, 2);
    ASSERT_EQ(e[3].seq, 3);
    sgw_wh_entry h = { 0 };
    ASSERT_OK(sgw_store_outbox_head(s, "app_a", 0, &h));
    ASSERT_STREQ(h.id, e[0].id);
    ASSERT_STREQ(h.body, "{\"n\":0}");
    ASSERT_OK(sgw_store_outbox_done(s, &h));
    sgw_wh_entry_clear(&h);
    /* from the old head's seq (now deleted) or from 0: the same next one */
    ASSERT_OK(sgw_store_outbox_head(s, "app_a", 1, &h));
    ASSERT_STREQ(h.id, e[2].id);
    sgw_wh_entry_clear(&h);
    ASSERT_OK(sgw_store_outbox_head(s, "app_a", 0, &h));
    ASSERT_STREQ(h.id, e[2].id);
    /* a retry keeps it the head */
    h.attempts = 1;
    ASSERT_OK(sgw_store_outbox_retry(s, &h));
    sgw_wh_entry_clear(&h);
    ASSERT_OK(sgw_store_outbox_head(s, "app_a", 2, &h));
    ASSERT_STREQ(h.id, e[2].id);
    ASSERT_EQ(h.attempts, 1);
    ASSERT_OK(sgw_store_outbox_done(s, &h));
    sgw_wh_entry_clear(&h);
    ASSERT_OK(sgw_store_outbox_head(s, "app_a", 2, &h));
    ASSERT_STREQ(h.id, e[3].id);
    ASSERT_OK(sgw_store_outbox_done(s, &h));
    sgw_wh_entry_clear(&h);
    ASSERT_EQ(sgw_store_outbox_head(s, "app_a", 3, &h), SGW_ENOENT);
    ASSERT_EQ(sgw_store_outbox_head(s, "app_a", 0, &h), SGW_ENOENT);
    /* the other app's queue is its own */
    ASSERT_OK(sgw_store_outbox_head(s, "app_b", 0, &h));
    ASSERT_STREQ(h.id, e[1].id);
    sgw_wh_entry_clear(&h);
    close_and_remove(&s);
}

SGW_TEST_LIST = {
    { "message record codec round trip and truncation", test_record_codec },
    { "store insert, exists, get", test_insert_get },
    { "store update batch, repeated ids, absent ids", test_update_batch_and_duplicates },
    { "schedule is time-ordered and follows record moves", test_schedule_order_and_moves },
    { "list is newest first, filtered, paged by cursor", test_list_newest_first_and_paging },
    { "documents survive a reopen; deletes", test_docs_and_reopen },
    { "webhook outbox: head in order per app, from the last head's seq", test_outbox_head_order },
    { NULL, NULL },
};
SGW_TEST_MAIN
