/* Encoding and segment counts (GSM 03.38 / UCS-2), code points, UTF-8. */
#include <string.h>

#include "actors/sms/text.h"
#include "tests/harness/sgw_test.h"

static sgw_text_info info(const char *s)
{
    sgw_text_info ti = { 0 };
    if (sgw_text_analyze(s, strlen(s), &ti) != SGW_OK)
        ti.segments = -1;
    return ti;
}

static char buf[16384];

static const char *rep(const char *unit, int n)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        strcat(buf, unit);
    return buf;
}

static void test_gsm_boundaries(void)
{
    ASSERT_EQ(info(rep("a", 160)).segments, 1);
    ASSERT_EQ(info(rep("a", 161)).segments, 2);
    ASSERT_EQ(info(rep("a", 306)).segments, 2);
    ASSERT_EQ(info(rep("a", 307)).segments, 3);
    sgw_text_info ti = info(rep("a", 160));
    ASSERT_EQ(ti.encoding, SGW_ENC_GSM7);
    ASSERT_EQ(ti.units, 160);
    ASSERT_STREQ(sgw_encoding_name(ti.encoding), "GSM7");
}

static void test_gsm_extension_counts_twice(void)
{
    ASSERT_EQ(info(rep("\xe2\x82\xac", 80)).units, 160);   /* euro sign */
    ASSERT_EQ(info(rep("\xe2\x82\xac", 80)).segments, 1);
    ASSERT_EQ(info(rep("\xe2\x82\xac", 81)).segments, 2);
    ASSERT_EQ(info("{}[]~|^\\").units, 16);
    ASSERT_EQ(info("{}[]~|^\\").encoding, SGW_ENC_GSM7);
    /* 152 'a' then '{': the escape pair does not fit in segment 1 (153) */
    char s[400];
    strcpy(s, rep("a", 152));
    strcat(s, "{");
    strcat(s, rep("a", 8));
    sgw_text_info ti = info(s); /* 162 septets */
    ASSERT_EQ(ti.units, 162);
    ASSERT_EQ(ti.segments, 2);
    strcpy(s, rep("a", 152));
    strcat(s, "{");
    strcat(s, rep("a", 152)); /* 152 | 2+152 = 154 > 153 -> 3 segments */
    ASSERT_EQ(info(s).segments, 3);
}

static void test_gsm_basic_latin_and_greek(void)
{
    sgw_text_info ti = info("@\xc2\xa3$\xc2\xa5\xc3\xa8\xc3\xa9 \xce\x94\xce\xa9 \xc3\x9c\xc3\xa0");
    ASSERT_EQ(ti.encoding, SGW_ENC_GSM7);
    ASSERT_EQ(ti.units, ti.code_points);
    ASSERT_EQ(info("`").encoding, SGW_ENC_UCS2); /* backtick is not in GSM 03.38 */
    ASSERT_EQ(info("\xc3\xa1").encoding, SGW_ENC_UCS2); /* a-acute is not either */
}

static void test_ucs2(void)
{
    ASSERT_EQ(info(rep("\xd0\x96", 70)).segments, 1); /* Cyrillic */
    ASSERT_EQ(info(rep("\xd0\x96", 71)).segments, 2);
    ASSERT_EQ(info(rep("\xd0\x96", 134)).segments, 2);
    ASSERT_EQ(info(rep("\xd0\x96", 135)).segments, 3);
    sgw_text_info ti = info("hi \xf0\x9f\x98\x80"); /* emoji: 2 UTF-16 units, 1 code point */
    ASSERT_EQ(ti.encoding, SGW_ENC_UCS2);
    ASSERT_EQ(ti.code_points, 4);
    ASSERT_EQ(ti.units, 5);
    ASSERT_EQ(info(rep("\xf0\x9f\x98\x80", 35)).segments, 1);  /* 70 units */
    ASSERT_EQ(info(rep("\xf0\x9f\x98\x80", 36)).segments, 2);  /* 72 */
    /* 66 units then a pair: it does not fit in 67 -> next segment */
    char s[600];
    strcpy(s, rep("\xd0\x96", 66));
    strcat(s, "\xf0\x9f\x98\x80");
    strcat(s, "\xd0\x96");
    ASSERT_EQ(info(s).units, 69);
    ASSERT_EQ(info(s).segments, 1);
    strcpy(s, rep("\xd0\x96", 66));
    strcat(s, "\xf0\x9f\x98\x80");
    strcat(s, rep("\xd0\x96", 5)); /* 73 units: 66 | 2 + 5 */
    ASSERT_EQ(info(s).segments, 2);
    ASSERT_STREQ(sgw_encoding_name(SGW_ENC_UCS2), "UCS2");
}

static void test_limits_and_empty(void)
{
    ASSERT_EQ(info(rep("\xc3\xa9", 1600)).code_points, 1600);
    ASSERT_EQ(info(rep("\xc3\xa9", 1600)).segments, 11);
    ASSERT_EQ(info("").segments, 0);
    ASSERT_EQ(info("").code_points, 0);
}

static void test_invalid_utf8(void)
{
    static const char *const bad[] = {
        "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xe2\x82", "\x80", "a\xc3", NULL,
    };
    sgw_text_info ti;
    for (int i = 0; bad[i]; i++)
        ASSERT_EQ(sgw_text_analyze(bad[i], strlen(bad[i]), &ti), SGW_EINVAL);
}

SGW_TEST_LIST = {
    { "GSM-7 160/161 and 153-septet segments", test_gsm_boundaries },
    { "GSM-7 extension characters count twice, escapes not split", test_gsm_extension_counts_twice },
    { "GSM-7 basic set includes Latin-1 and Greek letters", test_gsm_basic_latin_and_greek },
    { "UCS-2 70/67, surrogate pairs count two and are not split", test_ucs2 },
    { "1600 code points; empty text", test_limits_and_empty },
    { "invalid UTF-8 is refused", test_invalid_utf8 },
    { NULL, NULL },
};
SGW_TEST_MAIN
