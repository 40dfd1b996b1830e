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

/* For targets that keep a real store in a temporary folder (send, batch):
 * open one (store.sync "none") in a new folder named in dir (who: the
 * target, for the folder's name and the log), or abort (removed at exit
 * with sgw_tmpstore_remove); write one document or abort. */
#ifdef SGW_STORE_H
#include "tests/harness/tmpstore.h"

static inline void fuzz_store_open(char *dir, size_t dirsz, const char *who, sgw_cfg **cfg,
                                   sgw_store **st)
{
    if (!(*st = sgw_tmpstore_open(dir, dirsz, who, "none", cfg))) {
        fprintf(stderr, "%s: no store\n", who);
        abort();
    }
}

static inline void fuzz_put(sgw_store *s, sgw_doc_kind kind, const char *id, const char *json)
{
    sgw_doc_op op = { kind, id, json };
    if (sgw_store_docs_write(s, &op, 1) != SGW_OK)
        abort();
}

/* The tenant's sender IDs the send and batch targets try as "from": ACME
 * approved, Pending1 pending (a test key may use it), Nope rejected. */
static inline void fuzz_put_sender_ids(sgw_store *s, const char *tenant)
{
    static const char *const docs[3] = {
        "{\"senderId\":\"ACME\",\"status\":\"approved\"}",
        "{\"senderId\":\"Pending1\",\"status\":\"pending\"}",
        "{\"senderId\":\"Nope\",\"status\":\"rejected\"}",
    };
    for (int i = 0; i < 3; i++) {
        char id[96];
        snprintf(id, sizeof id, "%s/sid_%032d", tenant, i + 1);
        fuzz_put(s, SGW_DOC_SENDER_ID, id, docs[i]);
    }
}
#endif

#endif
