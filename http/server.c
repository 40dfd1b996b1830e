/*
 * http/server.c — civetweb, the routing table and the answer helpers.
 *
 * One catch-all civetweb handler reads the body (at most
 * http.max_body_bytes: larger is 413 before any of it is parsed), finds the
 * route, authenticates when the route needs it, and calls the handler.
 * A streaming route (POST /v1/sms/batches) reads its body itself, in
 * chunks, under its own limit.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

enum { AUTH_NONE = 0, AUTH_KEY = 1,
       STREAM = 2 /* flag: the handler reads the body itself (r->body is NULL) */ };

typedef struct route {
    const char *method;
    const char *pattern;   /* segments; ":x" matches one segment */
    int auth;              /* AUTH_NONE or AUTH_KEY, maybe | STREAM */
    void (*fn)(sgw_req *r);
} route;

static const route routes[] = {
    { "GET", "/health", AUTH_NONE, h_health },
    { "GET", "/readyz", AUTH_NONE, h_readyz },
    { "GET", "/metrics", AUTH_NONE, h_metrics },
    { "GET", "/v1/openapi.json", AUTH_NONE, h_openapi },
    { "GET", "/", AUTH_NONE, h_console_index },
    { "GET", "/console/:file", AUTH_NONE, h_console_asset },
    { "POST", "/v1/sms/send", AUTH_KEY, h_sms_send },
    { "POST", "/v1/sms/batches", AUTH_KEY | STREAM, h_batches_create },
    { "GET", "/v1/sms/batches", AUTH_KEY, h_batches_list },
    { "GET", "/v1/sms/batches/:id", AUTH_KEY, h_batches_get },
    { "GET", "/v1/sms/batches/:id/messages", AUTH_KEY, h_batches_messages },
    { "GET", "/v1/sms/status/:id", AUTH_KEY, h_sms_status },
    { "GET", "/v1/sms", AUTH_KEY, h_sms_list },
    { "GET", "/v1/sms/:id", AUTH_KEY, h_sms_get },
    { "POST", "/v1/sms/:id/cancel", AUTH_KEY, h_sms_cancel },
    { "POST", "/v1/tenants", AUTH_KEY, h_tenants_create },
    { "GET", "/v1/tenants", AUTH_KEY, h_tenants_list },
    { "GET", "/v1/tenants/:id", AUTH_KEY, h_tenants_get },
    { "PATCH", "/v1/tenants/:id", AUTH_KEY, h_tenants_patch },
    { "GET", "/v1/tenants/:id/route", AUTH_KEY, h_tenants_route_get },
    { "PUT", "/v1/tenants/:id/route", AUTH_KEY, h_tenants_route_put },
    { "DELETE", "/v1/tenants/:id/route", AUTH_KEY, h_tenants_route_delete },
    { "PUT", "/v1/tenants/:id/connections/:provider", AUTH_KEY, h_conn_put },
    { "GET", "/v1/tenants/:id/connections/:provider", AUTH_KEY, h_conn_get },
    { "DELETE", "/v1/tenants/:id/connections/:provider", AUTH_KEY, h_conn_delete },
    { "POST", "/v1/templates", AUTH_KEY, h_templates_create },
    { "GET", "/v1/templates", AUTH_KEY, h_templates_list },
    { "GET", "/v1/templates/:id", AUTH_KEY, h_templates_get },
    { "PUT", "/v1/templates/:id", AUTH_KEY, h_templates_put },
    { "DELETE", "/v1/templates/:id", AUTH_KEY, h_templates_delete },
    { "POST", "/v1/templates/:id/render", AUTH_KEY, h_templates_render },
    { "POST", "/v1/sender-ids", AUTH_KEY, h_sender_ids_create },
    { "GET", "/v1/sender-ids", AUTH_KEY, h_sender_ids_list },
    { "GET", "/v1/sender-ids/:id", AUTH_KEY, h_sender_ids_get },
    { "PATCH", "/v1/sender-ids/:id", AUTH_KEY, h_sender_ids_patch },
    { "DELETE", "/v1/sender-ids/:id", AUTH_KEY, h_sender_ids_delete },
    { "POST", "/v1/rc/connect-token", AUTH_KEY, h_rc_connect_token },
    { "GET", "/v1/rc/connect", AUTH_NONE, h_rc_connect_page },
    { "POST", "/v1/rc/connect", AUTH_NONE, h_rc_connect },
    { "GET", "/v1/rc/callback", AUTH_NONE, h_rc_callback },
    { "GET", "/v1/rc/status", AUTH_KEY, h_rc_status },
    { "POST", "/v1/rc/disconnect", AUTH_KEY, h_rc_disconnect },
    { "POST", "/v1/webhooks/ringcentral", AUTH_NONE, h_rc_webhook },
    { "POST", "/v1/webhooks/twilio/:tenantId", AUTH_NONE, h_tw_webhook },
    { "POST", "/v1/apps/register", AUTH_KEY, h_apps_register },
    { "GET", "/v1/apps", AUTH_KEY, h_apps_list },
    { "GET", "/v1/apps/:id", AUTH_KEY, h_apps_get },
    { "PUT", "/v1/apps/:id", AUTH_KEY, h_apps_put },
    { "DELETE", "/v1/apps/:id", AUTH_KEY, h_apps_delete },
    { "POST", "/v1/apps/:id/rotate-key", AUTH_KEY, h_apps_rotate },
    { "POST", "/v1/ws/token", AUTH_KEY, h_ws_token },
    { "POST", "/v1/apps/:id/test-webhook", AUTH_KEY, h_apps_test_webhook },
    { "GET", "/v1/apps/:id/webhooks/dead", AUTH_KEY, h_webhooks_dead },
    { "POST", "/v1/apps/:id/webhooks/dead/:did/replay", AUTH_KEY, h_webhooks_replay },
    { NULL, NULL, 0, NULL },
};
_Static_assert(sizeof routes / sizeof routes[0] <= SGW_HTTP_ROUTES_MAX,
               "raise SGW_HTTP_ROUTES_MAX (http/http.h)");

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 303: return "See Other";
    default: return status < 500 ? "Error" : "Internal Server Error";
    }
}

