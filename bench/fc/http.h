/*
 * bench/fc/http.h — fakecarrier: one request's context, reading it,
 * answering it (RingCentral's error shapes), bearer authentication, the
 * X-Rate-Limit headers, and dropping a connection without an answer.
 *
 * Handlers answer through these helpers and return the HTTP status they
 * sent (FC_DROPPED when the connection was closed without an answer).
 */
#ifndef FC_HTTP_H
#define FC_HTTP_H

#include "notify.h"

#define FC_DROPPED 999 /* civetweb's "handled" range is 1-999 */

typedef struct fc_req {
    struct mg_connection *c;
    const struct mg_request_info *ri;
    const char *method;
    char path[1024];
    char *seg[16];
    int nseg;
    char *body;
    size_t len;
    char hdrs[1024]; /* extra response headers, "Name: value\r\n" each */
    size_t hlen;
    char owner[FC_ID]; /* the token's extension, once authenticated */
    int restapi;       /* counted in the stats' responses */
} fc_req;

static void req_header(fc_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void req_header(fc_req *r, const char *fmt, ...)
{
    if (r->hlen >= sizeof r->hdrs - 3)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->hdrs + r->hlen, sizeof r->hdrs - r->hlen - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof r->hdrs - r->hlen - 2) {
        r->hdrs[r->hlen] = 0; /* did not fit: leave it out */
        return;
    }
    r->hlen += (size_t)n;
    memcpy(r->hdrs + r->hlen, "\r\n", 3);
    r->hlen += 2;
}

static int req_is(const fc_req *r, const char *method)
{
    return strcmp(r->method, method) == 0;
}

/* Read the whole body (at most FC_MAX_BODY); -1 if it is larger or the
 * connection failed. */
static int req_read_body(fc_req *r)
{
    long long cl = r->ri->content_length;
    if (cl > FC_MAX_BODY)
        return -1;
    size_t cap = cl > 0 ? (size_t)cl + 1 : 1024;
    r->body = malloc(cap);
    if (!r->body)
        return -1;
    r->len = 0;
    for (;;) {
        if (r->len + 1 >= cap) {
            if (cap > FC_MAX_BODY)
                return -1;
            char *b = realloc(r->body, cap * 2);
            if (!b)
                return -1;
            r->body = b;
            cap *= 2;
        }
        int n = mg_read(r->c, r->body + r->len, cap - 1 - r->len);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        r->len += (size_t)n;
    }
    r->body[r->len] = 0;
    return 0;
}

static int reply_raw(fc_req *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->restapi && status >= 100 && status < 600) {
        /* before the answer leaves, so a client that got it sees it counted */
        pthread_mutex_lock(&G.mu);
        G.st.responses[status]++;
        pthread_mutex_unlock(&G.mu);
    }
    const char *text = mg_get_response_code_text(r->c, status);
    if (status == 204)
        mg_printf(r->c, "HTTP/1.1 204 %s\r\n%s\r\n", text, r->hdrs);
    else
        mg_printf(r->c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
                  status, text, ctype, len, r->hdrs);
    if (len && status != 204)
        mg_write(r->c, body, len);
    return status;
}

/* Answer with a JSON value (taken). */
static int reply_json(fc_req *r, int status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return reply_raw(r, 500, "application/json", "{}", 2);
    int ret = reply_raw(r, status, "application/json; charset=UTF-8", s, strlen(s));
    free(s);
    return ret;
}

static json_t *rc_error_item(const char *code, const char *msg, const char *param, const char *value)
{
    json_t *e = json_object();
    jset_s(e, "errorCode", code);
    jset_s(e, "message", msg);
    if (param)
        jset_s(e, "parameterName", param);
    if (value)
        jset_s(e, "parameterValue", value);
    return e;
}

/* RingCentral's REST error: the first error repeated at the top level
 * (transport/README.md section 5.1). top/topmsg may differ from the nested
 * code (401s: "TokenInvalid" outside, "OAU-213" inside). */
static int rc_error_full(fc_req *r, int status, const char *top, const char *topmsg,
                         const char *code, const char *msg, const char *param, const char *value)
{
    json_t *o = json_object();
    jset_s(o, "errorCode", top);
    jset_s(o, "message", topmsg);
    json_t *errs = json_array();
    json_array_append_new(errs, rc_error_item(code, msg, param, value));
    json_object_set_new(o, "errors", errs);
    if (param)
        jset_s(o, "parameterName", param);
    return reply_json(r, status, o);
}

