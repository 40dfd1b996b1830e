/* Batches in the store (store/batch.c) on a real RocksDB in a temporary
 * folder: staging leaves nothing behind when an upload is abandoned or cut
 * short by a crash; a commit makes the batch, its release pages respect
 * the window, and status changes keep its counters. */
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus/util.h"
#include "store/store.h"
#include "store/store_int.h"
#include "tests/harness/sgw_test.h"
#include "tests/harness/tmpstore.h"

#define TENANT "tenant_00000000000000b1"

static char dir[64];
static sgw_cfg *cfg;

static sgw_store *open_store(int fresh)
{
    return fresh ? sgw_tmpstore_open(dir, sizeof dir, "batch_test", "none", &cfg)
                 : sgw_tmpstore_reopen(dir, "none", &cfg);
}

static void close_and_remove(sgw_store **s)
{
    sgw_tmpstore_remove(dir, s);
}

/* Keys in the batches keyspace. */
static int batch_keys(sgw_store *s)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(sgw_store_db_(s), sgw_store_ropts_(s),
                                                        sgw_store_cf_batches_(s));
    int n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
        n++;
    rocksdb_iter_destroy(it);
    return n;
}

static void make(sgw_sms *m, int i, int test)
{
    memset(m, 0, sizeof *m);
    snprintf(m->tenant, sizeof m->tenant, TENANT);
    snprintf(m->app, sizeof m->app, "app_00000000000000a1");
    snprintf(m->to, sizeof m->to, "+1555000%04d", i);
    strcpy(m->from, "+15551234567");
    sgw_sms_set_str(&m->body, "hello");
    m->test = test;
    m->segments = 1;
    m->cost_amount = test ? 0 : 7;
    m->created_ms = 1000;
    sgw_sms_set_status(m, SGW_ST_QUEUED, 1000);
}

/* Stage n recipients and add them all as messages; ids (n of them) get
 * the message ids. */
static void fill(sgw_batch_up *u, int n, char (*ids)[24])
{
    for (int i = 0; i < n; i++) {
        char to[24];
        snprintf(to, sizeof to, "+1555000%04d", i);
        ASSERT_OK(sgw_store_batch_stage(u, (uint32_t)(i / 2 + 1), to, strlen(to)));
        if (i % 2 == 0)
            ASSERT_OK(sgw_store_batch_stage_text(u, (uint32_t)(i / 2 + 1), "hi", 2));
    }
    for (int i = 0; i < n; i++) {
        sgw_sms m;
        make(&m, i, 1);
        ASSERT_OK(sgw_store_batch_add(u, &m));
        snprintf(ids[i], 24, "%s", m.id);
        sgw_sms_clear(&m);
    }
}

typedef struct seen {
    int n;
    uint32_t last_mi;
    int ordered, texts;
} seen;

static int count_staged(void *ctx, uint64_t seq, uint32_t mi, const char *to, size_t to_len,
                        const char *text, size_t text_len)
{
    seen *sn = ctx;
    (void)to;
    (void)to_len;
    sn->ordered &= seq == (uint64_t)sn->n + 1 && mi >= sn->last_mi;
    sn->last_mi = mi;
    sn->texts += text && text_len == 2;
    sn->n++;
    return 1;
}

static void test_abandoned_upload_leaves_nothing(void)
{
    sgw_store *s = open_store(1);
    ASSERT_NOT_NULL(s);
    sgw_batch_up *u;
    char id[SGW_BATCH_ID_LEN + 1], ids[25][24];
    ASSERT_OK(sgw_store_batch_up_new(s, TENANT, 10, &u, id));
    ASSERT_TRUE(sgw_id_valid(id, "batch_", 16));
    fill(u, 25, ids);
    seen sn = { .ordered = 1 };
    ASSERT_OK(sgw_store_batch_staged_scan(u, count_staged, &sn));
    ASSERT_EQ(sn.n, 25);
    ASSERT_TRUE(sn.ordered);
    ASSERT_EQ(sn.texts, 25); /* every message (two recipients each) has its text */
    ASSERT_TRUE(batch_keys(s) > 0);
    ASSERT_TRUE(sgw_store_sms_exists(s, ids[0])); /* staged, written */
    sgw_store_batch_up_destroy(&u);               /* never committed */
    ASSERT_NULL(u);
    ASSERT_EQ(batch_keys(s), 0);
    for (int i = 0; i < 25; i++)
        ASSERT_FALSE(sgw_store_sms_exists(s, ids[i]));
    char *json;
    sgw_batch_counts c;
    ASSERT_EQ(sgw_store_batch_get(s, id, &json, &c), SGW_ENOENT);
    close_and_remove(&s);
}

