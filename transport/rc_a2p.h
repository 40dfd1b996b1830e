/*
 * transport/rc_a2p.h — RingCentral's High Volume (A2P) answers, and the
 * message-store search that resolves a send whose answer was lost, read
 * (transport/README.md sections 4, 7.7 and 8). Pure functions over the body
 * text of an answer, for transport/ringcentral.c. Thread-safe.
 */
#ifndef SGW_RC_A2P_H
#define SGW_RC_A2P_H

#include <stddef.h>
#include <stdint.h>

/* A2P message statuses (README section 8; the same words as an SMS). */
enum {
    SGW_A2P_UNKNOWN = -1,
    SGW_A2P_QUEUED = 0,
    SGW_A2P_SENT,
    SGW_A2P_DELIVERED,
    SGW_A2P_DELIVERY_FAILED,
    SGW_A2P_SENDING_FAILED,
};

/* A batch record (the POST answer, GET batches/{id}, a batches list
 * record): 1 with its fields when it has an id, else 0. */
typedef struct sgw_rc_a2p_batch {
    char id[64];
    char from[24];
    int64_t size, processed;
    int completed;          /* status Completed */
    int64_t created_ms;     /* creationTime, 0 if unreadable */
} sgw_rc_a2p_batch;
int sgw_rc_a2p_batch_parse(const char *body, sgw_rc_a2p_batch *b);

/* The rejected[] of a POST answer: fn gets each entry (index as given:
 * 1-based; -1 when missing); returns how many were seen. */
typedef void (*sgw_rc_a2p_rejected_fn)(void *ctx, int64_t index, const char *to,
                                       const char *code, const char *description);
int sgw_rc_a2p_rejected(const char *body, sgw_rc_a2p_rejected_fn fn, void *ctx);

/* A message record (list record or GET messages/{id}). text is NULL when
 * the view has none. */
typedef struct sgw_rc_a2p_msg {
    const char *id, *batch, *from, *to, *text, *error_code;
    int status;             /* SGW_A2P_* */
} sgw_rc_a2p_msg;
int sgw_rc_a2p_status(const char *word);
/* GET messages/{id}: 1 with *m filled (pointers into a copy kept in
 * *keep: json_decref it after), else 0. */
int sgw_rc_a2p_message_parse(const char *body, sgw_rc_a2p_msg *m, void **keep);
void sgw_rc_a2p_release(void *keep);

/* A page of a list (messages, or batches with batches set): fn / bfn gets
 * each record; next gets paging.nextPageToken ("" when it is the last
 * page). Returns the records seen, or -1 when the body is not a list. */
typedef void (*sgw_rc_a2p_msg_fn)(void *ctx, const sgw_rc_a2p_msg *m);
int sgw_rc_a2p_messages_page(const char *body, sgw_rc_a2p_msg_fn fn, void *ctx, char *next,
                             size_t nextsz);
typedef void (*sgw_rc_a2p_batch_fn)(void *ctx, const sgw_rc_a2p_batch *b);
int sgw_rc_a2p_batches_page(const char *body, sgw_rc_a2p_batch_fn fn, void *ctx, char *next,
                            size_t nextsz);

/* A message-store list (README 7.7): the id of the OLDEST outbound record
 * from `from` to `to` with subject `text` (the list is newest first) whose
 * creationTime is not before not_before_ms, into pmid; 1 found, 0 not
 * found, -1 not a list. */
int sgw_rc_find_sent(const char *body, const char *from, const char *to, const char *text,
                     int64_t not_before_ms, char pmid[64]);

/* A page of the extension's phone numbers (GET .../extension/~/phone-number,
 * README section 2: the list that has features): fn gets each number with
 * a features array (SGW_RC_FEAT_*). Returns paging.totalPages (0 if
 * absent), -1 when the body is not a list. */
typedef void (*sgw_rc_feature_fn)(void *ctx, const char *phone, unsigned features);
int64_t sgw_rc_features_page(const char *body, sgw_rc_feature_fn fn, void *ctx);

#endif
