/*
 * actors/sms/accept.h — what an outbound message must satisfy to be
 * accepted, and what an accepted message record looks like (SPEC section
 * 4). Shared by the validator (POST /v1/sms/send) and the batch API
 * (http/h_batches.c), so both apply the same rules: E.164 numbers, sender
 * IDs (registered, approved for live keys, not on a RingCentral live
 * route), 1-1600 code points of body, userId, sendAt, and the price.
 *
 * The checks return 1 when the value is acceptable, else 0 with the
 * answer (HTTP status, message, code) in the verdict. They read only their
 * arguments and, for sender IDs, the store: thread-safe.
 */
#ifndef SGW_SMS_ACCEPT_H
#define SGW_SMS_ACCEPT_H

#include <stdint.h>

#include "actors/sms/text.h"
#include "bus/cfg.h"
#include "store/store.h"

#define SGW_ACCEPT_BODY_MAX 1600                      /* code points */
#define SGW_ACCEPT_USER_ID_MAX 128                    /* bytes */
#define SGW_ACCEPT_AHEAD_MAX_MS (30LL * 24 * 3600 * 1000) /* sendAt at most 30 days ahead */

/* Why a request (or one recipient) is refused. */
typedef struct sgw_verdict {
    int status;          /* HTTP status */
    char error[200];     /* Gravity's message */
    const char *code;    /* validation_error, phone_invalid, ... */
} sgw_verdict;

/* Fill v (fmt has one %s, arg may be NULL) and return 0. */
int sgw_refuse(sgw_verdict *v, int status, const char *code, const char *fmt, const char *arg)
    __attribute__((format(printf, 4, 0)));

/* From the configuration: the live route's first provider and the prices. */
typedef struct sgw_accept_rules {
    char live_route[24];
    struct sgw_price { char cc[3]; int64_t minor; } *prices; /* pricing.per_segment */
    int nprices;
    int64_t default_price;   /* pricing.default_per_segment */
    char currency[4];
} sgw_accept_rules;

/* SGW_ECONFIG (logged, with the setting) for a malformed pricing table. */
sgw_err sgw_accept_rules_load(const sgw_cfg *cfg, sgw_accept_rules *r);
void sgw_accept_rules_fini(sgw_accept_rules *r);
/* Minor units per segment to a destination country ("" or unknown: default). */
int64_t sgw_accept_unit_price(const sgw_accept_rules *r, const char *country);

/* from: an E.164 number, or a sender ID of the tenant that this key may
 * use (live: approved, on a route that carries sender IDs; test: pending
 * too). */
int sgw_accept_from(const sgw_accept_rules *r, sgw_store *st, const char *tenant, int test,
                    const char *from, sgw_verdict *v);
/* A valid E.164 recipient. */
int sgw_accept_to(const char *to, sgw_verdict *v);
/* 1-1600 code points of valid UTF-8; ti gets encoding and segments. */
int sgw_accept_body(const char *body, size_t len, sgw_text_info *ti, sgw_verdict *v);
/* NULL or at most 128 bytes. */
int sgw_accept_user_id(const char *user_id, sgw_verdict *v);
/* NULL or an ISO 3166-1 alpha-2 code. */
int sgw_accept_country(const char *country, sgw_verdict *v);
/* NULL (*ms = 0) or RFC 3339, after now, at most 30 days ahead. */
int sgw_accept_send_at(const char *send_at, int64_t now, int64_t *ms, sgw_verdict *v);

/* An accepted message: its fields, already checked. */
typedef struct sgw_accept_in {
    const char *tenant, *app;
    int test;
    const char *to, *from, *body;
    const sgw_text_info *ti;
    const char *user_id;   /* or NULL */
    const char *country;   /* override, or NULL: from `to` */
    int64_t now, send_at_ms;
} sgw_accept_in;

/* Fill rec (overwritten, not cleared first; id and due fields are the
 * caller's): status queued, or scheduled when send_at_ms, with its event;
 * its cost at the destination's price (0 for test keys) and *unit_price
 * (what store/ledger.c charges per wallet segment). SGW_ENOMEM. */
sgw_err sgw_accept_fill(const sgw_accept_rules *r, const sgw_accept_in *in, sgw_sms *rec,
                        int64_t *unit_price);

#endif