static void test_crash_mid_upload_is_removed_at_open(void)
{
    sgw_store *s = open_store(1);
    ASSERT_NOT_NULL(s);
    sgw_store_close(&s);
    int fd[2];
    ASSERT_OK(pipe(fd));
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        /* the child stages and adds, then dies without a word */
        sgw_store *cs = open_store(0);
        sgw_batch_up *u;
        char id[SGW_BATCH_ID_LEN + 1], ids[30][24];
        if (!cs || sgw_store_batch_up_new(cs, TENANT, 10, &u, id) != SGW_OK)
            _exit(1);
        fill(u, 30, ids);
        if (write(fd[1], ids, sizeof ids) != (ssize_t)sizeof ids)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    char ids[30][24];
    ASSERT_EQ(read(fd[0], ids, sizeof ids), (ssize_t)sizeof ids);
    close(fd[0]);
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    s = open_store(0); /* the recovery runs here */
    ASSERT_NOT_NULL(s);
    ASSERT_EQ(batch_keys(s), 0);
    for (int i = 0; i < 30; i++)
        ASSERT_FALSE(sgw_store_sms_exists(s, ids[i]));
    close_and_remove(&s);
}

typedef struct released {
    int n;
    char ids[64][24];
} released;

static void on_release(void *ctx, const sgw_sms *rec)
{
    released *r = ctx;
    ASSERT_EQ(rec->status, SGW_ST_QUEUED);
    ASSERT_EQ(rec->due_kind, SGW_DUE_LEASE);
    snprintf(r->ids[r->n++], 24, "%s", rec->id);
}

static int set_status(sgw_sms *m, void *ctx, int i)
{
    (void)i;
    sgw_sms_set_status(m, *(int *)ctx, 2000);
    m->due_kind = SGW_DUE_NONE;
    m->due_ms = 0;
    return 1;
}

static void collect(void *ctx, const char *mid)
{
    released *r = ctx;
    snprintf(r->ids[r->n++], 24, "%s", mid);
}

static void test_commit_release_and_counters(void)
{
    sgw_store *s = open_store(1);
    ASSERT_NOT_NULL(s);
    sgw_batch_up *u;
    char id[SGW_BATCH_ID_LEN + 1], ids[12][24];
    ASSERT_OK(sgw_store_batch_up_new(s, TENANT, 5, &u, id));
    fill(u, 12, ids);
    ASSERT_OK(sgw_store_batch_commit(u, "{\"batchSize\":12}", 1000, 1000, NULL));
    sgw_store_batch_up_destroy(&u); /* committed: kept */
    char *json;
    sgw_batch_counts c;
    ASSERT_OK(sgw_store_batch_get(s, id, &json, &c));
    ASSERT_STREQ(json, "{\"batchSize\":12}");
    free(json);
    ASSERT_EQ(c.processed, 0);
    ASSERT_EQ(c.mtime_ms, 1000);
    /* members in request order, paged */
    released pg = { 0 };
    uint64_t next;
    ASSERT_OK(sgw_store_batch_members(s, id, 0, 5, collect, &pg, &next));
    ASSERT_EQ(pg.n, 5);
    ASSERT_EQ(next, 5);
    ASSERT_OK(sgw_store_batch_members(s, id, next, 50, collect, &pg, &next));
    ASSERT_EQ(pg.n, 12);
    ASSERT_EQ(next, 0);
    for (int i = 0; i < 12; i++)
        ASSERT_STREQ(pg.ids[i], ids[i]);
    /* not yet due: listed (all 12 members), nothing released */
    released r = { 0 };
    ASSERT_EQ(sgw_store_batch_release(s, 999, 60000, 4, 6, on_release, &r), 12);
    ASSERT_EQ(r.n, 0);
    ASSERT_EQ(sgw_store_batch_release(s, 999, 60000, 4, 6, on_release, &r), 0);
    sgw_sms_query q = { .tenant = TENANT, .direction = -1, .status = -1, .limit = 100 };
    sgw_sms *v;
    int n;
    char nc[SGW_CURSOR_LEN + 1];
    ASSERT_OK(sgw_store_sms_list(s, &q, &v, &n, nc));
    ASSERT_EQ(n, 12);
    for (int i = 0; i < n; i++) {
        ASSERT_STREQ(v[i].batch_id, id);
        ASSERT_EQ(v[i].status, SGW_ST_QUEUED);
        sgw_sms_clear(&v[i]);
    }
    free(v);
    /* pages of at most 4, at most 6 out at once */
    ASSERT_EQ(sgw_store_batch_release(s, 1000, 60000, 4, 6, on_release, &r), 4);
    ASSERT_EQ(sgw_store_batch_release(s, 1000, 60000, 4, 6, on_release, &r), 2);
    ASSERT_EQ(sgw_store_batch_release(s, 1000, 60000, 4, 6, on_release, &r), 0); /* window full */
    ASSERT_EQ(r.n, 6);
    /* two are sent (out), then delivered; one fails */
    const char *two[2] = { r.ids[0], r.ids[1] };
    int st = SGW_ST_SENT;
    ASSERT_OK(sgw_store_sms_update(s, two, 2, set_status, &st, NULL));
    ASSERT_OK(sgw_store_batch_get(s, id, &json, &c));
    free(json);
    ASSERT_EQ(c.out, 2);
    ASSERT_EQ(c.processed, 0);
    st = SGW_ST_DELIVERED;
    ASSERT_OK(sgw_store_sms_update(s, two, 2, set_status, &st, NULL));
    const char *third[1] = { r.ids[2] };
    st = SGW_ST_FAILED;
    ASSERT_OK(sgw_store_sms_update(s, third, 1, set_status, &st, NULL));
    ASSERT_OK(sgw_store_batch_get(s, id, &json, &c));
    free(json);
    ASSERT_EQ(c.out, 3);
    ASSERT_EQ(c.processed, 3);
    ASSERT_TRUE(c.mtime_ms > 1000);
    /* room for three more */
    ASSERT_EQ(sgw_store_batch_release(s, 1000, 60000, 4, 6, on_release, &r), 3);
    ASSERT_EQ(r.n, 9);
    for (int i = 0; i < 9; i++)
        ASSERT_STREQ(r.ids[i], ids[i]); /* in order */
    /* a cancelled message is counted, and skipped by its release */
    const char *last[1] = { ids[11] };
    st = SGW_ST_CANCELLED;
    ASSERT_OK(sgw_store_sms_update(s, last, 1, set_status, &st, NULL));
    ASSERT_EQ(sgw_store_batch_release(s, 1000, 60000, 4, 100, on_release, &r), 3);
    ASSERT_EQ(r.n, 11);
    ASSERT_EQ(sgw_store_batch_release(s, 1000, 60000, 4, 100, on_release, &r), 0); /* done */
    ASSERT_OK(sgw_store_batch_get(s, id, &json, &c));
    free(json);
    ASSERT_EQ(c.processed, 4);
    close_and_remove(&s);
    sgw_cfg_destroy(&cfg);
}