void sgw_reply_head(sgw_req *r, int status, size_t len)
{
    r->status = status;
    mg_printf(r->conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\n%s\r\n",
              status, reason(status), len, r->extra_headers);
}

void sgw_reply_raw(sgw_req *r, int status, const char *json, size_t len)
{
    int head_only = strcmp(r->method, "HEAD") == 0;
    char small[4096];
    int hl = snprintf(small, sizeof small,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n%s\r\n",
                      status, reason(status), len, r->extra_headers);
    if (hl < 0 || (size_t)hl >= sizeof small || (!head_only && len > sizeof small - (size_t)hl)) {
        sgw_reply_head(r, status, len); /* large: the head, then the body */
        if (!head_only)
            mg_write(r->conn, json, len);
        return;
    }
    /* small (most answers): head and body in one write, one TCP segment */
    r->status = status;
    if (!head_only) {
        memcpy(small + hl, json, len);
        hl += (int)len;
    }
    mg_write(r->conn, small, (size_t)hl);
}

void sgw_reply_html(sgw_req *r, int status, const char *html)
{
    size_t len = strlen(html);
    r->status = status;
    mg_printf(r->conn,
              "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nX-Frame-Options: DENY\r\n"
              "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
              "form-action 'self'\r\n%s\r\n",
              status, reason(status), len, r->extra_headers);
    if (strcmp(r->method, "HEAD") != 0)
        mg_write(r->conn, html, len);
}

void sgw_reply_redirect(sgw_req *r, const char *location)
{
    r->status = 303;
    mg_printf(r->conn,
              "HTTP/1.1 303 See Other\r\nLocation: %s\r\nContent-Length: 0\r\n"
              "Cache-Control: no-store\r\n%s\r\n",
              location, r->extra_headers);
}

void sgw_reply_json(sgw_req *r, int status, json_t *json)
{
    char *s = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (!s) {
        sgw_reply_raw(r, 500, "{\"error\":\"Internal error\",\"code\":\"internal\"}", 44);
        return;
    }
    sgw_reply_raw(r, status, s, strlen(s));
    free(s);
}

void sgw_reply_error(sgw_req *r, int status, const char *code, const char *error)
{
    sgw_reply_json(r, status, json_pack("{s:s, s:s}", "error", error, "code", code));
}

json_t *sgw_req_json_object(sgw_req *r)
{
    json_error_t err;
    json_t *o = json_loadb(r->body ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!o) {
        sgw_reply_error(r, 400, "validation_error", "Invalid JSON");
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        sgw_reply_error(r, 400, "validation_error", "Request body must be a JSON object");
        return NULL;
    }
    return o;
}

int sgw_req_query(sgw_req *r, const char *name, char *out, size_t outsz)
{
    const char *qs = r->ri->query_string;
    if (!qs)
        return 0;
    return mg_get_var(qs, strlen(qs), name, out, outsz) >= 0;
}

