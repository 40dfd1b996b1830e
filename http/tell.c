/*
 * http/tell.c — one-way messages from HTTP handlers to actors' bus inputs
 * (push0 sockets dialed to sgw_bus_url(actor), opened on first use, one
 * per actor for the process, shared by civetweb's threads: nng sockets are
 * thread-safe), and requests that wait for an actor's answer
 * (sgw_http_ask, on a req0 socket).
 */
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "http/http.h"

#define TELL_MAX 4

static pthread_mutex_t tell_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char actor[32];
    nng_socket sock;
} tells[TELL_MAX];
static int ntells;

static int tell_socket(const char *actor, nng_socket *out)
{
    int ok = 0;
    pthread_mutex_lock(&tell_lock);
    for (int i = 0; i < ntells; i++)
        if (strcmp(tells[i].actor, actor) == 0) {
            *out = tells[i].sock;
            ok = 1;
        }
    if (!ok && ntells < TELL_MAX) {
        char url[128];
        sgw_bus_url(url, sizeof url, actor);
        nng_socket s;
        if (nng_push0_open(&s) == 0) {
            if (nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK) == 0) {
                snprintf(tells[ntells].actor, sizeof tells[ntells].actor, "%s", actor);
                tells[ntells++].sock = s;
                *out = s;
                ok = 1;
            } else {
                nng_close(s);
            }
        }
    }
    pthread_mutex_unlock(&tell_lock);
    return ok;
}

sgw_err sgw_http_tell(const char *actor, sgw_msg *m, int timeout_ms)
{
    nng_socket s;
    if (!tell_socket(actor, &s)) {
        sgw_log(SGW_LOG_WARN, "http", "no bus socket to %s", actor);
        return SGW_EIO;
    }
    return sgw_actor_send(NULL, s, m, timeout_ms);
}

sgw_err sgw_http_tell_list(const char *actor, sgw_msg_type type, int code, sgw_list *l,
                           int timeout_ms)
{
    nng_socket s;
    if (!tell_socket(actor, &s)) {
        sgw_log(SGW_LOG_WARN, "http", "no bus socket to %s", actor);
        return SGW_EIO;
    }
    return sgw_list_send(NULL, s, type, code, l, timeout_ms);
}

int sgw_http_ask(nng_socket req, const sgw_msg *m, int timeout_ms, nng_msg **reply,
                 sgw_msg *ans)
{
    *reply = NULL;
    void *buf;
    size_t len;
    if (sgw_msg_encode(m, &buf, &len) != SGW_OK)
        return -1;
    /* one context per request: the reply finds its way back to this one */
    nng_ctx ctx;
    nng_aio *aio = NULL;
    nng_msg *nm = NULL;
    int rv = nng_ctx_open(&ctx, req);
    int ctx_open = rv == 0;
    if (rv == 0 && (rv = nng_aio_alloc(&aio, NULL, NULL)) == 0 &&
        (rv = nng_msg_alloc(&nm, 0)) == 0 && (rv = nng_msg_append(nm, buf, len)) == 0) {
        nng_aio_set_timeout(aio, (nng_duration)timeout_ms);
        nng_aio_set_msg(aio, nm);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if ((rv = nng_aio_result(aio)) == 0) {
            nm = NULL; /* the socket owns it now */
            nng_ctx_recv(ctx, aio);
            nng_aio_wait(aio);
            if ((rv = nng_aio_result(aio)) == 0)
                *reply = nng_aio_get_msg(aio);
        }
    }
    if (aio)
        nng_aio_free(aio);
    if (ctx_open)
        nng_ctx_close(ctx);
    free(buf);
    if (nm)
        nng_msg_free(nm);
    if (rv != 0)
        return rv;
    if (sgw_msg_decode(nng_msg_body(*reply), nng_msg_len(*reply), ans) != SGW_OK ||
        ans->type != SGW_MSG_REPLY)
        return -1;
    return 0;
}
