/* Idempotency-Key records (store/idem.c) on a real RocksDB. */
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/util.h"
#include "http/http.h"
#include "store/store.h"
#include "store/store_int.h"
#include "tests/harness/sgw_test.h"
#include "tests/harness/tmpstore.h"

static char dir[64];
static sgw_cfg *cfg;

static sgw_store *open_dir(void)
{
    return sgw_tmpstore_reopen(dir, "always", &cfg);
}

static sgw_store *open_fresh(void)
{
    return sgw_tmpstore_open(dir, sizeof dir, "idem_test", "always", &cfg);
}

static void close_and_remove(sgw_store **s)
{
    sgw_tmpstore_remove(dir, s);
}

static sgw_idem_rec claim(int64_t created, int64_t expires)
{
    sgw_idem_rec r = { .state = SGW_IDEM_PENDING, .created_ms = created, .expires_ms = expires };
    memset(r.req_hash, 'a', 64);
    strcpy(r.tenant, "tenant_000000000000000a");
    strcpy(r.app, "app_0000000000000001");
    return r;
}

static void test_claim_then_answer_round_trip(void)
{
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_idem_rec c = claim(1000, 5000), got;
    ASSERT_EQ(sgw_store_idem_get(s, "k1", 1000, &got), SGW_ENOENT);
    ASSERT_OK(sgw_store_idem_put(s, "k1", &c));
    ASSERT_OK(sgw_store_idem_get(s, "k1", 1000, &got));
    ASSERT_EQ(got.state, SGW_IDEM_PENDING);
    ASSERT_STREQ(got.req_hash, c.req_hash);
    ASSERT_STREQ(got.tenant, "tenant_000000000000000a");
    ASSERT_STREQ(got.app, "app_0000000000000001");
    ASSERT_EQ(got.created_ms, 1000);
    ASSERT_NULL(got.body);
    sgw_idem_rec_clear(&got);

    const char body[] = "{\"messageId\":\"msg_000000000001\",\"status\":\"queued\"}";
    c.state = SGW_IDEM_DONE;
    c.status = 202;
    c.body = (char *)body;
    c.body_len = strlen(body);
    ASSERT_OK(sgw_store_idem_put(s, "k1", &c));
    ASSERT_OK(sgw_store_idem_get(s, "k1", 4999, &got));
    ASSERT_EQ(got.state, SGW_IDEM_DONE);
    ASSERT_EQ(got.status, 202);
    ASSERT_EQ(got.body_len, strlen(body));
    ASSERT_STREQ(got.body, body);
    ASSERT_NULL(got.headers);
    sgw_idem_rec_clear(&got);
    close_and_remove(&s);
}

static void test_answer_survives_reopen(void)
{
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_idem_rec c = claim(1000, 5000), got;
    c.state = SGW_IDEM_DONE;
    c.status = 400;
    c.body = "{\"error\":\"x\",\"code\":\"validation_error\"}";
    c.body_len = strlen(c.body);
    c.headers = "X-Thing: 1\r\n";
    ASSERT_OK(sgw_store_idem_put(s, "k2", &c));
    sgw_store_close(&s);
    s = open_dir();
    ASSERT_NOT_NULL(s);
    ASSERT_OK(sgw_store_idem_get(s, "k2", 2000, &got));
    ASSERT_EQ(got.status, 400);
    ASSERT_STREQ(got.body, c.body);
    ASSERT_STREQ(got.headers, "X-Thing: 1\r\n");
    sgw_idem_rec_clear(&got);
    close_and_remove(&s);
}

static void test_expired_is_not_returned(void)
{
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_idem_rec c = claim(1000, 5000), got;
    ASSERT_OK(sgw_store_idem_put(s, "k3", &c));
    ASSERT_OK(sgw_store_idem_get(s, "k3", 4999, &got));
    sgw_idem_rec_clear(&got);
    ASSERT_EQ(sgw_store_idem_get(s, "k3", 5000, &got), SGW_ENOENT);
    close_and_remove(&s);
}

static void test_delete_releases_the_key(void)
{
    /* what a 5xx answer does: nothing is kept, the key is free again */
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_idem_rec c = claim(1000, 5000), got;
    ASSERT_OK(sgw_store_idem_put(s, "k4", &c));
    ASSERT_OK(sgw_store_idem_delete(s, "k4", 5000));
    ASSERT_EQ(sgw_store_idem_get(s, "k4", 1000, &got), SGW_ENOENT);
    ASSERT_EQ(sgw_store_idem_purge(s, 10000, 100), 0); /* its expiry entry went too */
    close_and_remove(&s);
}

