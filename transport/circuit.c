/*
 * transport/circuit.c — circuit breakers per provider connection (see
 * circuit.h for the states and the rules).
 *
 * One table for the process, behind one mutex: a sender asks once per
 * message and records once per answer, a few hundred nanoseconds each,
 * far below a provider call. Open addressing on (provider, tenant), at most
 * CIRCUIT_MAX connections; past that, new connections share no breaker
 * (allow() says yes), which is logged once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "transport/circuit.h"

#define CIRCUIT_MAX 8192 /* a power of two */
#define BUCKETS 10

typedef struct circuit {
    char key[64];            /* provider "/" tenant; "" = free slot */
    char provider[24], tenant[32];
    sgw_circuit_state state;
    int64_t bucket_ms[BUCKETS];  /* the start of the period each bucket counts */
    uint32_t calls[BUCKETS], fails[BUCKETS];
    int64_t opened_ms;       /* when it last opened */
    int probes_out, probes_ok;
    int64_t probe_ms;        /* when the last probe place was taken */
    uint64_t opened_total, calls_total, fails_total;
} circuit;

struct sgw_circuits {
    pthread_mutex_t mu;
    int64_t window_ms, open_ms;
    int min_calls, probes;
    double failure_ratio;
    int n, full_logged;
    circuit *slots;
};

static int64_t cfg_or(const sgw_cfg *cfg, const char *path, int64_t dflt)
{
    int64_t v = cfg ? sgw_cfg_int(cfg, path) : 0;
    return v > 0 ? v : dflt;
}

sgw_err sgw_circuits_new(const sgw_cfg *cfg, sgw_circuits **out)
{
    sgw_circuits *c = calloc(1, sizeof *c);
    if (!c)
        return SGW_ENOMEM;
    c->slots = calloc(CIRCUIT_MAX, sizeof *c->slots);
    if (!c->slots) {
        free(c);
        return SGW_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->window_ms = cfg_or(cfg, "transport.circuit.window_s", 30) * 1000;
    c->open_ms = cfg_or(cfg, "transport.circuit.open_ms", 30000);
    c->min_calls = (int)cfg_or(cfg, "transport.circuit.min_calls", 20);
    c->probes = (int)cfg_or(cfg, "transport.circuit.probes", 3);
    c->failure_ratio = cfg ? sgw_cfg_float(cfg, "transport.circuit.failure_ratio") : 0;
    if (c->failure_ratio <= 0 || c->failure_ratio > 1)
        c->failure_ratio = 0.5;
    *out = c;
    return SGW_OK;
}

void sgw_circuits_free(sgw_circuits *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->slots);
    free(c);
}

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a: a table index, not a digest */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The connection's breaker, created closed if new; NULL when the table is
 * full. Under mu. */
static circuit *find(sgw_circuits *c, const char *provider, const char *tenant, int create)
{
    char key[64];
    snprintf(key, sizeof key, "%s/%s", provider, tenant ? tenant : "");
    uint32_t i = hash(key) & (CIRCUIT_MAX - 1);
    for (int probe = 0; probe < CIRCUIT_MAX; probe++, i = (i + 1) & (CIRCUIT_MAX - 1)) {
        circuit *x = &c->slots[i];
        if (strcmp(x->key, key) == 0)
            return x;
        if (!x->key[0]) {
            if (!create)
                return NULL;
            if (c->n >= CIRCUIT_MAX * 3 / 4) {
                if (!c->full_logged++)
                    sgw_log(SGW_LOG_WARN, "circuit", "%d provider connections: new ones get "
                            "no circuit breaker", c->n);
                return NULL;
            }
            c->n++;
            snprintf(x->key, sizeof x->key, "%s", key);
            snprintf(x->provider, sizeof x->provider, "%s", provider);
            snprintf(x->tenant, sizeof x->tenant, "%s", tenant ? tenant : "");
            return x;
        }
    }
    return NULL;
}

/* The bucket of now, emptied if it held an older period. */
static int bucket(sgw_circuits *c, circuit *x, int64_t now)
{
    int64_t width = c->window_ms / BUCKETS;
    if (width <= 0)
        width = 1;
    int64_t period = now / width;
    int b = (int)(period % BUCKETS);
    if (x->bucket_ms[b] != period * width) {
        x->bucket_ms[b] = period * width;
        x->calls[b] = x->fails[b] = 0;
    }
    return b;
}

static void window_sum(sgw_circuits *c, const circuit *x, int64_t now, uint64_t *calls,
                       uint64_t *fails)
{
    *calls = *fails = 0;
    for (int b = 0; b < BUCKETS; b++)
        if (x->bucket_ms[b] > now - c->window_ms) {
            *calls += x->calls[b];
            *fails += x->fails[b];
        }
}