/* Match path against pattern; fills r->param. */
static int route_match(const char *pattern, const char *path, sgw_req *r)
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++, s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), sl = se ? (size_t)(se - s) : strlen(s);
        if (*p == ':') {
            if (sl == 0 || sl >= sizeof r->parambuf[0] || np == 3)
                return 0;
            memcpy(r->parambuf[np], s, sl);
            r->parambuf[np][sl] = '\0';
            r->param[np] = r->parambuf[np];
            np++;
        } else if (pl != sl || memcmp(p, s, pl) != 0) {
            return 0;
        }
        p += pl, s += sl;
    }
    return *p == '\0' && (*s == '\0' || (s[0] == '/' && s[1] == '\0'));
}

static int read_body(sgw_req *r)
{
    long long cl = r->ri->content_length;
    int64_t max = r->srv->max_body;
    if (cl > max) {
        sgw_reply_error(r, 413, "payload_too_large", "Request body too large");
        return 0;
    }
    size_t cap = cl >= 0 ? (size_t)cl : 4096, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return 0;
    for (;;) {
        if (len == cap) {
            if ((int64_t)cap >= max + 1) {
                free(buf);
                sgw_reply_error(r, 413, "payload_too_large", "Request body too large");
                return 0;
            }
            size_t ncap = cap * 2 > (size_t)max + 1 ? (size_t)max + 1 : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                return 0;
            }
            buf = nb;
            cap = ncap;
        }
        int got = mg_read(r->conn, buf + len, cap - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        if ((int64_t)len > max) {
            free(buf);
            sgw_reply_error(r, 413, "payload_too_large", "Request body too large");
            return 0;
        }
    }
    buf[len] = '\0';
    r->body = buf;
    r->body_len = len;
    return 1;
}

const int sgw_http_codes[SGW_HTTP_NCODES - 1] = { 101, 200, 201, 202, 204, 303, 400, 401, 402,
                                                  403, 404, 405, 409, 413, 429, 500, 502, 503 };

int sgw_http_route_label(int i, const char **method, const char **pattern)
{
    int n = (int)(sizeof routes / sizeof routes[0]) - 1;
    if (i == SGW_HTTP_ROUTES_MAX - 1) {
        *method = "";
        *pattern = "unmatched";
        return 1;
    }
    if (i < 0 || i >= n)
        return 0;
    *method = routes[i].method;
    *pattern = routes[i].pattern;
    return 1;
}

static void count_request(sgw_http *srv, const route *rt, int status, int64_t us)
{
    int ri = rt ? (int)(rt - routes) : SGW_HTTP_ROUTES_MAX - 1;
    if (ri >= SGW_HTTP_ROUTES_MAX - 1)
        ri = SGW_HTTP_ROUTES_MAX - 1;
    int ci = SGW_HTTP_NCODES - 1;
    for (int k = 0; k < SGW_HTTP_NCODES - 1; k++)
        if (sgw_http_codes[k] == status) {
            ci = k;
            break;
        }
    atomic_fetch_add_explicit(&srv->by_route[ri][ci], 1, memory_order_relaxed);
    if (us > 0)
        atomic_fetch_add_explicit(&srv->route_us[ri], (uint64_t)us, memory_order_relaxed);
}

static int http_dispatch(struct mg_connection *conn, void *cbdata)
{
    sgw_http *srv = cbdata;
    sgw_req r = { .conn = conn, .srv = srv };
    r.ri = mg_get_request_info(conn);
    r.method = r.ri->request_method;
    r.path = r.ri->local_uri ? r.ri->local_uri : "/";
    atomic_fetch_add_explicit(&srv->requests, 1, memory_order_relaxed);
    int64_t t0 = sgw_mono_us();

    const route *rt = NULL;
    int path_known = 0;
    for (const route *x = routes; x->method; x++) {
        sgw_req probe = r;
        if (route_match(x->pattern, r.path, &probe)) {
            path_known = 1;
            if (strcmp(x->method, r.method) == 0) {
                rt = x;
                route_match(x->pattern, r.path, &r); /* params point into r itself */
                break;
            }
        }
    }
    if (!rt) {
        if (path_known)
            sgw_reply_error(&r, 405, "method_not_allowed", "Method not allowed");
        else
            sgw_reply_error(&r, 404, "not_found", "Not found");
        goto done;
    }
    r.route = rt->pattern;
    if ((rt->auth & AUTH_KEY) && sgw_auth_ip_blocked(&r))
        goto done;
    if (!(rt->auth & STREAM) && !read_body(&r))
        goto done;
    if ((rt->auth & AUTH_KEY) && !sgw_auth_check(&r))
        goto done;
    rt->fn(&r);
done:
    free(r.body);
    if (r.status >= 100 && r.status < 600)
        atomic_fetch_add_explicit(&srv->by_class[r.status / 100], 1, memory_order_relaxed);
    count_request(srv, rt, r.status, sgw_mono_us() - t0);
    return r.status ? r.status : 500;
}