static void test_purge_is_ordered_and_bounded(void)
{
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    char id[16];
    for (int i = 0; i < 10; i++) {
        sgw_idem_rec c = claim(0, 1000 + i);
        snprintf(id, sizeof id, "p%d", i);
        ASSERT_OK(sgw_store_idem_put(s, id, &c));
    }
    sgw_idem_rec live = claim(0, 100000), got;
    ASSERT_OK(sgw_store_idem_put(s, "live", &live));
    /* at 1005, six have expired (1000..1005): the first run takes 4 */
    ASSERT_EQ(sgw_store_idem_purge(s, 1005, 4), 4);
    ASSERT_EQ(sgw_store_idem_purge(s, 1005, 4), 2);
    ASSERT_EQ(sgw_store_idem_purge(s, 1005, 4), 0);
    /* the rest are still there (a get at an early time shows what is stored) */
    ASSERT_EQ(sgw_store_idem_get(s, "p5", 0, &got), SGW_ENOENT);
    ASSERT_OK(sgw_store_idem_get(s, "p6", 0, &got));
    sgw_idem_rec_clear(&got);
    ASSERT_EQ(sgw_store_idem_purge(s, 50000, 100), 4);
    ASSERT_OK(sgw_store_idem_get(s, "live", 50000, &got));
    sgw_idem_rec_clear(&got);
    close_and_remove(&s);
}

static void test_purge_spares_a_renewed_record(void)
{
    /* a key used again after it expired has a new expiry: the old expiry
     * entry must not take the new record with it */
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_idem_rec old = claim(0, 1000), fresh = claim(2000, 90000), got;
    ASSERT_OK(sgw_store_idem_put(s, "k5", &old));
    ASSERT_OK(sgw_store_idem_put(s, "k5", &fresh));
    ASSERT_EQ(sgw_store_idem_purge(s, 3000, 100), 1);
    ASSERT_OK(sgw_store_idem_get(s, "k5", 3000, &got));
    ASSERT_EQ(got.created_ms, 2000);
    sgw_idem_rec_clear(&got);
    close_and_remove(&s);
}

static void test_bad_ids_refused(void)
{
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_idem_rec c = claim(0, 1000), got;
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ASSERT_EQ(sgw_store_idem_put(s, "", &c), SGW_EINVAL);
    ASSERT_EQ(sgw_store_idem_put(s, big, &c), SGW_EINVAL);
    ASSERT_EQ(sgw_store_idem_get(s, big, 0, &got), SGW_EINVAL);
    c.state = 9;
    ASSERT_EQ(sgw_store_idem_put(s, "k6", &c), SGW_EINVAL);
    close_and_remove(&s);
}

static void insert_msg(sgw_store *s, const char *id, const char *app, int64_t created)
{
    sgw_sms m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "%s", id);
    strcpy(m.tenant, "tenant_000000000000000a");
    snprintf(m.app, sizeof m.app, "%s", app);
    strcpy(m.to, "+15559876543");
    strcpy(m.from, "+15551234567");
    sgw_sms_set_str(&m.body, "hi");
    m.created_ms = created;
    sgw_sms_set_status(&m, SGW_ST_QUEUED, created);
    sgw_sms *p = &m;
    sgw_store_sms_insert(s, &p, 1);
    sgw_sms_clear(&m);
}

static void test_orphan_claim_of_a_send(void)
{
    /* a claim left by a crash: safe to run again only if the claiming app
     * has no message created within request_timeout_ms after the claim */
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_http h;
    memset(&h, 0, sizeof h);
    h.deps.store = s;
    h.request_timeout_ms = 1000;
    sgw_req r;
    memset(&r, 0, sizeof r);
    r.srv = &h;
    int64_t t = 1700000000000;
    sgw_idem_rec c = claim(t, t + 86400000);
    ASSERT_EQ(sgw_idem_orphan_sms(&r, &c), 1);                 /* no messages at all */
    insert_msg(s, "msg_000000000001", "app_0000000000000001", t - 5);
    insert_msg(s, "msg_000000000002", "app_0000000000000002", t + 10);
    insert_msg(s, "msg_000000000003", "app_0000000000000001", t + 60000);
    ASSERT_EQ(sgw_idem_orphan_sms(&r, &c), 1); /* before, another app's, long after */
    insert_msg(s, "msg_000000000004", "app_0000000000000001", t + 20);
    ASSERT_EQ(sgw_idem_orphan_sms(&r, &c), 0); /* it may be this request's */
    sgw_idem_rec nobody = claim(t, t + 1);
    nobody.app[0] = '\0';
    ASSERT_EQ(sgw_idem_orphan_sms(&r, &nobody), 0); /* unknown claimant: refuse */
    close_and_remove(&s);
}

