/* Configuration: defaults, overrides, and refusals with file/line/reason. */
#include <stdlib.h>
#include <string.h>

#include "bus/cfg.h"
#include "bus/util.h"
#include "tests/harness/sgw_test.h"

static void test_defaults(void)
{
    sgw_cfg *c;
    char why[256];
    unsetenv("SMSGW_LISTEN");
    ASSERT_OK(sgw_cfg_load(NULL, &c, why, sizeof why));
    ASSERT_STREQ(sgw_cfg_str(c, "store.sync"), "always");
    ASSERT_EQ(sgw_cfg_int(c, "limits.from_per_window"), 40);
    ASSERT_EQ(sgw_cfg_int(c, "http.max_body_bytes"), 102400);
    ASSERT_STREQ(sgw_cfg_str(c, "listen"), "127.0.0.1:8080");
    sgw_cfg_destroy(&c);
    ASSERT_NULL(c);
}

static void test_user_values_and_env(void)
{
    sgw_cfg *c;
    char why[256];
    setenv("SMSGW_LISTEN", "127.0.0.1:9999", 1);
    ASSERT_OK(sgw_cfg_load_string("store = { sync = \"none\"; };\nretry = { jitter = 1; };",
                                  "t.cfg", &c, why, sizeof why));
    ASSERT_STREQ(sgw_cfg_str(c, "store.sync"), "none");
    ASSERT_EQ(sgw_cfg_int(c, "store.sync_interval_ms"), 200); /* default kept */
    ASSERT_TRUE(sgw_cfg_float(c, "retry.jitter") == 1.0);     /* int accepted as float */
    ASSERT_STREQ(sgw_cfg_str(c, "listen"), "127.0.0.1:9999");
    sgw_cfg_destroy(&c);
    unsetenv("SMSGW_LISTEN");
}

static void refused(const char *text, const char *expect)
{
    sgw_cfg *c = NULL;
    char why[256] = "";
    ASSERT_EQ(sgw_cfg_load_string(text, "bad.cfg", &c, why, sizeof why), SGW_ECONFIG);
    ASSERT_NULL(c);
    if (!strstr(why, expect)) {
        fprintf(stderr, "  reason \"%s\" lacks \"%s\"\n", why, expect);
        sgw_test_failed_ = 1;
    }
}

static void test_refusals(void)
{
    refused("store = { sync = ", "bad.cfg:1:");                      /* syntax */
    refused("\n\nhttp = { threads = \"many\"; };", "bad.cfg:3: 'http.threads' must be an integer");
    refused("store = { sync = \"sometimes\"; };", "'store.sync' must be one of");
    refused("stroe = { sync = \"none\"; };", "unknown setting 'stroe'");
    refused("http = { thread = 4; };", "unknown setting 'http.thread'");
    refused("actors = { sender = { threads = 0; }; };", "'actors.sender.threads' must be greater than 0");
    refused("listen = \"8080\";", "'listen' must be host:port");
    refused("transport = { default_route = [ 1, 2 ]; };", "every element of 'transport.default_route' must be a string");
}

static void test_file_errors(void)
{
    sgw_cfg *c = NULL;
    char why[256];
    ASSERT_EQ(sgw_cfg_load("/nonexistent/smsgw.cfg", &c, why, sizeof why), SGW_ECONFIG);
    ASSERT_TRUE(strstr(why, "/nonexistent/smsgw.cfg") != NULL);
}

static void test_time_parse(void)
{
    int64_t ms;
    ASSERT_OK(sgw_time_parse("2026-03-01T10:00:00.000Z", &ms));
    ASSERT_EQ(ms, 1772359200000LL);
    ASSERT_OK(sgw_time_parse("2026-03-01T12:00:00+02:00", &ms));
    ASSERT_EQ(ms, 1772359200000LL);
    ASSERT_OK(sgw_time_parse("2024-02-29T00:00:00Z", &ms));
    ASSERT_EQ(sgw_time_parse("2023-02-29T00:00:00Z", &ms), SGW_EINVAL);
    ASSERT_EQ(sgw_time_parse("2026-03-01T10:00:00", &ms), SGW_EINVAL); /* no zone */
    ASSERT_EQ(sgw_time_parse("2026-13-01T10:00:00Z", &ms), SGW_EINVAL);
    ASSERT_EQ(sgw_time_parse("tomorrow", &ms), SGW_EINVAL);
    char out[32];
    sgw_time_format(out, 1772359200123LL);
    ASSERT_STREQ(out, "2026-03-01T10:00:00.123Z");
}

static void test_ids(void)
{
    char id[32];
    ASSERT_OK(sgw_random_id(id, sizeof id, "msg_", 12));
    ASSERT_TRUE(sgw_id_valid(id, "msg_", 12));
    ASSERT_FALSE(sgw_id_valid("msg_0123456789aB", "msg_", 12));
    ASSERT_FALSE(sgw_id_valid("msg_0123456789a", "msg_", 12));
    ASSERT_FALSE(sgw_id_valid("msg_0123456789abc", "msg_", 12));
    ASSERT_EQ(sgw_random_id(id, 8, "msg_", 12), SGW_EINVAL);
}

SGW_TEST_LIST = {
    { "config defaults come from etc/smsgw.cfg", test_defaults },
    { "config user values and environment override defaults", test_user_values_and_env },
    { "config refuses syntax, types, values and unknown settings", test_refusals },
    { "config names an unreadable file", test_file_errors },
    { "RFC 3339 parse and format", test_time_parse },
    { "random ids and id validation", test_ids },
    { NULL, NULL },
};
SGW_TEST_MAIN