static int rc_error(fc_req *r, int status, const char *code, const char *msg, const char *param,
                    const char *value)
{
    return rc_error_full(r, status, code, msg, code, msg, param, value);
}

/* "Parameter [name] value is invalid" (CMN-101). */
static int rc_bad_param(fc_req *r, const char *param, const char *value)
{
    char msg[256];
    snprintf(msg, sizeof msg, "Parameter [%s] value is invalid", param);
    return rc_error(r, 400, "CMN-101", msg, param, value);
}

/* "Resource for parameter [name] is not found" (CMN-102). */
static int rc_not_found(fc_req *r, const char *param, const char *value)
{
    char msg[256];
    snprintf(msg, sizeof msg, "Resource for parameter [%s] is not found", param);
    return rc_error(r, 404, "CMN-102", msg, param, value);
}

/* An OAuth error: RFC 6749's error and error_description plus
 * RingCentral's errors[] (transport/README.md section 1.4). */
static int oauth_error(fc_req *r, int status, const char *err, const char *code, const char *desc)
{
    json_t *o = json_object();
    jset_s(o, "error", err);
    jset_s(o, "error_description", desc);
    json_t *errs = json_array();
    json_array_append_new(errs, rc_error_item(code, desc, NULL, NULL));
    json_object_set_new(o, "errors", errs);
    return reply_json(r, status, o);
}

/* The control API's errors: {"error": "..."}. */
static int fake_error(fc_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fake_error(fc_req *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_object();
    jset_s(o, "error", msg);
    return reply_json(r, status, o);
}

/* ------------------------------------------------------------ auth */

/* Check the bearer token of a /restapi/v1.0 call. 0 when it is valid
 * (r->owner is set); otherwise the 401 has been answered and its status
 * is returned. */
static int req_auth(fc_req *r)
{
    const char *h = mg_get_header(r->c, "Authorization");
    if (!h || !*h)
        return rc_error(r, 401, "AGW-401", "Authorization header is not specified", NULL, NULL);
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return rc_error(r, 401, "AGW-402", "Invalid Authorization header", NULL, NULL);
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    int state; /* 0 ok, 1 unknown, 2 expired */
    pthread_mutex_lock(&G.mu);
    fc_token *k = tok_find_locked(t);
    if (!k || k->kind != TOK_ACCESS || k->revoked)
        state = 1;
    else if (k->expires_ms <= fc_mono_ms() || k->seq <= G.expire_seq)
        state = 2;
    else {
        state = 0;
        fc_copy(r->owner, sizeof r->owner, k->owner);
    }
    pthread_mutex_unlock(&G.mu);
    if (state == 1)
        return rc_error_full(r, 401, "TokenInvalid", "Token not found", "OAU-213",
                             "Token not found", NULL, NULL);
    if (state == 2)
        return rc_error_full(r, 401, "TokenExpired", "Access token expired", "OAU-128",
                             "Access token expired", NULL, NULL);
    return 0;
}

/* HTTP Basic client authentication of the OAuth endpoints. 0 when the
 * client is this app; otherwise the 401 has been answered. */
static int req_client_auth(fc_req *r)
{
    const char *h = mg_get_header(r->c, "Authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return oauth_error(r, 401, "invalid_client", "OAU-123",
                           "Client authentication is required");
    unsigned char dec[512];
    const char *b = h + 6;
    while (*b == ' ')
        b++;
    int n = fc_b64decode(b, dec, sizeof dec - 1);
    if (n < 0)
        return oauth_error(r, 401, "invalid_client", "OAU-123",
                           "Invalid Authorization header value");
    dec[n] = 0;
    char *colon = strchr((char *)dec, ':');
    if (!colon || strlen((char *)dec) != (size_t)n)
        return oauth_error(r, 401, "invalid_client", "OAU-123",
                           "Invalid Authorization header value");
    *colon = 0;
    if (strcmp((char *)dec, G.client_id) != 0 || strcmp(colon + 1, G.client_secret) != 0)
        return oauth_error(r, 401, "invalid_client", "OAU-146", "Invalid client credentials");
    return 0;
}

/* ------------------------------------------------------------ rate limits */

/* Count the request in its RingCentral group for ext and add the
 * X-Rate-Limit-* headers. An SMS send with ext_limit set uses that limit
 * and window instead, always enforced; group limits are enforced only with
 * group_limits (otherwise Remaining stays at Limit). 0, or the status of
 * the 429 answered. */
static int req_rate(fc_req *r, int group, const char *ext, int sms)
{
    long long limit, window_s, remaining, retry = 0;
    pthread_mutex_lock(&G.mu);
    if (sms && G.k.ext_limit > 0) {
        limit = G.k.ext_limit;
        window_s = G.k.ext_window_s;
        fc_window *w = window_get_locked(ext, G_EXT, window_s);
        if (w->count >= limit)
            retry = window_reset_s(w, window_s);
        else
            w->count++;
        remaining = limit - w->count;
    } else {
        limit = fc_group_limits[group];
        window_s = FC_GROUP_WINDOW_S;
        int enforce = G.k.group_limits;
        fc_window *w = window_get_locked(ext, group, window_s);
        if (enforce && w->count >= limit)
            retry = window_reset_s(w, window_s);
        else
            w->count++;
        remaining = enforce ? limit - w->count : limit;
    }
    pthread_mutex_unlock(&G.mu);
    req_header(r, "X-Rate-Limit-Group: %s", fc_group_names[group]);
    req_header(r, "X-Rate-Limit-Limit: %lld", limit);
    req_header(r, "X-Rate-Limit-Remaining: %lld", remaining < 0 ? 0 : remaining);
    req_header(r, "X-Rate-Limit-Window: %lld", window_s);
    if (retry > 0) {
        req_header(r, "Retry-After: %lld", retry);
        return rc_error(r, 429, "CMN-301", "Request rate exceeded", NULL, NULL);
    }
    return 0;
}

/* ------------------------------------------------------------ dropping */

static int sockaddr_port(const struct sockaddr_storage *sa, char *addr, size_t cap)
{
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)cap);
        return ntohs(in->sin_port);
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)cap);
        return ntohs(in6->sin6_port);
    }
    addr[0] = 0;
    return -1;
}

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer's annotations (exported by its runtime). */
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define FC_TSAN_IGNORE_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define FC_TSAN_IGNORE_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define FC_TSAN_IGNORE_READS_BEGIN() ((void)0)
#define FC_TSAN_IGNORE_READS_END() ((void)0)
#endif

