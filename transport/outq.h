/*
 * transport/outq.h — what the provider adapters (transport/ringcentral.c,
 * transport/twilio.c) keep the same way: their finished outcomes, a FIFO
 * that poll() empties, and their follow-ups waiting for a time (status
 * polls, look-ups again later), an unordered list walked on each poll().
 *
 *     sgw_outq_push(&c->outq, &o);          ... when a call ends
 *     sgw_timer_add(&c->timers, &j->tm, due);
 *     ... poll:  sgw_timer_run_due(&c->timers, now, job_due, c);
 *                return sgw_outq_pop(&c->outq, out, max, &c->inflight);
 *
 * Owned by one sender thread, like the adapter's conn: no locks.
 */
#ifndef SGW_OUTQ_H
#define SGW_OUTQ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/transport.h"

/* Finished outcomes, oldest first (a ring buffer that grows). */
typedef struct sgw_outq {
    sgw_tr_outcome *v;
    int head, n, cap;
} sgw_outq;

/* Add a copy of o at the end (out of memory aborts: the queue is bounded
 * by the sender's inflight_max). */
void sgw_outq_push(sgw_outq *q, const sgw_tr_outcome *o);
/* Push o (kind, result, attempt, times set) completed with our message
 * id, the provider's message id, an error code (each NULL: "") and an
 * error message from fmt and ap (fmt NULL: none). */
void sgw_outq_pushv(sgw_outq *q, sgw_tr_outcome *o, const char *id, const char *pmid,
                    const char *code, const char *fmt, va_list ap);
/* The outcome pushed last (the queue is not empty). */
sgw_tr_outcome *sgw_outq_last(sgw_outq *q);
/* Move at most max outcomes to out, oldest first; *inflight drops by one
 * for each SGW_TR_SEND_DONE among them. Returns how many. */
int sgw_outq_pop(sgw_outq *q, sgw_tr_outcome *out, int max, int *inflight);
/* Free the queue and the bodies of the outcomes still in it. */
void sgw_outq_free(sgw_outq *q);

/* A follow-up waiting for its time: embedded in an adapter's job; the
 * job is found again with SGW_TIMER_JOB. */
typedef struct sgw_timer {
    struct sgw_timer *next;
    int64_t due_ms;
} sgw_timer;

#define SGW_TIMER_JOB(t, type, member) ((type *)(void *)((char *)(t) - offsetof(type, member)))

void sgw_timer_add(sgw_timer **list, sgw_timer *t, int64_t due_ms);
/* Walk the list once: each timer due by now is taken off it (its next
 * cleared) and handed to due(ctx, t), which may add timers to the list. */
void sgw_timer_run_due(sgw_timer **list, int64_t now, void (*due)(void *ctx, sgw_timer *t),
                       void *ctx);
/* The earlier of d and the list's earliest due time (d < 0: none yet). */
int64_t sgw_timer_earliest(const sgw_timer *list, int64_t d);
/* Take the first timer off the list (to free what is left), or NULL. */
sgw_timer *sgw_timer_pop(sgw_timer **list);

/* A job whose request is in curl: a doubly linked list embedded in the
 * adapter's job (found again with SGW_TIMER_JOB), so that destroy can take
 * every one out of curl. */
typedef struct sgw_active {
    struct sgw_active *prev, *next;
} sgw_active;

void sgw_active_add(sgw_active **head, sgw_active *a);
void sgw_active_remove(sgw_active **head, sgw_active *a);

#endif
