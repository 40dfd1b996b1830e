/*
 * transport/curlreq.h — the libcurl plumbing every smsgw caller of a
 * provider's REST API does alike (transport/ringcentral.c,
 * transport/twilio.c, actors/rcwebhook.c): an easy handle with the common
 * options, its answer gathered into a sgw_curlresp, and a multi handle's
 * finished transfers handed back one by one.
 *
 *     j->easy = sgw_curlreq_new(url, timeout_ms, connect_timeout_ms,
 *                               &j->resp, RESP_MAX, j);
 *     ... poll or tick:  sgw_curlreq_drive(&self->cp, multi, job_done, self);
 *     ... j->resp.body, j->resp.retry_after_ms; sgw_curlresp_reset(&j->resp)
 *
 * No state of its own: any thread, on handles that thread owns.
 */
#ifndef SGW_CURLREQ_H
#define SGW_CURLREQ_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/curlpoll.h"

/* An answer as curl receives it. */
typedef struct sgw_curlresp {
    char *body;             /* NUL-terminated once anything came, else NULL */
    size_t len;
    size_t max;             /* a longer body fails the transfer (CURLE_WRITE_ERROR) */
    int64_t retry_after_ms; /* its Retry-After (1 s to 1 day), 0: none */
} sgw_curlresp;

/* Free the body and forget the Retry-After (for the next request). */
void sgw_curlresp_reset(sgw_curlresp *r);
/* A request is over: clean up its handle, free its headers and the body
 * it sent (wiped first: it may hold secrets), each left NULL, and reset
 * its answer, so that its job can make another. */
void sgw_curlreq_drop(CURL **easy, struct curl_slist **hdrs, char **post, sgw_curlresp *resp);

/* curl_global_init, once per process. */
void sgw_curlreq_global_init(void);

/* A new easy handle for url (GET until the caller sets more): no signals,
 * the two timeouts, http and https only, smsgw's User-Agent, the answer
 * (at most max bytes) and its Retry-After into resp, priv as
 * CURLOPT_PRIVATE. NULL when curl has no memory. */
CURL *sgw_curlreq_new(const char *url, int64_t timeout_ms, int64_t connect_timeout_ms,
                      sgw_curlresp *resp, size_t max, void *priv);

/* sgw_curlpoll_run (what is ready, the timer if due), then each finished
 * transfer: removed from m, then done(ctx, its CURLOPT_PRIVATE, its
 * result); done may add handles. */
void sgw_curlreq_drive(sgw_curlpoll *p, CURLM *m, void (*done)(void *ctx, void *priv, CURLcode cr),
                       void *ctx);

#endif
