/* The bus envelope: round trips, unknown keys ignored, required keys enforced. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "bus/msg.h"
#include "tests/harness/sgw_test.h"

static void test_roundtrip(void)
{
    sgw_msg m, d;
    sgw_msg_init(&m, SGW_MSG_DISPATCH, "msg_0123456789ab");
    strcpy(m.tenant, "tenant_0123456789abcdef");
    strcpy(m.app, "app_0123456789abcdef");
    m.attempt = 3;
    m.code = 202;
    m.flags = 5;
    m.created_ms = 1700000000123;
    m.sent_ms = 1700000000456;
    m.due_ms = -1;
    m.body = "hello\0world";
    m.body_len = 11;
    m.reply = "\x01\x02";
    m.reply_len = 2;
    void *buf;
    size_t len;
    ASSERT_OK(sgw_msg_encode(&m, &buf, &len));
    ASSERT_OK(sgw_msg_decode(buf, len, &d));
    ASSERT_EQ(d.type, SGW_MSG_DISPATCH);
    ASSERT_STREQ(d.id, "msg_0123456789ab");
    ASSERT_STREQ(d.tenant, m.tenant);
    ASSERT_STREQ(d.app, m.app);
    ASSERT_EQ(d.attempt, 3);
    ASSERT_EQ(d.code, 202);
    ASSERT_EQ(d.flags, 5);
    ASSERT_EQ(d.created_ms, 1700000000123);
    ASSERT_EQ(d.sent_ms, 1700000000456);
    ASSERT_EQ(d.due_ms, -1);
    ASSERT_EQ(d.body_len, 11);
    ASSERT_TRUE(memcmp(d.body, "hello\0world", 11) == 0);
    ASSERT_EQ(d.reply_len, 2);
    /* body points into the buffer, not a copy */
    ASSERT_TRUE((const char *)d.body > (const char *)buf &&
                (const char *)d.body < (const char *)buf + len);
    free(buf);
}

/* Build a map by hand: keys/values given as alternating (key, type, value). */
static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
    msgpack_pack_str(pk, strlen(v));
    msgpack_pack_str_body(pk, v, strlen(v));
}
static void pack_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
    msgpack_pack_int64(pk, v);
}

static void test_unknown_keys_ignored(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pack_kv_int(&pk, "v", 1);
    pack_kv_str(&pk, "type", "sms_check");
    pack_kv_str(&pk, "id", "msg_aaaaaaaaaaaa");
    pack_kv_int(&pk, "created_ms", 42);
    pack_kv_str(&pk, "from_the_future", "ignored");
    pack_kv_int(&pk, "another", 7);
    sgw_msg d;
    ASSERT_OK(sgw_msg_decode(sb.data, sb.size, &d));
    ASSERT_EQ(d.type, SGW_MSG_CHECK);
    ASSERT_EQ(d.created_ms, 42);
    ASSERT_NULL(d.body);
    msgpack_sbuffer_destroy(&sb);
}

static void test_missing_required_rejected(void)
{
    static const char *const keys[] = { "v", "type", "id", "created_ms" };
    for (int skip = 0; skip < 4; skip++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        for (int k = 0; k < 4; k++) {
            if (k == skip)
                continue;
            if (strcmp(keys[k], "v") == 0)
                pack_kv_int(&pk, "v", 1);
            else if (strcmp(keys[k], "created_ms") == 0)
                pack_kv_int(&pk, "created_ms", 1);
            else if (strcmp(keys[k], "type") == 0)
                pack_kv_str(&pk, "type", "sms_submit");
            else
                pack_kv_str(&pk, "id", "x");
        }
        sgw_msg d;
        ASSERT_EQ(sgw_msg_decode(sb.data, sb.size, &d), SGW_EPROTO);
        msgpack_sbuffer_destroy(&sb);
    }
}

