/* Sealing secrets at rest (store/secret.h) and connection documents
 * (store/store.h sgw_store_conn_*). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus/util.h"
#include "store/secret.h"
#include "store/store.h"
#include "tests/harness/sgw_test.h"

static const char *KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_seal_round_trip(void)
{
    sgw_secret_key k;
    ASSERT_OK(sgw_secret_key_parse(KEY_HEX, &k));
    char *sealed = NULL, *plain = NULL;
    ASSERT_OK(sgw_secret_seal(&k, "tenant_a/ringcentral", "{\"jwt\":\"eyJ...\"}", &sealed));
    ASSERT_TRUE(strstr(sealed, "eyJ") == NULL); /* not in clear */
    ASSERT_OK(sgw_secret_open(&k, "tenant_a/ringcentral", sealed, &plain));
    ASSERT_STREQ(plain, "{\"jwt\":\"eyJ...\"}");
    free(plain);
    /* another place, another key, a flipped byte: none opens */
    ASSERT_EQ(sgw_secret_open(&k, "tenant_b/ringcentral", sealed, &plain), SGW_EPROTO);
    sgw_secret_key k2 = k;
    k2.k[0] ^= 1;
    ASSERT_EQ(sgw_secret_open(&k2, "tenant_a/ringcentral", sealed, &plain), SGW_EPROTO);
    sealed[5] = sealed[5] == 'A' ? 'B' : 'A';
    ASSERT_EQ(sgw_secret_open(&k, "tenant_a/ringcentral", sealed, &plain), SGW_EPROTO);
    ASSERT_EQ(sgw_secret_open(&k, "tenant_a/ringcentral", "", &plain), SGW_EPROTO);
    ASSERT_EQ(sgw_secret_open(&k, "tenant_a/ringcentral", "abc", &plain), SGW_EPROTO);
    free(sealed);
    /* two seals of the same text differ (fresh nonce) */
    char *s1, *s2;
    ASSERT_OK(sgw_secret_seal(&k, "x", "same", &s1));
    ASSERT_OK(sgw_secret_seal(&k, "x", "same", &s2));
    ASSERT_TRUE(strcmp(s1, s2) != 0);
    free(s1);
    free(s2);
}

static void test_key_parse(void)
{
    sgw_secret_key k;
    ASSERT_EQ(sgw_secret_key_parse("abc", &k), SGW_EINVAL);
    char bad[65];
    memcpy(bad, KEY_HEX, 65);
    bad[10] = 'g';
    ASSERT_EQ(sgw_secret_key_parse(bad, &k), SGW_EINVAL);
    ASSERT_OK(sgw_secret_key_parse(KEY_HEX, &k));
    ASSERT_EQ(k.k[31], 0x1f);
}

static void test_conn_documents(void)
{
    char dir[] = "/tmp/sgw-secret-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    sgw_cfg *cfg = NULL;
    char why[256];
    ASSERT_OK(sgw_cfg_load_string("", "test", &cfg, why, sizeof why));
    sgw_store *s = NULL;
    ASSERT_OK(sgw_store_open(dir, cfg, &s, why, sizeof why));
    ASSERT_OK(sgw_store_conn_put(s, "tenant_1", "ringcentral", "{\"clientId\":\"cid\"}",
                                 "{\"clientSecret\":\"shh\",\"jwt\":\"j.w.t\"}"));
    char *acct = NULL, *pub = NULL;
    int64_t v = 0;
    ASSERT_OK(sgw_store_conn_account(s, "tenant_1", "ringcentral", &acct, &v));
    ASSERT_TRUE(v > 0);
    ASSERT_TRUE(strstr(acct, "\"clientSecret\":\"shh\"") != NULL);
    ASSERT_TRUE(strstr(acct, "\"clientId\":\"cid\"") != NULL);
    free(acct);
    ASSERT_OK(sgw_store_conn_get(s, "tenant_1", "ringcentral", &pub, NULL, NULL));
    ASSERT_TRUE(strstr(pub, "shh") == NULL);
    free(pub);
    /* the raw document holds no secret in clear */
    char *raw = NULL;
    ASSERT_OK(sgw_store_doc_get(s, SGW_DOC_CONN, "tenant_1/ringcentral", &raw));
    ASSERT_TRUE(strstr(raw, "shh") == NULL && strstr(raw, "j.w.t") == NULL);
    free(raw);
    ASSERT_EQ(sgw_store_conn_account(s, "tenant_2", "ringcentral", &acct, &v), SGW_ENOENT);
    ASSERT_OK(sgw_store_conn_delete(s, "tenant_1", "ringcentral"));
    ASSERT_EQ(sgw_store_conn_get(s, "tenant_1", "ringcentral", &pub, NULL, NULL), SGW_ENOENT);
    sgw_store_close(&s);
    /* the key was created in the data folder, private */
    char path[512];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    sgw_cfg_destroy(&cfg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_OK(system(cmd));
}

SGW_TEST_LIST = {
    { "seal and open; another aad, key or byte does not open", test_seal_round_trip },
    { "keys are 64 hex digits", test_key_parse },
    { "connection documents: secrets sealed, merged for adapters", test_conn_documents },
    { 0 },
};
SGW_TEST_MAIN
