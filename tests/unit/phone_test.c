/* E.164 numbers, sender IDs and countries. */
#include <stddef.h>

#include "actors/sms/phone.h"
#include "tests/harness/sgw_test.h"

static void test_e164(void)
{
    ASSERT_TRUE(sgw_phone_is_e164("+15551234567"));
    ASSERT_TRUE(sgw_phone_is_e164("+442071234567"));
    ASSERT_TRUE(sgw_phone_is_e164("+61412345678"));
    ASSERT_TRUE(sgw_phone_is_e164("+12345678"));          /* 8 digits */
    ASSERT_TRUE(sgw_phone_is_e164("+123456789012345"));   /* 15 */
    ASSERT_FALSE(sgw_phone_is_e164("+1234567"));          /* 7 */
    ASSERT_FALSE(sgw_phone_is_e164("+1234567890123456")); /* 16 */
    ASSERT_FALSE(sgw_phone_is_e164("+0123456789"));
    ASSERT_FALSE(sgw_phone_is_e164("15551234567"));
    ASSERT_FALSE(sgw_phone_is_e164("+1555123456a"));
    ASSERT_FALSE(sgw_phone_is_e164("+1 5551234567"));
    ASSERT_FALSE(sgw_phone_is_e164(""));
    ASSERT_FALSE(sgw_phone_is_e164("+"));
    ASSERT_FALSE(sgw_phone_is_e164(NULL));
}

static void test_sender_ids(void)
{
    ASSERT_TRUE(sgw_sender_id_valid("ACME"));
    ASSERT_TRUE(sgw_sender_id_valid("Acme Bank 1"));  /* 11 */
    ASSERT_FALSE(sgw_sender_id_valid("Acme Bank 12")); /* 12 */
    ASSERT_FALSE(sgw_sender_id_valid("12345"));        /* no letter */
    ASSERT_FALSE(sgw_sender_id_valid("AC-ME"));
    ASSERT_FALSE(sgw_sender_id_valid(""));
    ASSERT_FALSE(sgw_sender_id_valid(NULL));
}

static void test_countries(void)
{
    ASSERT_STREQ(sgw_phone_country("+14155550100"), "US");
    ASSERT_STREQ(sgw_phone_country("+14165550100"), "CA");
    ASSERT_STREQ(sgw_phone_country("+18765550100"), "JM");
    ASSERT_STREQ(sgw_phone_country("+442071234567"), "GB");
    ASSERT_STREQ(sgw_phone_country("+2348031234567"), "NG");
    ASSERT_STREQ(sgw_phone_country("+233241234567"), "GH");
    ASSERT_STREQ(sgw_phone_country("+254712345678"), "KE");
    ASSERT_STREQ(sgw_phone_country("+2250712345678"), "CI");
    ASSERT_STREQ(sgw_phone_country("+61412345678"), "AU");
    ASSERT_STREQ(sgw_phone_country("+77011234567"), "KZ");
    ASSERT_STREQ(sgw_phone_country("+79161234567"), "RU");
    ASSERT_STREQ(sgw_phone_country("+27821234567"), "ZA");
    ASSERT_NULL(sgw_phone_country("+80012345678"));  /* no country */
    ASSERT_NULL(sgw_phone_country("not a number"));
    ASSERT_TRUE(sgw_country_valid("NG"));
    ASSERT_TRUE(sgw_country_valid("CA"));
    ASSERT_FALSE(sgw_country_valid("ng"));
    ASSERT_FALSE(sgw_country_valid("XX"));
    ASSERT_FALSE(sgw_country_valid("USA"));
    ASSERT_STREQ(sgw_country_calling_code("GH"), "233");
    ASSERT_STREQ(sgw_country_calling_code("CA"), "1");
    ASSERT_STREQ(sgw_country_calling_code("KZ"), "7"); /* not "76": found by sms_fuzz */
    ASSERT_STREQ(sgw_country_calling_code("RU"), "7");
}

SGW_TEST_LIST = {
    { "E.164: + and 8-15 digits, first not 0", test_e164 },
    { "sender IDs: 1-11 alphanumerics and spaces, a letter", test_sender_ids },
    { "countries from calling codes, NANP and +7 exceptions", test_countries },
    { NULL, NULL },
};
SGW_TEST_MAIN