static void window_clear(circuit *x)
{
    memset(x->bucket_ms, 0, sizeof x->bucket_ms);
    memset(x->calls, 0, sizeof x->calls);
    memset(x->fails, 0, sizeof x->fails);
}

static void set_open(circuit *x, int64_t now)
{
    if (x->state != SGW_CIRCUIT_OPEN) {
        x->opened_total++;
        sgw_log(SGW_LOG_WARN, "circuit", "%s%s%s: open", x->provider, x->tenant[0] ? " for " : "",
                x->tenant);
    }
    x->state = SGW_CIRCUIT_OPEN;
    x->opened_ms = now;
    x->probes_out = x->probes_ok = 0;
}

/* open -> half_open once open_ms passed; a lost probe frees its place. */
static void advance(sgw_circuits *c, circuit *x, int64_t now)
{
    if (x->state == SGW_CIRCUIT_OPEN && now - x->opened_ms >= c->open_ms) {
        x->state = SGW_CIRCUIT_HALF_OPEN;
        x->probes_out = x->probes_ok = 0;
        sgw_log(SGW_LOG_INFO, "circuit", "%s%s%s: half-open, probing", x->provider,
                x->tenant[0] ? " for " : "", x->tenant);
    }
    if (x->state == SGW_CIRCUIT_HALF_OPEN && x->probes_out > 0 && now - x->probe_ms >= c->open_ms)
        x->probes_out = 0;
}

int sgw_circuit_allow(sgw_circuits *c, const char *provider, const char *tenant, int64_t now,
                      int64_t *until_ms)
{
    int yes = 1;
    pthread_mutex_lock(&c->mu);
    circuit *x = find(c, provider, tenant, 1);
    if (x) {
        advance(c, x, now);
        if (x->state == SGW_CIRCUIT_OPEN) {
            yes = 0;
            if (until_ms)
                *until_ms = x->opened_ms + c->open_ms;
        } else if (x->state == SGW_CIRCUIT_HALF_OPEN) {
            if (x->probes_out + x->probes_ok < c->probes) {
                x->probes_out++;
                x->probe_ms = now;
            } else {
                yes = 0;
                if (until_ms) /* the probes' answers decide; ask again soon */
                    *until_ms = now + (c->open_ms < 1000 ? c->open_ms : 1000);
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    return yes;
}

void sgw_circuit_release(sgw_circuits *c, const char *provider, const char *tenant)
{
    pthread_mutex_lock(&c->mu);
    circuit *x = find(c, provider, tenant, 0);
    if (x && x->state == SGW_CIRCUIT_HALF_OPEN && x->probes_out > 0)
        x->probes_out--;
    pthread_mutex_unlock(&c->mu);
}

void sgw_circuit_record(sgw_circuits *c, const char *provider, const char *tenant, int ok,
                        int64_t now)
{
    pthread_mutex_lock(&c->mu);
    circuit *x = find(c, provider, tenant, 1);
    if (x) {
        advance(c, x, now);
        x->calls_total++;
        x->fails_total += !ok;
        switch (x->state) {
        case SGW_CIRCUIT_CLOSED: {
            int b = bucket(c, x, now);
            x->calls[b]++;
            x->fails[b] += !ok;
            uint64_t calls, fails;
            window_sum(c, x, now, &calls, &fails);
            if (calls >= (uint64_t)c->min_calls &&
                (double)fails >= c->failure_ratio * (double)calls)
                set_open(x, now);
            break;
        }
        case SGW_CIRCUIT_HALF_OPEN:
            if (x->probes_out > 0)
                x->probes_out--;
            if (!ok) {
                set_open(x, now);
            } else if (++x->probes_ok >= c->probes) {
                x->state = SGW_CIRCUIT_CLOSED;
                window_clear(x);
                sgw_log(SGW_LOG_INFO, "circuit", "%s%s%s: closed", x->provider,
                        x->tenant[0] ? " for " : "", x->tenant);
            }
            break;
        case SGW_CIRCUIT_OPEN:
            break; /* an answer to a call made before it opened */
        }
    }
    pthread_mutex_unlock(&c->mu);
}

int sgw_circuits_each(sgw_circuits *c, int64_t now, sgw_circuit_visit_fn fn, void *ctx)
{
    int n = 0;
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < CIRCUIT_MAX; i++) {
        circuit *x = &c->slots[i];
        if (!x->key[0])
            continue;
        advance(c, x, now);
        fn(ctx, x->provider, x->tenant, x->state, x->opened_total, x->calls_total,
           x->fails_total);
        n++;
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

const char *sgw_circuit_state_name(sgw_circuit_state s)
{
    return s == SGW_CIRCUIT_OPEN ? "open" : s == SGW_CIRCUIT_HALF_OPEN ? "half_open" : "closed";
}
