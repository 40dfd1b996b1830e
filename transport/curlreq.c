/*
 * transport/curlreq.c — see curlreq.h.
 */
#include "transport/curlreq.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t curlresp_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sgw_curlresp *r = ud;
    size_t n = size * nmemb;
    if (r->len + n > r->max)
        return 0;
    char *p = realloc(r->body, r->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, ptr, n);
    r->body = p;
    r->len += n;
    p[r->len] = '\0';
    return n;
}

static size_t curlresp_header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    sgw_curlresp *r = ud;
    size_t n = size * nitems;
    if (n > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        long s = strtol(buf + 12, NULL, 10);
        if (s > 0 && s < 86400)
            r->retry_after_ms = (int64_t)s * 1000;
    }
    return n;
}

void sgw_curlresp_reset(sgw_curlresp *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->retry_after_ms = 0;
}

void sgw_curlreq_drop(CURL **easy, struct curl_slist **hdrs, char **post, sgw_curlresp *resp)
{
    if (*easy)
        curl_easy_cleanup(*easy);
    *easy = NULL;
    curl_slist_free_all(*hdrs);
    *hdrs = NULL;
    if (*post) {
        memset(*post, 0, strlen(*post));
        free(*post);
        *post = NULL;
    }
    sgw_curlresp_reset(resp);
}

static pthread_once_t curlreq_once = PTHREAD_ONCE_INIT;
static void curlreq_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void sgw_curlreq_global_init(void) { pthread_once(&curlreq_once, curlreq_init); }

CURL *sgw_curlreq_new(const char *url, int64_t timeout_ms, int64_t connect_timeout_ms,
                      sgw_curlresp *resp, size_t max, void *priv)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    resp->max = max;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curlresp_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, curlresp_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(e, CURLOPT_PRIVATE, priv);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "smsgw/0.1");
    return e;
}

void sgw_curlreq_drive(sgw_curlpoll *p, CURLM *m, void (*done)(void *ctx, void *priv, CURLcode cr),
                       void *ctx)
{
    sgw_curlpoll_run(p, m);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        void *priv = NULL;
        CURLcode cr = msg->data.result;
        CURL *e = msg->easy_handle;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&priv);
        curl_multi_remove_handle(m, e);
        done(ctx, priv, cr);
    }
}
