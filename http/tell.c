/*
 * http/tell.c — one-way messages from HTTP handlers to actors' bus inputs
 * (push0 sockets dialed to sgw_bus_url(actor), opened on first use, one
 * per actor for the process, shared by civetweb's threads: nng sockets are
 * thread-safe).
 */
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <stdio.h>
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
