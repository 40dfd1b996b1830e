/*
 * transport/sim.c — the simulated provider: used by test keys (always), and
 * by live keys whose route names "sim" (the embedded default, until a real
 * provider is connected). It never leaves the process.
 *
 * Each send is accepted after transport.sim.latency_ms; its delivery report
 * follows dlr_delay_ms later. The last four digits of the recipient pick a
 * story (SPEC section 7); stories this build implements:
 *   0001 and any unlisted   sent, delivered after dlr_delay_ms
 *   0002                    rejected, phone_invalid
 *   0003                    sent, delivered after 30 s
 *   0004                    rejected, dnd_blocked
 *   0005                    fails twice (retryable), then sent and delivered
 *   0007                    permanent failure
 * (0006, failover, and 0008, an inbound reply, need routes and inbound SMS.)
 *
 * Pending outcomes sit in a binary heap ordered by due time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/util.h"
#include "transport/transport.h"

typedef struct sim_item {
    int64_t due;
    sgw_tr_outcome out;
} sim_item;

typedef struct sim_conn {
    int64_t latency_ms, dlr_ms;
    sim_item *heap;
    int n, cap;
    int inflight;
    uint64_t seq;
} sim_conn;

static void sim_push(sim_conn *c, const sim_item *it)
{
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 256;
        sim_item *h = realloc(c->heap, sizeof *h * (size_t)cap);
        if (!h)
            abort(); /* the heap is bounded by inflight_max; out of memory is fatal */
        c->heap = h;
        c->cap = cap;
    }
    int i = c->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (c->heap[p].due <= it->due)
            break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = *it;
}

static void sim_pop(sim_conn *c, sim_item *out)
{
    *out = c->heap[0];
    sim_item last = c->heap[--c->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        int64_t md = last.due;
        if (l < c->n && c->heap[l].due < md) {
            m = l;
            md = c->heap[l].due;
        }
        if (r < c->n && c->heap[r].due < md)
            m = r;
        if (m == i)
            break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (c->n > 0)
        c->heap[i] = last;
}

static sgw_err sim_create(void **conn, const sgw_cfg *cfg, const sgw_tr_host *host)
{
    (void)host;
    sim_conn *c = calloc(1, sizeof *c);
    if (!c)
        return SGW_ENOMEM;
    c->latency_ms = sgw_cfg_int(cfg, "transport.sim.latency_ms");
    c->dlr_ms = sgw_cfg_int(cfg, "transport.sim.dlr_delay_ms");
    *conn = c;
    return SGW_OK;
}

static void sim_destroy(void *conn)
{
    sim_conn *c = conn;
    if (c)
        free(c->heap);
    free(c);
}

static int sim_story(const char *to)
{
    size_t n = strlen(to);
    return n >= 4 ? atoi(to + n - 4) : 1;
}

static sgw_err sim_submit(void *conn, const sgw_tr_sms *sms)
{
    sim_conn *c = conn;
    int64_t now = sgw_now_ms();
    sim_item it = { .due = now + c->latency_ms };
    sgw_tr_outcome *o = &it.out;
    o->kind = SGW_TR_SEND_DONE;
    o->attempt = sms->attempt;
    o->started_ms = now;
    snprintf(o->id, sizeof o->id, "%s", sms->id);
    switch (sim_story(sms->to)) {
    case 2:
        o->result = SGW_SEND_REJECTED;
        snprintf(o->error_code, sizeof o->error_code, "phone_invalid");
        snprintf(o->error_message, sizeof o->error_message, "Phone number %s is not valid",
                 sms->to);
        break;
    case 4:
        o->result = SGW_SEND_REJECTED;
        snprintf(o->error_code, sizeof o->error_code, "dnd_blocked");
        snprintf(o->error_message, sizeof o->error_message,
                 "Recipient %s is on a do-not-disturb list", sms->to);
        break;
    case 5:
        if (sms->attempt <= 2) {
            o->result = SGW_SEND_RETRY;
            snprintf(o->error_code, sizeof o->error_code, "provider_unavailable");
            snprintf(o->error_message, sizeof o->error_message,
                     "Simulated provider error (attempt %d)", sms->attempt);
            break;
        }
        /* fallthrough */
    default:
        o->result = SGW_SEND_OK;
        snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "sim_%012llx",
                 (unsigned long long)(((uint64_t)now << 16) ^ ++c->seq) & 0xffffffffffffULL);
        break;
    case 7:
        o->result = SGW_SEND_PERMANENT;
        snprintf(o->error_code, sizeof o->error_code, "undeliverable");
        snprintf(o->error_message, sizeof o->error_message,
                 "Simulated permanent failure for %s", sms->to);
        break;
    }
    sim_push(c, &it);
    c->inflight++;
    if (o->result == SGW_SEND_OK) {
        /* the delivery report, later */
        sim_item rep = it;
        rep.out.kind = SGW_TR_REPORT;
        rep.due = it.due + (sim_story(sms->to) == 3 ? 30000 : c->dlr_ms);
        sim_push(c, &rep);
    }
    return SGW_OK;
}

static sgw_err sim_query(void *conn, const sgw_tr_sms *sms, const char *provider_msg_id)
{
    const char *id = sms->id;
    sim_conn *c = conn;
    int64_t now = sgw_now_ms();
    sim_item it = { .due = now + c->latency_ms };
    it.out.kind = SGW_TR_REPORT;
    it.out.result = SGW_SEND_OK;
    it.out.started_ms = now;
    snprintf(it.out.id, sizeof it.out.id, "%s", id);
    snprintf(it.out.provider_msg_id, sizeof it.out.provider_msg_id, "%s", provider_msg_id);
    sim_push(c, &it);
    return SGW_OK;
}

static int sim_poll(void *conn, int64_t now, sgw_tr_outcome *out, int max)
{
    sim_conn *c = conn;
    int n = 0;
    while (n < max && c->n > 0 && c->heap[0].due <= now) {
        sim_item it;
        sim_pop(c, &it);
        it.out.finished_ms = now;
        if (it.out.kind == SGW_TR_SEND_DONE)
            c->inflight--;
        out[n++] = it.out;
    }
    return n;
}

static int64_t sim_next_deadline(void *conn)
{
    sim_conn *c = conn;
    return c->n > 0 ? c->heap[0].due : -1;
}

static int sim_inflight(void *conn) { return ((sim_conn *)conn)->inflight; }

const struct sgw_transport_ops sgw_transport_sim = {
    .name = "sim",
    .title = "Simulator",
    .supports = SGW_TR_SUPPORTS_QUERY,
    .create = sim_create,
    .destroy = sim_destroy,
    .submit = sim_submit,
    .query = sim_query,
    .poll = sim_poll,
    .next_deadline = sim_next_deadline,
    .inflight = sim_inflight,
};