static void test_orphan_claim_of_a_batch(void)
{
    /* a batch POST's claim names its batch id before the commit: the retry
     * runs if that batch was never committed, and is refused if it was */
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_http h;
    memset(&h, 0, sizeof h);
    h.deps.store = s;
    sgw_req r;
    memset(&r, 0, sizeof r);
    r.srv = &h;
    sgw_batch_up *u;
    char id[SGW_BATCH_ID_LEN + 1];
    ASSERT_OK(sgw_store_batch_up_new(s, "tenant_000000000000000a", 10, &u, id));
    sgw_idem_rec c = claim(1000, 5000);
    snprintf(c.ref, sizeof c.ref, "%s", id);
    ASSERT_EQ(sgw_idem_orphan_batch(&r, &c), 1); /* staged only: never committed */
    ASSERT_OK(sgw_store_batch_commit(u, "{\"batchSize\":0}", 1000, 1000, NULL));
    sgw_store_batch_up_destroy(&u);
    ASSERT_EQ(sgw_idem_orphan_batch(&r, &c), 0); /* committed: it took effect */
    c.ref[0] = '\0';
    ASSERT_EQ(sgw_idem_orphan_batch(&r, &c), 0); /* names nothing: refuse */
    close_and_remove(&s);
}

/* A claim names what its request makes (a batch id); a record written
 * before that field existed (five strings) still reads, with ref "". */
static void test_ref_round_trip_and_old_records(void)
{
    sgw_store *s = open_fresh();
    ASSERT_NOT_NULL(s);
    sgw_idem_rec c = claim(1000, 5000), got;
    strcpy(c.ref, "batch_00000000000000ab");
    ASSERT_OK(sgw_store_idem_put(s, "k1", &c));
    ASSERT_OK(sgw_store_idem_get(s, "k1", 1000, &got));
    ASSERT_STREQ(got.ref, "batch_00000000000000ab");
    sgw_idem_rec_clear(&got);
    /* the old layout: version 1, PENDING, status 0, created 1000, expires
     * 5000, then req_hash, tenant, app, body, headers only */
    unsigned char v[256], *p = v;
    *p++ = 1, *p++ = SGW_IDEM_PENDING;
    memset(p, 0, 4), p += 4;
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char)(i == 6 ? 0x03 : i == 7 ? 0xe8 : 0); /* 1000 */
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char)(i == 6 ? 0x13 : i == 7 ? 0x88 : 0); /* 5000 */
    const char *strs[5] = { c.req_hash, "tenant_000000000000000a", "app_0000000000000001", "",
                            "" };
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(strs[i]);
        p[0] = p[1] = p[2] = 0, p[3] = (unsigned char)n, p += 4;
        memcpy(p, strs[i], n), p += n;
    }
    char *err = NULL;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_put_cf(sgw_store_db_(s), wo, sgw_store_cf_idem_(s), "Kk2", 3, (const char *)v,
                   (size_t)(p - v), &err);
    rocksdb_writeoptions_destroy(wo);
    ASSERT_NULL(err);
    ASSERT_OK(sgw_store_idem_get(s, "k2", 1000, &got));
    ASSERT_EQ(got.state, SGW_IDEM_PENDING);
    ASSERT_EQ(got.expires_ms, 5000);
    ASSERT_STREQ(got.app, "app_0000000000000001");
    ASSERT_STREQ(got.ref, "");
    sgw_idem_rec_clear(&got);
    close_and_remove(&s);
}

SGW_TEST_LIST = {
    { "idem: a claim, then its answer, read back", test_claim_then_answer_round_trip },
    { "idem: ref round trip; records without ref still read", test_ref_round_trip_and_old_records },
    { "idem: a stored answer survives close and reopen", test_answer_survives_reopen },
    { "idem: an expired record is not returned", test_expired_is_not_returned },
    { "idem: delete (a 5xx answer) frees the key", test_delete_releases_the_key },
    { "idem: purge takes the oldest expired, at most max", test_purge_is_ordered_and_bounded },
    { "idem: purge spares a record renewed with a new expiry", test_purge_spares_a_renewed_record },
    { "idem: empty, oversized ids and bad states refused", test_bad_ids_refused },
    { "idem: an orphan claim of a send is resolved by its time window",
      test_orphan_claim_of_a_send },
    { "idem: an orphan claim of a batch is resolved by its commit", test_orphan_claim_of_a_batch },
    { 0 },
};
SGW_TEST_MAIN