static void test_bad_input_rejected(void)
{
    sgw_msg d;
    ASSERT_EQ(sgw_msg_decode("", 0, &d), SGW_EPROTO);
    ASSERT_EQ(sgw_msg_decode("\xc1", 1, &d), SGW_EPROTO);       /* never-used byte */
    ASSERT_EQ(sgw_msg_decode("\x93\x01\x02\x03", 4, &d), SGW_EPROTO); /* an array */
    /* wrong version, unknown type, wrong value types */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    for (int variant = 0; variant < 4; variant++) {
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4);
        pack_kv_int(&pk, "v", variant == 0 ? 2 : 1);
        pack_kv_str(&pk, "type", variant == 1 ? "no_such_type" : "sms_submit");
        if (variant == 2)
            pack_kv_int(&pk, "id", 5);
        else
            pack_kv_str(&pk, "id", "x");
        if (variant == 3)
            pack_kv_str(&pk, "created_ms", "yesterday");
        else
            pack_kv_int(&pk, "created_ms", 1);
        ASSERT_EQ(sgw_msg_decode(sb.data, sb.size, &d), SGW_EPROTO);
        msgpack_sbuffer_destroy(&sb);
    }
    /* trailing bytes after the map */
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_EVENT, "x");
    m.created_ms = 1;
    void *buf;
    size_t len;
    ASSERT_OK(sgw_msg_encode(&m, &buf, &len));
    char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    ASSERT_EQ(sgw_msg_decode(longer, len + 1, &d), SGW_EPROTO);
    /* every truncation is rejected, never read past the end */
    for (size_t cut = 0; cut < len; cut++)
        ASSERT_EQ(sgw_msg_decode(buf, cut, &d), SGW_EPROTO);
    free(longer);
    free(buf);
}

/* Containers that announce more elements than bytes follow are refused
 * before msgpack-c allocates them (found by tests/fuzz/msg_fuzz.c). */
static void test_plausible(void)
{
    static const unsigned char huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    static const unsigned char huge_map[] = { 0x81, 0xa1, 'k', 0xdf, 0x7f, 0xff, 0xff, 0xff };
    sgw_msg d;
    ASSERT_FALSE(sgw_msgpack_plausible(huge, sizeof huge));
    ASSERT_FALSE(sgw_msgpack_plausible(huge_map, sizeof huge_map));
    ASSERT_EQ(sgw_msg_decode(huge, sizeof huge, &d), SGW_EPROTO);
    static const unsigned char ok[] = { 0x93, 0xc0, 0xd4, 0x01, 0x02, 0x92, 0xa1, 'x', 0xcb,
                                        0, 0, 0, 0, 0, 0, 0, 0 };
    ASSERT_TRUE(sgw_msgpack_plausible(ok, sizeof ok));
    for (size_t cut = 0; cut < sizeof ok; cut++)
        ASSERT_FALSE(sgw_msgpack_plausible(ok, cut));
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_REPLY, "req_1");
    m.body = "{}";
    m.body_len = 2;
    void *buf;
    size_t len;
    ASSERT_OK(sgw_msg_encode(&m, &buf, &len));
    ASSERT_TRUE(sgw_msgpack_plausible(buf, len));
    free(buf);
}

static void test_type_names(void)
{
    ASSERT_STREQ(sgw_msg_type_name(SGW_MSG_SUBMIT), "sms_submit");
    ASSERT_STREQ(sgw_msg_type_name(SGW_MSG_TYPE_MAX), "?");
}

SGW_TEST_LIST = {
    { "envelope round trip keeps every field, body borrowed", test_roundtrip },
    { "envelope ignores unknown keys", test_unknown_keys_ignored },
    { "envelope rejects a missing required key", test_missing_required_rejected },
    { "envelope rejects malformed, wrong-typed and truncated input", test_bad_input_rejected },
    { "containers larger than the input are refused before allocation", test_plausible },
    { "message type names", test_type_names },
    { NULL, NULL },
};
SGW_TEST_MAIN
