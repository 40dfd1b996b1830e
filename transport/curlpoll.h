/*
 * transport/curlpoll.h — a libcurl multi handle driven from an actor's
 * poll loop (the actor runtime's ops->fds and tick): the sockets curl wants
 * watched, as pollfds, and when curl's timer is due.
 *
 *     sgw_curlpoll_attach(&self->cp, self->multi, sgw_mono_ms);
 *     ... ops->fds:  n += sgw_curlpoll_copy(&self->cp, pfd + n, max - n);
 *     ... tick:      sgw_curlpoll_run(&self->cp, self->multi) (or
 *                    sgw_curlreq_drive); next deadline <= self->cp.due
 *
 * curl is driven with curl_multi_socket_action only (never
 * curl_multi_perform, which does not report the sockets to watch: a
 * connection in progress would wait for the next tick).
 *
 * Used by transport/ringcentral.c, actors/webhooks.c and actors/rcwebhook.c.
 */
#ifndef SGW_CURLPOLL_H
#define SGW_CURLPOLL_H

#include <curl/curl.h>
#include <poll.h>
#include <stdint.h>

typedef struct sgw_curlpoll {
    struct pollfd *fds;     /* the sockets curl asked to watch */
    int nfds, cap;
    int64_t due;            /* curl's timer, on clock(); -1: none */
    int64_t (*clock)(void); /* sgw_mono_ms or sgw_now_ms: the caller's deadlines */
} sgw_curlpoll;

/* Zero p's state and make m report its sockets and timer into it. */
void sgw_curlpoll_attach(sgw_curlpoll *p, CURLM *m, int64_t (*clock)(void));
/* Copy at most max of the watched sockets to out; returns how many. */
int sgw_curlpoll_copy(const sgw_curlpoll *p, struct pollfd *out, int max);
/* Hand curl what is ready: each watched socket that poll (not waiting)
 * finds ready, then its timer if it is due. New transfers (added handles)
 * start here, at the timer curl sets for them. */
void sgw_curlpoll_run(sgw_curlpoll *p, CURLM *m);
void sgw_curlpoll_free(sgw_curlpoll *p);

#endif
