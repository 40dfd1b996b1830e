/*
 * http/h_ops.c — what operators and tools call: health, readiness, metrics
 * (Prometheus text) and the OpenAPI document.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/util.h"
#include "http/http.h"
#include "openapi_json.h"
#include "ws/ws.h"

void h_health(sgw_req *r) { sgw_reply_raw(r, 200, "{\"status\":\"ok\"}", 15); }

void h_readyz(sgw_req *r)
{
    const sgw_http_deps *d = &r->srv->deps;
    int ready = d->store != NULL && !atomic_load(&d->app->draining);
    for (int i = 0; i < d->nactors; i++)
        ready &= sgw_actor_running(d->actors[i]);
    if (ready)
        sgw_reply_raw(r, 200, "{\"status\":\"ready\"}", 18);
    else
        sgw_reply_raw(r, 503, "{\"status\":\"not ready\"}", 22);
}

void h_openapi(sgw_req *r)
{
    sgw_reply_raw(r, 200, sgw_openapi_json_, sizeof sgw_openapi_json_ - 1);
}

typedef struct mbuf {
    char *p;
    size_t len, cap;
} mbuf;

static void mb_printf(mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mb_printf(mbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
}

/* The store-write histograms, one series per kind and fsync that has
 * writes: which 0 their time (seconds), 1 their records per write. */
static void store_hists(mbuf *b, const sgw_store_stats *ss, int which)
{
    const char *name = which ? "smsgw_store_write_records" : "smsgw_store_write_duration_seconds";
    const char *const *le = which ? sgw_store_size_le : sgw_store_lat_le;
    int nb = which ? SGW_STORE_SIZE_BUCKETS : SGW_STORE_LAT_BUCKETS;
    for (int k = 0; k < SGW_SW_MAX; k++)
        for (int y = 0; y < 2; y++) {
            const sgw_store_wstats *w = &ss->by[k][y];
            if (!w->writes)
                continue;
            const uint64_t *v = which ? w->size : w->lat;
            const char *kn = sgw_store_wkind_name(k), *fs = y ? "true" : "false";
            unsigned long long cum = 0;
            for (int i = 0; i < nb; i++) {
                cum += (unsigned long long)v[i];
                mb_printf(b, "%s_bucket{kind=\"%s\",fsync=\"%s\",le=\"%s\"} %llu\n", name, kn,
                          fs, le[i], cum);
            }
            char sum[32];
            if (which)
                snprintf(sum, sizeof sum, "%llu", (unsigned long long)w->records);
            else
                snprintf(sum, sizeof sum, "%.6f", (double)w->us_sum / 1e6);
            mb_printf(b, "%s_sum{kind=\"%s\",fsync=\"%s\"} %s\n%s_count{kind=\"%s\",fsync=\"%s\"} "
                         "%llu\n",
                      name, kn, fs, sum, name, kn, fs, cum);
        }
}

static void circuit_state_line(void *ctx, const char *provider, const char *tenant,
                               sgw_circuit_state state, uint64_t opened, uint64_t calls,
                               uint64_t failures)
{
    (void)opened, (void)calls, (void)failures;
    mb_printf(ctx, "smsgw_provider_circuit_state{provider=\"%s\",tenant=\"%s\"} %d\n",
              provider, tenant, (int)state);
}

static void circuit_opened_line(void *ctx, const char *provider, const char *tenant,
                                sgw_circuit_state state, uint64_t opened, uint64_t calls,
                                uint64_t failures)
{
    (void)state, (void)calls, (void)failures;
    mb_printf(ctx, "smsgw_provider_circuit_opened_total{provider=\"%s\",tenant=\"%s\"} %llu\n",
              provider, tenant, (unsigned long long)opened);
}

