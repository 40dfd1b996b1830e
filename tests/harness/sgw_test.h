/*
 * sgw_test.h — the in-house unit test harness.
 *
 * A test file lists its cases in one table and ends with SGW_TEST_MAIN:
 *
 *     static void test_e164_rejects_leading_zero(void) { ASSERT_FALSE(...); }
 *     SGW_TEST_LIST = { { "e164 rejects a leading zero", test_e164_... }, { 0 } };
 *     SGW_TEST_MAIN
 *
 * A failed assertion prints file, line, the expression and both values,
 * then marks the case failed and returns from it. main() runs every case
 * (or those whose name contains argv[1]), prints one line per case and the
 * closing line "N passed, N failed", and exits non-zero on any failure.
 */
#ifndef SGW_TEST_H
#define SGW_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sgw_test_case {
    const char *name;
    void (*fn)(void);
};

extern int sgw_test_failed_;

#define SGW_TEST_FAIL_(...)                                                   \
    do {                                                                      \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                     \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        sgw_test_failed_ = 1;                                                 \
        return;                                                               \
    } while (0)

#define ASSERT_TRUE(e)                                                        \
    do { if (!(e)) SGW_TEST_FAIL_("expected true: %s", #e); } while (0)
#define ASSERT_FALSE(e)                                                       \
    do { if (e) SGW_TEST_FAIL_("expected false: %s", #e); } while (0)
#define ASSERT_EQ(a, b)                                                       \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_)                                                         \
            SGW_TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);         \
    } while (0)
#define ASSERT_NE(a, b)                                                       \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ == b_)                                                         \
            SGW_TEST_FAIL_("%s != %s: both %lld", #a, #b, a_);                \
    } while (0)
#define ASSERT_OK(e) ASSERT_EQ((e), 0)
#define ASSERT_STREQ(a, b)                                                    \
    do {                                                                      \
        const char *a_ = (a), *b_ = (b);                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                \
            SGW_TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b,              \
                           a_ ? a_ : "(null)", b_ ? b_ : "(null)");           \
    } while (0)
#define ASSERT_NULL(e)                                                        \
    do { if ((e) != NULL) SGW_TEST_FAIL_("expected NULL: %s", #e); } while (0)
#define ASSERT_NOT_NULL(e)                                                    \
    do { if ((e) == NULL) SGW_TEST_FAIL_("expected non-NULL: %s", #e); } while (0)

#define SGW_TEST_LIST static const struct sgw_test_case sgw_tests_[]

#define SGW_TEST_MAIN                                                         \
    int sgw_test_failed_;                                                     \
    int main(int argc, char **argv)                                           \
    {                                                                         \
        int passed = 0, failed = 0;                                           \
        for (const struct sgw_test_case *t = sgw_tests_; t->name; t++) {      \
            if (argc > 1 && !strstr(t->name, argv[1]))                        \
                continue;                                                     \
            sgw_test_failed_ = 0;                                             \
            t->fn();                                                          \
            printf("%s  %s\n", sgw_test_failed_ ? "FAIL" : "ok  ", t->name);  \
            if (sgw_test_failed_) failed++; else passed++;                    \
        }                                                                     \
        printf("%d passed, %d failed\n", passed, failed);                     \
        return failed || !passed ? 1 : 0;                                     \
    }

#endif