/* Close the request's connection without an answer, as a carrier that
 * drops it would. civetweb 1.15 gives a handler neither the socket nor a
 * way to close it (mg_close_connection is only for client connections), so
 * the socket is found among our descriptors by its address pair (the
 * server port and the client's address and port, which no other open
 * socket shares), then set to linger 0 and shut down both ways: the
 * client sees the connection closed with nothing sent, and civetweb,
 * finding it dead, closes it. */
static int req_drop(fc_req *r)
{
    DIR *d = opendir("/proc/self/fd");
    int found = 0;
    /* The scan only reads other threads' descriptors (fstat, getsockname,
     * getpeername); the one it shuts down is this request's, which no one
     * else closes before this handler returns. */
    pthread_mutex_lock(&G.mu);
    G.st.dropped++; /* before the client can see the close */
    pthread_mutex_unlock(&G.mu);
    FC_TSAN_IGNORE_READS_BEGIN();
    if (d) {
        struct dirent *de;
        while (!found && (de = readdir(d)) != NULL) {
            long long fd = fc_parse_uint(de->d_name);
            if (fd < 0 || fd == dirfd(d))
                continue;
            struct stat st;
            if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode))
                continue;
            struct sockaddr_storage la, pa;
            socklen_t ll = sizeof la, pl = sizeof pa;
            if (getsockname((int)fd, (struct sockaddr *)&la, &ll) != 0 ||
                getpeername((int)fd, (struct sockaddr *)&pa, &pl) != 0)
                continue;
            char laddr[64], paddr[64];
            if (sockaddr_port(&la, laddr, sizeof laddr) != r->ri->server_port ||
                sockaddr_port(&pa, paddr, sizeof paddr) != r->ri->remote_port)
                continue;
            const char *ra = r->ri->remote_addr;
            if (strcmp(paddr, ra) != 0 &&
                !(strncmp(paddr, "::ffff:", 7) == 0 && strcmp(paddr + 7, ra) == 0))
                continue;
            struct linger lg = { 1, 0 };
            setsockopt((int)fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            shutdown((int)fd, SHUT_RDWR);
            found = 1;
        }
        closedir(d);
    }
    FC_TSAN_IGNORE_READS_END();
    if (!found) {
        fc_log("drop: could not find the socket of %s:%d; answering 503 instead",
               r->ri->remote_addr, r->ri->remote_port);
        pthread_mutex_lock(&G.mu);
        G.st.dropped--;
        pthread_mutex_unlock(&G.mu);
        return rc_error(r, 503, "CMN-201", "Service Temporary Unavailable", NULL, NULL);
    }
    return FC_DROPPED;
}

#endif
