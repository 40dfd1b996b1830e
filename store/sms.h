/*
 * store/sms.h — the message record: what is stored for every SMS, outbound
 * and inbound, and how it is encoded (a msgpack array, versioned, fields in
 * a fixed order; a newer version may append fields, an older reader ignores
 * them).
 *
 * A record owns its heap parts (body, user_id, error, attempts, events);
 * sgw_sms_clear() frees them. Not thread-safe: one owner at a time.
 */
#ifndef SGW_STORE_SMS_H
#define SGW_STORE_SMS_H

#include <stddef.h>
#include <stdint.h>

#include "bus/err.h"

typedef enum {
    SGW_ST_SCHEDULED = 0,
    SGW_ST_QUEUED,
    SGW_ST_SENDING,
    SGW_ST_SENT,
    SGW_ST_DELIVERED,
    SGW_ST_FAILED,
    SGW_ST_REJECTED,
    SGW_ST_CANCELLED,
    SGW_ST_RECEIVED,
    SGW_ST_MAX
} sgw_status;

/* "scheduled" ... "received"; "?" out of range. */
const char *sgw_status_name(int st);
/* name -> status, or -1. */
int sgw_status_parse(const char *name);
/* delivered, failed, rejected, cancelled, received: nothing more will happen */
int sgw_status_terminal(int st);

enum { SGW_DIR_OUTBOUND = 0, SGW_DIR_INBOUND = 1 };

/* What the schedule index holds for a message (at most one entry each). */
typedef enum {
    SGW_DUE_NONE = 0,    /* nothing to do at a time */
    SGW_DUE_SEND = 'S',  /* send when due (sendAt, backoff, rate-limit wait) */
    SGW_DUE_LEASE = 'L', /* in the pipeline; if still there when due (or at a
                            restart), it was lost in flight: send again */
    SGW_DUE_DLR = 'D',   /* sent; ask the provider for a report when due */
} sgw_due_kind;

typedef struct sgw_attempt {
    char provider[24];
    int64_t started_ms, finished_ms;
    int ok;
    char provider_msg_id[64];
    char error_code[48];
    char *error_message; /* heap or NULL */
} sgw_attempt;

typedef struct sgw_event {
    int status;
    int64_t at_ms;
} sgw_event;

typedef struct sgw_sms {
    char id[24];
    char tenant[32];
    char app[32];
    int direction;
    int status;
    int test;
    int encoding;        /* sgw_encoding */
    int segments;
    char to[24];
    char from[24];
    char *body;          /* heap, UTF-8 */
    char *user_id;       /* heap or NULL */
    char *error;         /* heap or NULL: why it failed */
    char error_code[48]; /* machine code of error, "" if none */
    char country[4];
    int64_t send_at_ms;  /* 0: none */
    char batch_id[48];
    int64_t cost_amount; /* minor units */
    char currency[4];
    /* what acceptance charged the tenant (live messages): segments of its
     * monthly quota (of month charge_month, yyyymm) and minor units of its
     * wallet; refunded once when the message fails or is rejected
     * (store/ledger.c) */
    int charge_quota;
    int64_t charge_wallet;
    int charge_month;
    int refunded;
    char provider[24];          /* the winning (or last tried) provider */
    char provider_msg_id[64];   /* its message id (Gravity's rcMessageId) */
    int64_t created_ms, updated_ms;
    int64_t due_ms;      /* the schedule entry, see sgw_due_kind */
    int due_kind;
    int nattempts;
    sgw_attempt *attempts;
    int nevents;
    sgw_event *events;
} sgw_sms;

/* Free the heap parts and zero the record. NULL-safe. */
void sgw_sms_clear(sgw_sms *sms);
/* Deep copy; dst is overwritten (not cleared first). */
sgw_err sgw_sms_copy(sgw_sms *dst, const sgw_sms *src);
/* Set a heap string field (*field freed first); v may be NULL. */
sgw_err sgw_sms_set_str(char **field, const char *v);

/* Change status to st at at_ms: appends an event, sets updated_ms. */
sgw_err sgw_sms_set_status(sgw_sms *sms, int st, int64_t at_ms);
/* Append a copy of a provider attempt. */
sgw_err sgw_sms_add_attempt(sgw_sms *sms, const sgw_attempt *a);

/* Encode into a new heap buffer (free() it). */
sgw_err sgw_sms_encode(const sgw_sms *sms, void **out, size_t *outlen);
/* Decode; SGW_EPROTO if malformed. out is overwritten (clear it after). */
sgw_err sgw_sms_decode(const void *buf, size_t len, sgw_sms *out);

#endif
