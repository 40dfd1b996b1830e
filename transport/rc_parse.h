/*
 * transport/rc_parse.h — RingCentral's answers, read (transport/README.md
 * gives their shapes and sources). Pure functions over the body text of an
 * answer: transport/ringcentral.c calls them, tests/fuzz/rc_fuzz.c feeds
 * them anything. Thread-safe.
 */
#ifndef SGW_RC_PARSE_H
#define SGW_RC_PARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A number's features that matter (README section 2). */
enum { SGW_RC_FEAT_SMS = 1, SGW_RC_FEAT_A2P = 2 };

/* An error body (README 5.1 and 1.4): code is the first non-empty of
 * errorCode, errors[0].errorCode, error; msg of message, errors[0].message,
 * error_description; code "" and msg "no error message" when there is
 * none. body may be NULL. (README 5.1's rule puts errors[0] first; the two
 * differ only when RingCentral's top-level code is a word like
 * TokenInvalid.) */
void sgw_rc_error_text(const char *body, char *code, size_t codesz, char *msg, size_t msgsz);

/* now_ms + ttl_s seconds, for the lifetimes RingCentral gives (expires_in,
 * refresh_token_expires_in): 0 when ttl_s <= 0, and at most a year ahead
 * (an absurd lifetime must not overflow: found by tests/fuzz/rc_fuzz.c). */
#define SGW_RC_TTL_MAX_S (366LL * 24 * 3600)
int64_t sgw_rc_expiry_ms(int64_t now_ms, int64_t ttl_s);

/* A 200 from the token endpoint (README 1.1), received at now_ms. */
typedef struct sgw_rc_token {
    char *access;           /* heap, NULL when missing: wipe and free */
    char *refresh;          /* heap or NULL: wipe and free */
    int64_t exp_ms;         /* when access expires */
    int64_t refresh_exp_ms; /* when refresh expires, 0 if not said */
    int has_owner;          /* owner_id was a string or an integer */
    char owner[24];
} sgw_rc_token;
/* 1 when the answer carries an access token with a positive lifetime (its
 * fields are then filled), else 0 (only has_owner/owner may be). t is
 * overwritten; sgw_rc_token_wipe() it after, in both cases. */
int sgw_rc_token_parse(const char *body, int64_t now_ms, sgw_rc_token *t);
void sgw_rc_token_wipe(sgw_rc_token *t);

/* The SGW_RC_FEAT_* of a record's features array. */
unsigned sgw_rc_features(const json_t *arr);

/* One page of a phone-number list (README section 2): fn gets each record
 * that has a phoneNumber and an owning extension id (string or integer),
 * with its features (SGW_RC_FEAT_*; SGW_RC_FEAT_SMS when the record lists
 * none); fn returns 0 to stop. Returns paging.totalPages (0 if absent). */
typedef int (*sgw_rc_number_fn)(void *ctx, const char *phone, const char *ext,
                                unsigned features);
int64_t sgw_rc_numbers_page(const char *body, sgw_rc_number_fn fn, void *ctx);

/* The message id of a send's answer (README section 3: a number, or a
 * string), as text; "" when there is none. */
void sgw_rc_message_id(const char *body, char pmid[64]);

/* A message-store record (README section 4): 1 Delivered, -1 failed
 * (DeliveryFailed / SendingFailed; why gets "RingCentral reports <status>
 * [: <deliveryErrorCode>]"), 0 not final or not a record. */
int sgw_rc_message_status(const char *body, char *why, size_t whysz);

#endif