static void collect_id(void *ctx, const char *id)
{
    released *r = ctx;
    snprintf(r->ids[r->n++], 24, "%s", id);
}

/* Five batches committed within one millisecond (the same created time)
 * list newest first, across pages, and a later one (a smaller created time
 * given after them) still lists first: commit order wins. */
static void test_list_newest_first_within_a_millisecond(void)
{
    sgw_store *s = open_store(1);
    ASSERT_NOT_NULL(s);
    char ids[6][SGW_BATCH_ID_LEN + 1], mids[1][24];
    for (int i = 0; i < 6; i++) {
        sgw_batch_up *u;
        ASSERT_OK(sgw_store_batch_up_new(s, TENANT, 5, &u, ids[i]));
        fill(u, 1, mids);
        ASSERT_OK(sgw_store_batch_commit(u, "{\"appId\":\"app_1\"}", i < 5 ? 5000 : 4000, 0,
                                         NULL));
        sgw_store_batch_up_destroy(&u);
    }
    released pg = { 0 };
    char next[SGW_BATCH_CURSOR_LEN + 1];
    ASSERT_OK(sgw_store_batch_list(s, TENANT, "app_1", NULL, 4, collect_id, &pg, next));
    ASSERT_EQ(pg.n, 4);
    ASSERT_TRUE(next[0] != '\0');
    char cur[SGW_BATCH_CURSOR_LEN + 1];
    memcpy(cur, next, sizeof cur);
    ASSERT_OK(sgw_store_batch_list(s, TENANT, "app_1", cur, 4, collect_id, &pg, next));
    ASSERT_EQ(pg.n, 6);
    ASSERT_STREQ(next, "");
    for (int i = 0; i < 6; i++)
        ASSERT_STREQ(pg.ids[i], ids[5 - i]);
    /* another app sees none of them */
    released none = { 0 };
    ASSERT_OK(sgw_store_batch_list(s, TENANT, "app_2", NULL, 10, collect_id, &none, next));
    ASSERT_EQ(none.n, 0);
    close_and_remove(&s);
    sgw_cfg_destroy(&cfg);
}

SGW_TEST_LIST = {
    { "an abandoned upload leaves no key and no record", test_abandoned_upload_leaves_nothing },
    { "an upload cut short by a crash is removed at the next open",
      test_crash_mid_upload_is_removed_at_open },
    { "commit, members, release pages within the window, counters",
      test_commit_release_and_counters },
    { "batches committed within a millisecond list newest first",
      test_list_newest_first_within_a_millisecond },
    { NULL, NULL },
};
SGW_TEST_MAIN