/* civetweb listens from mg_start2 on, before the handlers are set: a
 * request in that moment gets 503 (retry), not civetweb's own 404. */
static int http_begin_request(struct mg_connection *conn)
{
    sgw_http *h = mg_get_user_data(mg_get_context(conn));
    if (h && atomic_load(&h->handlers_set))
        return 0;
    static const char body[] = "{\"error\":\"Starting\",\"code\":\"unavailable\"}";
    mg_printf(conn,
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
              "Retry-After: 1\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
              sizeof body - 1, body);
    return 503;
}

static int http_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    sgw_log(SGW_LOG_WARN, "http", "%s", message);
    return 1;
}

sgw_err sgw_http_start(const sgw_http_deps *deps, sgw_http **out, char *why, size_t whysz)
{
    sgw_http *h = calloc(1, sizeof *h);
    if (!h)
        return SGW_ENOMEM;
    h->deps = *deps;
    h->max_body = sgw_cfg_int(deps->cfg, "http.max_body_bytes");
    h->request_timeout_ms = sgw_cfg_int(deps->cfg, "http.request_timeout_ms");
    const char *ak = sgw_cfg_str(deps->cfg, "admin_key");
    if (ak[0]) {
        if (!sgw_id_valid(ak, "sgw_", 32)) {
            snprintf(why, whysz, "admin_key (SMSGW_ADMIN_KEY) must be sgw_ followed by 32 "
                                 "lowercase hex digits");
            free(h);
            return SGW_ECONFIG;
        }
        sgw_sha256_hex(h->admin_key_hash, ak, strlen(ak));
    }
    if (sgw_limits_new(deps->cfg, &h->limits) != SGW_OK ||
        sgw_rc_flow_new(deps->cfg, &h->rc_flow) != SGW_OK) {
        sgw_limits_destroy(&h->limits);
        free(h);
        return SGW_ENOMEM;
    }
    int rv;
    if ((rv = nng_req0_open(&h->req)) != 0 ||
        (rv = nng_socket_set_ms(h->req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)) != 0 ||
        (rv = nng_dial(h->req, SGW_INGRESS_REQ_URL, NULL, 0)) != 0) {
        snprintf(why, whysz, "bus %s: %s", SGW_INGRESS_REQ_URL, nng_strerror(rv));
        sgw_limits_destroy(&h->limits);
        sgw_rc_flow_destroy(&h->rc_flow);
        free(h);
        return SGW_EIO;
    }
    char threads[16], timeout[24];
    snprintf(threads, sizeof threads, "%lld", (long long)sgw_cfg_int(deps->cfg, "http.threads"));
    snprintf(timeout, sizeof timeout, "%lld", (long long)h->request_timeout_ms + 5000);
    const char *options[] = {
        "listening_ports", sgw_cfg_str(deps->cfg, "listen"),
        "num_threads", threads,
        "enable_keep_alive", "yes",
        "keep_alive_timeout_ms", "30000",
        "request_timeout_ms", timeout,
        "tcp_nodelay", "1",
        "websocket_timeout_ms", "1000",  /* how often a WebSocket's read loop sees mg_stop */
        NULL,
    };
    struct mg_callbacks cb = { 0 };
    cb.log_message = http_log_message;
    cb.begin_request = http_begin_request;
    mg_init_library(0);
    struct mg_init_data init = { .callbacks = &cb, .user_data = h, .configuration_options = options };
    struct mg_error_data err = { .text = why, .text_buffer_size = whysz };
    h->ctx = mg_start2(&init, &err);
    if (!h->ctx) {
        nng_close(h->req);
        sgw_limits_destroy(&h->limits);
        sgw_rc_flow_destroy(&h->rc_flow);
        free(h);
        return SGW_EIO;
    }
    mg_set_request_handler(h->ctx, "/", http_dispatch, h);
    if (sgw_ws_http_start(h, why, whysz) != SGW_OK) {
        mg_stop(h->ctx);
        nng_close(h->req);
        sgw_limits_destroy(&h->limits);
        sgw_rc_flow_destroy(&h->rc_flow);
        free(h);
        return SGW_EIO;
    }
    atomic_store(&h->handlers_set, 1);
    *out = h;
    return SGW_OK;
}

void sgw_http_stop(sgw_http **hp)
{
    if (!hp || !*hp)
        return;
    sgw_http *h = *hp;
    sgw_ws_http_shutdown(h);  /* close 1001 to every WebSocket session */
    mg_stop(h->ctx);
    sgw_ws_http_free(h);
    nng_close(h->req);
    sgw_limits_destroy(&h->limits);
    sgw_rc_flow_destroy(&h->rc_flow);
    free(h);
    *hp = NULL;
}
