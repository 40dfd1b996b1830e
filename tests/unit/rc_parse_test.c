/* RingCentral's answers as the adapter reads them (transport/rc_parse.c). */
#include <stdlib.h>
#include <string.h>

#include "tests/harness/sgw_test.h"
#include "transport/rc_parse.h"

static void test_error_text(void)
{
    char code[64], msg[200];
    sgw_rc_error_text("{\"errorCode\":\"CMN-301\",\"message\":\"Request rate exceeded\","
                      "\"errors\":[{\"errorCode\":\"CMN-301\",\"message\":\"x\"}]}",
                      code, sizeof code, msg, sizeof msg);
    ASSERT_STREQ(code, "CMN-301");
    ASSERT_STREQ(msg, "Request rate exceeded");
    sgw_rc_error_text("{\"error\":\"invalid_grant\",\"error_description\":\"Token expired\","
                      "\"errors\":[{\"errorCode\":\"OAU-210\",\"message\":\"\"}]}",
                      code, sizeof code, msg, sizeof msg);
    ASSERT_STREQ(code, "OAU-210");
    ASSERT_STREQ(msg, "Token expired"); /* an empty message is none */
    sgw_rc_error_text("<html>502</html>", code, sizeof code, msg, sizeof msg);
    ASSERT_STREQ(code, "");
    ASSERT_STREQ(msg, "no error message");
    sgw_rc_error_text(NULL, code, sizeof code, msg, sizeof msg);
    ASSERT_STREQ(msg, "no error message");
}

static void test_token(void)
{
    sgw_rc_token t;
    const int64_t now = 1795500000000LL;
    ASSERT_TRUE(sgw_rc_token_parse("{\"access_token\":\"a\",\"expires_in\":3600,"
                                   "\"refresh_token\":\"r\",\"refresh_token_expires_in\":604800,"
                                   "\"owner_id\":256440016}", now, &t));
    ASSERT_STREQ(t.access, "a");
    ASSERT_STREQ(t.refresh, "r");
    ASSERT_EQ(t.exp_ms, now + 3600000);
    ASSERT_EQ(t.refresh_exp_ms, now + 604800000);
    ASSERT_STREQ(t.owner, "256440016");
    sgw_rc_token_wipe(&t);
    ASSERT_TRUE(t.access == NULL && t.refresh == NULL);
    /* an absurd lifetime is capped, not overflowed (found by rc_fuzz) */
    ASSERT_TRUE(sgw_rc_token_parse("{\"access_token\":\"a\",\"expires_in\":9223372036854775807}",
                                   now, &t));
    ASSERT_EQ(t.exp_ms, now + SGW_RC_TTL_MAX_S * 1000);
    ASSERT_EQ(t.refresh_exp_ms, 0);
    sgw_rc_token_wipe(&t);
    ASSERT_FALSE(sgw_rc_token_parse("{\"access_token\":\"a\",\"owner_id\":\"7\"}", now, &t));
    ASSERT_TRUE(t.access == NULL && t.has_owner);
    ASSERT_STREQ(t.owner, "7");
    sgw_rc_token_wipe(&t);
    ASSERT_EQ(sgw_rc_expiry_ms(now, 0), 0);
    ASSERT_EQ(sgw_rc_expiry_ms(now, -5), 0);
}

static int got;
static char phones[4][24];
static unsigned feats[4];

static int add(void *ctx, const char *phone, const char *ext, unsigned f)
{
    (void)ctx;
    (void)ext;
    if (got < 4) {
        snprintf(phones[got], sizeof phones[got], "%s", phone);
        feats[got] = f;
    }
    got++;
    return 1;
}

static void test_numbers_and_messages(void)
{
    got = 0;
    int64_t pages = sgw_rc_numbers_page(
        "{\"records\":[{\"phoneNumber\":\"+16505550100\",\"extension\":{\"id\":222},"
        "\"features\":[\"SmsSender\",\"A2PSmsSender\"]},"
        "{\"phoneNumber\":\"+16505550101\"},"
        "{\"phoneNumber\":\"+16505550102\",\"extension\":{\"id\":\"333\"}}],"
        "\"paging\":{\"totalPages\":3}}",
        add, NULL);
    ASSERT_EQ(pages, 3);
    ASSERT_EQ(got, 2); /* the number no extension owns is left out */
    ASSERT_STREQ(phones[0], "+16505550100");
    ASSERT_EQ(feats[0], SGW_RC_FEAT_SMS | SGW_RC_FEAT_A2P);
    ASSERT_EQ(feats[1], SGW_RC_FEAT_SMS); /* none listed: left to RingCentral */
    char pmid[64], why[160];
    sgw_rc_message_id("{\"id\":320270670010,\"messageStatus\":\"Queued\"}", pmid);
    ASSERT_STREQ(pmid, "320270670010");
    sgw_rc_message_id("{\"id\":\"606090030016\"}", pmid);
    ASSERT_STREQ(pmid, "606090030016");
    sgw_rc_message_id("[]", pmid);
    ASSERT_STREQ(pmid, "");
    ASSERT_EQ(sgw_rc_message_status("{\"messageStatus\":\"Delivered\"}", why, sizeof why), 1);
    ASSERT_EQ(sgw_rc_message_status("{\"messageStatus\":\"DeliveryFailed\","
                                    "\"deliveryErrorCode\":\"SMS-CAR-411\"}", why, sizeof why), -1);
    ASSERT_STREQ(why, "RingCentral reports DeliveryFailed: SMS-CAR-411");
    ASSERT_EQ(sgw_rc_message_status("{\"messageStatus\":\"Sent\"}", why, sizeof why), 0);
}

SGW_TEST_LIST = {
    { "error text: top level, then errors[0], then OAuth; empty is none", test_error_text },
    { "token answer: fields, capped lifetimes, owner without a token", test_token },
    { "phone-number pages, message ids and message-store statuses", test_numbers_and_messages },
    { NULL, NULL },
};
SGW_TEST_MAIN