void h_metrics(sgw_req *r)
{
    const sgw_http_deps *d = &r->srv->deps;
    mbuf b = { 0 };
    static const char *const le[] = { "0.001", "0.002", "0.005", "0.01", "0.05", "0.1", "1", "+Inf" };
    mb_printf(&b, "# HELP smsgw_actor_queue_depth Messages waiting in an actor's input.\n"
                  "# TYPE smsgw_actor_queue_depth gauge\n");
    for (int i = 0; i < d->nactors; i++)
        mb_printf(&b, "smsgw_actor_queue_depth{actor=\"%s\"} %lld\n", sgw_actor_name(d->actors[i]),
                  (long long)sgw_actor_queue_depth(d->actors[i]));
    mb_printf(&b, "# HELP smsgw_actor_config Per-stage tuning in force (actors.<name> in "
                  "smsgw.cfg): threads, queue_depth (input bound), batch_max, linger_us.\n"
                  "# TYPE smsgw_actor_config gauge\n");
    for (int i = 0; i < d->nactors; i++) {
        sgw_actor_tune t;
        sgw_actor_tuning(d->actors[i], &t);
        const char *n = sgw_actor_name(d->actors[i]);
        mb_printf(&b,
                  "smsgw_actor_config{actor=\"%s\",setting=\"threads\"} %d\n"
                  "smsgw_actor_config{actor=\"%s\",setting=\"queue_depth\"} %d\n"
                  "smsgw_actor_config{actor=\"%s\",setting=\"batch_max\"} %d\n"
                  "smsgw_actor_config{actor=\"%s\",setting=\"linger_us\"} %lld\n",
                  n, t.threads, n, t.queue_depth, n, t.batch_max, n, (long long)t.linger_us);
    }
    mb_printf(&b, "# HELP smsgw_actor_messages_total Messages an actor handled (in) and "
                  "sent on (out).\n# TYPE smsgw_actor_messages_total counter\n");
    for (int i = 0; i < d->nactors; i++) {
        const sgw_actor_stats *s = sgw_actor_get_stats(d->actors[i]);
        const char *n = sgw_actor_name(d->actors[i]);
        mb_printf(&b, "smsgw_actor_messages_total{actor=\"%s\",dir=\"in\"} %llu\n", n,
                  (unsigned long long)atomic_load(&s->in));
        mb_printf(&b, "smsgw_actor_messages_total{actor=\"%s\",dir=\"out\"} %llu\n", n,
                  (unsigned long long)atomic_load(&s->out));
    }
    mb_printf(&b, "# HELP smsgw_actor_batches_total Batches an actor handled (mean batch size "
                  "= in / batches).\n# TYPE smsgw_actor_batches_total counter\n");
    for (int i = 0; i < d->nactors; i++)
        mb_printf(&b, "smsgw_actor_batches_total{actor=\"%s\"} %llu\n",
                  sgw_actor_name(d->actors[i]),
                  (unsigned long long)atomic_load(&sgw_actor_get_stats(d->actors[i])->batches));
    mb_printf(&b, "# HELP smsgw_actor_bus_latency_seconds Time from a message's send to its "
                  "handling.\n# TYPE smsgw_actor_bus_latency_seconds histogram\n");
    for (int i = 0; i < d->nactors; i++) {
        const sgw_actor_stats *s = sgw_actor_get_stats(d->actors[i]);
        const char *n = sgw_actor_name(d->actors[i]);
        unsigned long long cum = 0;
        for (int k = 0; k < 8; k++) {
            cum += (unsigned long long)atomic_load(&s->lat_buckets[k]);
            mb_printf(&b, "smsgw_actor_bus_latency_seconds_bucket{actor=\"%s\",le=\"%s\"} %llu\n", n,
                      le[k], cum);
        }
        mb_printf(&b, "smsgw_actor_bus_latency_seconds_sum{actor=\"%s\"} %.6f\n", n,
                  (double)atomic_load(&s->latency_us_sum) / 1e6);
        mb_printf(&b, "smsgw_actor_bus_latency_seconds_count{actor=\"%s\"} %llu\n", n, cum);
    }
    sgw_store_stats ss;
    sgw_store_get_stats(d->store, &ss);
    mb_printf(&b, "# HELP smsgw_store_writes_total Store writes (each one fsync with sync "
                  "always).\n# TYPE smsgw_store_writes_total counter\n"
                  "smsgw_store_writes_total %llu\n"
                  "# HELP smsgw_store_write_seconds_total Time spent in store writes.\n"
                  "# TYPE smsgw_store_write_seconds_total counter\n"
                  "smsgw_store_write_seconds_total %.6f\n"
                  "# HELP smsgw_store_records_written_total Records written (batch size = "
                  "records / writes).\n# TYPE smsgw_store_records_written_total counter\n"
                  "smsgw_store_records_written_total %llu\n",
              (unsigned long long)ss.writes, (double)ss.write_us_sum / 1e6,
              (unsigned long long)ss.records_written);
    mb_printf(&b, "# HELP smsgw_store_write_duration_seconds Time of one store write, by kind "
                  "(sms_new: accepted messages, sms_update: status changes, batch_commit: a "
                  "batch's acceptance, ...) and whether it was fsynced.\n"
                  "# TYPE smsgw_store_write_duration_seconds histogram\n");
    store_hists(&b, &ss, 0);
    mb_printf(&b, "# HELP smsgw_store_write_records Records per store write (its batch size), "
                  "by kind and whether it was fsynced; batch_stage counts key-value entries.\n"
                  "# TYPE smsgw_store_write_records histogram\n");
    store_hists(&b, &ss, 1);
    mb_printf(&b, "# HELP smsgw_status_events_total Message status changes published, by "
                  "new status.\n# TYPE smsgw_status_events_total counter\n");
    for (int st = 0; st < SGW_ST_MAX; st++)
        mb_printf(&b, "smsgw_status_events_total{status=\"%s\"} %llu\n", sgw_status_name(st),
                  (unsigned long long)atomic_load(&d->app->status_events[st]));
    mb_printf(&b, "# HELP smsgw_provider_attempts_total Provider calls by outcome.\n"
                  "# TYPE smsgw_provider_attempts_total counter\n");
    const struct sgw_transport_ops *const *all = sgw_transport_all();
    for (int p = 0; all[p] && p < SGW_MAX_PROVIDERS; p++) {
        const sgw_provider_stats *ps = &d->app->providers[p];
        mb_printf(&b,
                  "smsgw_provider_attempts_total{provider=\"%s\",outcome=\"ok\"} %llu\n"
                  "smsgw_provider_attempts_total{provider=\"%s\",outcome=\"retryable\"} %llu\n"
                  "smsgw_provider_attempts_total{provider=\"%s\",outcome=\"permanent\"} %llu\n",
                  all[p]->name, (unsigned long long)atomic_load(&ps->ok), all[p]->name,
                  (unsigned long long)atomic_load(&ps->retryable), all[p]->name,
                  (unsigned long long)atomic_load(&ps->permanent));
    }
    mb_printf(&b, "# HELP smsgw_provider_latency_seconds_total Time provider calls took, "
                  "summed (mean = this / attempts).\n"
                  "# TYPE smsgw_provider_latency_seconds_total counter\n");
    for (int p = 0; all[p] && p < SGW_MAX_PROVIDERS; p++)
        mb_printf(&b, "smsgw_provider_latency_seconds_total{provider=\"%s\"} %.3f\n",
                  all[p]->name,
                  (double)atomic_load(&d->app->providers[p].latency_ms_sum) / 1000.0);
    if (d->app->circuits) {
        mb_printf(&b, "# HELP smsgw_provider_circuit_state Circuit breaker of each provider "
                      "connection: 0 closed, 1 half-open, 2 open (tenant \"\": shared).\n"
                      "# TYPE smsgw_provider_circuit_state gauge\n");
        sgw_circuits_each(d->app->circuits, sgw_now_ms(), circuit_state_line, &b);
        mb_printf(&b, "# HELP smsgw_provider_circuit_opened_total Times a provider "
                      "connection's circuit opened.\n"
                      "# TYPE smsgw_provider_circuit_opened_total counter\n");
        sgw_circuits_each(d->app->circuits, sgw_now_ms(), circuit_opened_line, &b);
    }
    sgw_outbox_stats ob;
    sgw_store_outbox_stats(&ob);
    mb_printf(&b, "# HELP smsgw_webhook_outbox_depth App webhook deliveries waiting.\n"
                  "# TYPE smsgw_webhook_outbox_depth gauge\nsmsgw_webhook_outbox_depth %lld\n"
                  "# HELP smsgw_webhook_deliveries_total App webhook attempts by result.\n"
                  "# TYPE smsgw_webhook_deliveries_total counter\n"
                  "smsgw_webhook_deliveries_total{result=\"delivered\"} %llu\n"
                  "smsgw_webhook_deliveries_total{result=\"failed\"} %llu\n"
                  "smsgw_webhook_deliveries_total{result=\"dead\"} %llu\n"
                  "# HELP smsgw_webhook_events_lost_total Status events that never "
                  "reached the webhook outbox (its actor was stuck).\n"
                  "# TYPE smsgw_webhook_events_lost_total counter\n"
                  "smsgw_webhook_events_lost_total %llu\n",
              (long long)ob.depth, (unsigned long long)ob.delivered,
              (unsigned long long)ob.failed, (unsigned long long)ob.dead,
              (unsigned long long)atomic_load(&d->app->webhook_events_lost));
    char *rcm = sgw_rcwh_metrics(d->app); /* http/h_rcwebhook.c */
    if (rcm) {
        mb_printf(&b, "%s", rcm);
        free(rcm);
    }
    sgw_ws_stats ws;
    sgw_ws_hub_stats(r->srv->ws, &ws);
    mb_printf(&b, "# HELP smsgw_ws_connections Open WebSocket sessions (authenticated or not).\n"
                  "# TYPE smsgw_ws_connections gauge\nsmsgw_ws_connections %llu\n"
                  "# HELP smsgw_ws_authenticated Open, authenticated WebSocket sessions.\n"
                  "# TYPE smsgw_ws_authenticated gauge\nsmsgw_ws_authenticated %llu\n"
                  "# HELP smsgw_ws_connections_total WebSocket sessions opened.\n"
                  "# TYPE smsgw_ws_connections_total counter\nsmsgw_ws_connections_total %llu\n"
                  "# HELP smsgw_ws_auth_failures_total WebSocket sessions closed 1008.\n"
                  "# TYPE smsgw_ws_auth_failures_total counter\n"
                  "smsgw_ws_auth_failures_total %llu\n"
                  "# HELP smsgw_ws_drops_total Slow WebSocket subscribers dropped (1013).\n"
                  "# TYPE smsgw_ws_drops_total counter\nsmsgw_ws_drops_total %llu\n"
                  "# HELP smsgw_ws_events_total Events the WebSocket hub received.\n"
                  "# TYPE smsgw_ws_events_total counter\nsmsgw_ws_events_total %llu\n"
                  "# HELP smsgw_ws_sent_total Messages written to WebSocket sessions.\n"
                  "# TYPE smsgw_ws_sent_total counter\nsmsgw_ws_sent_total %llu\n",
              (unsigned long long)ws.connections, (unsigned long long)ws.authenticated,
              (unsigned long long)ws.connections_total, (unsigned long long)ws.auth_failures_total,
              (unsigned long long)ws.drops_total, (unsigned long long)ws.events_total,
              (unsigned long long)ws.sent_total);
    mb_printf(&b, "# HELP smsgw_http_requests_total HTTP requests by status class.\n"
                  "# TYPE smsgw_http_requests_total counter\n");
    for (int c = 1; c < 6; c++)
        mb_printf(&b, "smsgw_http_requests_total{class=\"%dxx\"} %llu\n", c,
                  (unsigned long long)atomic_load(&r->srv->by_class[c]));
    mb_printf(&b, "# HELP smsgw_http_route_requests_total HTTP requests by route and status.\n"
                  "# TYPE smsgw_http_route_requests_total counter\n");
    for (int i = 0; i < SGW_HTTP_ROUTES_MAX; i++) {
        const char *method, *pattern;
        if (!sgw_http_route_label(i, &method, &pattern))
            continue;
        for (int k = 0; k < SGW_HTTP_NCODES; k++) {
            unsigned long long n = atomic_load(&r->srv->by_route[i][k]);
            if (!n)
                continue;
            char code[8];
            if (k < SGW_HTTP_NCODES - 1)
                snprintf(code, sizeof code, "%d", sgw_http_codes[k]);
            else
                snprintf(code, sizeof code, "other");
            mb_printf(&b, "smsgw_http_route_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                      method, pattern, code, n);
        }
    }
    mb_printf(&b, "# HELP smsgw_http_route_seconds_total Time spent answering, by route.\n"
                  "# TYPE smsgw_http_route_seconds_total counter\n");
    for (int i = 0; i < SGW_HTTP_ROUTES_MAX; i++) {
        const char *method, *pattern;
        unsigned long long us = atomic_load(&r->srv->route_us[i]);
        if (us && sgw_http_route_label(i, &method, &pattern))
            mb_printf(&b, "smsgw_http_route_seconds_total{method=\"%s\",route=\"%s\"} %.6f\n",
                      method, pattern, (double)us / 1e6);
    }
    r->status = 200;
    mg_printf(r->conn,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
              "Content-Length: %zu\r\nCache-Control: no-store\r\n\r\n",
              b.len);
    mg_write(r->conn, b.p ? b.p : "", b.len);
    free(b.p);
}
