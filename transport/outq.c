/*
 * transport/outq.c — the outcome FIFO and the follow-up timers the
 * provider adapters share (outq.h).
 */
#include "transport/outq.h"

#include <stdio.h>
#include <stdlib.h>

void sgw_outq_push(sgw_outq *q, const sgw_tr_outcome *o)
{
    if (q->n == q->cap) {
        int cap = q->cap ? q->cap * 2 : 64;
        sgw_tr_outcome *v = malloc(sizeof *v * (size_t)cap);
        if (!v)
            abort(); /* bounded by inflight_max; out of memory is fatal */
        for (int i = 0; i < q->n; i++)
            v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v;
        q->cap = cap;
        q->head = 0;
    }
    q->v[(q->head + q->n++) % q->cap] = *o;
}

void sgw_outq_pushv(sgw_outq *q, sgw_tr_outcome *o, const char *id, const char *pmid,
                    const char *code, const char *fmt, va_list ap)
{
    snprintf(o->id, sizeof o->id, "%s", id);
    snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "%s", pmid ? pmid : "");
    snprintf(o->error_code, sizeof o->error_code, "%s", code ? code : "");
    if (fmt)
        vsnprintf(o->error_message, sizeof o->error_message, fmt, ap);
    sgw_outq_push(q, o);
}

sgw_tr_outcome *sgw_outq_last(sgw_outq *q)
{
    return &q->v[(q->head + q->n - 1) % q->cap];
}

int sgw_outq_pop(sgw_outq *q, sgw_tr_outcome *out, int max, int *inflight)
{
    int n = 0;
    while (n < max && q->n > 0) {
        out[n] = q->v[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        if (out[n].kind == SGW_TR_SEND_DONE)
            (*inflight)--;
        n++;
    }
    return n;
}

void sgw_outq_free(sgw_outq *q)
{
    for (int i = 0; i < q->n; i++)
        free(q->v[(q->head + i) % q->cap].body);
    free(q->v);
    q->v = NULL;
    q->head = q->n = q->cap = 0;
}

void sgw_timer_add(sgw_timer **list, sgw_timer *t, int64_t due_ms)
{
    t->due_ms = due_ms;
    t->next = *list;
    *list = t;
}

void sgw_timer_run_due(sgw_timer **list, int64_t now, void (*due)(void *ctx, sgw_timer *t),
                       void *ctx)
{
    sgw_timer **pp = list;
    while (*pp) {
        sgw_timer *t = *pp;
        if (t->due_ms <= now) {
            *pp = t->next;
            t->next = NULL;
            due(ctx, t);
        } else {
            pp = &t->next;
        }
    }
}

int64_t sgw_timer_earliest(const sgw_timer *list, int64_t d)
{
    for (const sgw_timer *t = list; t; t = t->next)
        if (d < 0 || t->due_ms < d)
            d = t->due_ms;
    return d;
}

sgw_timer *sgw_timer_pop(sgw_timer **list)
{
    sgw_timer *t = *list;
    if (t) {
        *list = t->next;
        t->next = NULL;
    }
    return t;
}

void sgw_active_add(sgw_active **head, sgw_active *a)
{
    a->prev = NULL;
    a->next = *head;
    if (*head)
        (*head)->prev = a;
    *head = a;
}

void sgw_active_remove(sgw_active **head, sgw_active *a)
{
    if (a->prev)
        a->prev->next = a->next;
    else
        *head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    a->prev = a->next = NULL;
}
