/*
 * transport/sim.c — the simulated provider: used by test keys (always:
 * transport.test_route), and by live keys whose route names "sim". It never
 * leaves the process.
 *
 * One implementation, two providers: "sim" and "sim_b" (two ops tables that
 * differ only in name and title), so a route of two providers, and failover
 * between them, can be simulated. Both read the settings of transport.sim.
 *
 * Each send is accepted after transport.sim.latency_ms; its delivery report
 * follows dlr_delay_ms later. The last four digits of the recipient pick a
 * story (SPEC section 7):
 *   0001 and any unlisted   sent, delivered after dlr_delay_ms
 *   0002                    rejected, phone_invalid
 *   0003                    sent, delivered after slow_dlr_ms (30 s)
 *   0004                    rejected, dnd_blocked
 *   0005                    the message's attempts 1 and 2 fail (retryable),
 *                           at whichever provider; the third is sent
 *   0006                    "sim" is down: every attempt there fails
 *                           (retryable, provider_unavailable); "sim_b"
 *                           delivers, so the message fails over to it
 *   0007                    permanent failure
 *   0008                    delivered, then the recipient answers "STOP": an
 *                           inbound SMS (SGW_TR_INBOUND) from the message's
 *                           `to` to its `from`, latency_ms after the report.
 *                           Its provider message id is derived from our
 *                           message id, so a report repeated (a query after a
 *                           restart) yields the same inbound SMS, which the
 *                           status actor stores once.
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
    const char *name;    /* "sim" or "sim_b" */
    int down;            /* story 0006 fails here: "sim" (the route's first) */
    int64_t latency_ms, dlr_ms, slow_dlr_ms;
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

static sgw_err sim_create_as(void **conn, const sgw_cfg *cfg, const char *name, int down)
{
    sim_conn *c = calloc(1, sizeof *c);
    if (!c)
        return SGW_ENOMEM;
    c->name = name;
    c->down = down;
    c->latency_ms = sgw_cfg_int(cfg, "transport.sim.latency_ms");
    c->dlr_ms = sgw_cfg_int(cfg, "transport.sim.dlr_delay_ms");
    c->slow_dlr_ms = sgw_cfg_int(cfg, "transport.sim.slow_dlr_ms");
    *conn = c;
    return SGW_OK;
}

static sgw_err sim_create(void **conn, const sgw_cfg *cfg, const sgw_tr_host *host)
{
    (void)host;
    return sim_create_as(conn, cfg, "sim", 1);
}

static sgw_err sim_b_create(void **conn, const sgw_cfg *cfg, const sgw_tr_host *host)
{
    (void)host;
    return sim_create_as(conn, cfg, "sim_b", 0);
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

/* The delivery report of a sent message, due at `due`; for story 0008 the
 * recipient's "STOP" follows it. */
static void sim_report(sim_conn *c, const sgw_tr_sms *sms, const char *provider_msg_id,
                       int64_t now, int64_t due)
{
    sim_item rep = { .due = due };
    rep.out.kind = SGW_TR_REPORT;
    rep.out.result = SGW_SEND_OK;
    rep.out.started_ms = now;
    rep.out.attempt = sms->attempt;
    snprintf(rep.out.id, sizeof rep.out.id, "%s", sms->id);
    snprintf(rep.out.provider_msg_id, sizeof rep.out.provider_msg_id, "%s", provider_msg_id);
    sim_push(c, &rep);
    if (sim_story(sms->to) != 8)
        return;
    sim_item in = { .due = due + (c->latency_ms > 0 ? c->latency_ms : 1) };
    sgw_tr_outcome *o = &in.out;
    o->kind = SGW_TR_INBOUND;
    o->result = SGW_SEND_OK;
    o->started_ms = now;
    snprintf(o->id, sizeof o->id, "%s", sms->id);
    snprintf(o->tenant, sizeof o->tenant, "%s", sms->tenant);
    snprintf(o->from, sizeof o->from, "%s", sms->to);
    snprintf(o->to, sizeof o->to, "%s", sms->from);
    /* the same message always answers with the same provider message id */
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const char *p = "inbound/"; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (const char *p = sms->id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(o->provider_msg_id, sizeof o->provider_msg_id, "sim_%012llx",
             (unsigned long long)(h & 0xffffffffffffULL));
    sim_push(c, &in); /* the body ("STOP") is made when it is polled */
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
    case 6:
        if (c->down) {
            o->result = SGW_SEND_RETRY;
            snprintf(o->error_code, sizeof o->error_code, "provider_unavailable");
            snprintf(o->error_message, sizeof o->error_message, "Simulated outage of %s",
                     c->name);
            break;
        }
        goto ok;
    case 5:
        /* attempt counts the message's attempts, at every provider */
        if (sms->attempt <= 2) {
            o->result = SGW_SEND_RETRY;
            snprintf(o->error_code, sizeof o->error_code, "provider_unavailable");
            snprintf(o->error_message, sizeof o->error_message,
                     "Simulated provider error (attempt %d)", sms->attempt);
            break;
        }
        /* fallthrough */
    default:
    ok:
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
    if (o->result == SGW_SEND_OK) /* the delivery report, later */
        sim_report(c, sms, o->provider_msg_id, now,
                   it.due + (sim_story(sms->to) == 3 ? c->slow_dlr_ms : c->dlr_ms));
    return SGW_OK;
}

static sgw_err sim_query(void *conn, const sgw_tr_sms *sms, const char *provider_msg_id)
{
    sim_conn *c = conn;
    int64_t now = sgw_now_ms();
    sim_report(c, sms, provider_msg_id, now, now + c->latency_ms);
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
        if (it.out.kind == SGW_TR_INBOUND && !(it.out.body = strdup("STOP")))
            abort(); /* as sim_push: out of memory is fatal */
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

#define SIM_OPS(NAME, TITLE, CREATE)                                                      \
    {                                                                                      \
        .name = NAME, .title = TITLE, .supports = SGW_TR_SUPPORTS_QUERY, .create = CREATE,  \
        .destroy = sim_destroy, .submit = sim_submit, .query = sim_query, .poll = sim_poll, \
        .next_deadline = sim_next_deadline, .inflight = sim_inflight,                      \
    }

const struct sgw_transport_ops sgw_transport_sim = SIM_OPS("sim", "Simulator", sim_create);
/* the same simulator as a second provider, for failover (story 0006) */
const struct sgw_transport_ops sgw_transport_sim_b =
    SIM_OPS("sim_b", "Simulator B", sim_b_create);
