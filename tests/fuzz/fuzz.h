/*
 * tests/fuzz/fuzz.h — what the libFuzzer targets share.
 *
 * A target is tests/fuzz/<name>_fuzz.c defining LLVMFuzzerTestOneInput; it
 * is built only with -DSGW_FUZZ=ON (clang) and links the whole sgw library,
 * itself built with coverage, ASan and UBSan. Besides crashes, a target
 * checks properties of what the code under test answers (round trips,
 * bounds) with FUZZ_CHECK, which aborts with the failed condition: libFuzzer
 * then saves the input as crash-<sha1>.
 */
#ifndef SGW_FUZZ_H
#define SGW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
