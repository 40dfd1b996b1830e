/*
 * transport/curlpoll.c — see curlpoll.h.
 */
#include <stdlib.h>
#include <string.h>

#include "transport/curlpoll.h"

static int curlpoll_socket_cb(CURL *e, curl_socket_t s, int what, void *ud, void *sockp)
{
    (void)e;
    (void)sockp;
    sgw_curlpoll *p = ud;
    int i;
    for (i = 0; i < p->nfds && p->fds[i].fd != s; i++)
        ;
    if (what == CURL_POLL_REMOVE) {
        if (i < p->nfds)
            p->fds[i] = p->fds[--p->nfds];
        return 0;
    }
    if (i == p->nfds) {
        if (p->nfds == p->cap) {
            int cap = p->cap ? p->cap * 2 : 16;
            struct pollfd *v = realloc(p->fds, sizeof *v * (size_t)cap);
            if (!v)
                return -1;
            p->fds = v;
            p->cap = cap;
        }
        p->nfds++;
    }
    p->fds[i].fd = s;
    p->fds[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
                               (what & CURL_POLL_OUT ? POLLOUT : 0));
    p->fds[i].revents = 0;
    return 0;
}

static int curlpoll_timer_cb(CURLM *m, long timeout_ms, void *ud)
{
    (void)m;
    sgw_curlpoll *p = ud;
    p->due = timeout_ms < 0 ? -1 : p->clock() + timeout_ms;
    return 0;
}

void sgw_curlpoll_attach(sgw_curlpoll *p, CURLM *m, int64_t (*clock)(void))
{
    memset(p, 0, sizeof *p);
    p->due = -1;
    p->clock = clock;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, curlpoll_socket_cb);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, curlpoll_timer_cb);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, p);
}

int sgw_curlpoll_copy(const sgw_curlpoll *p, struct pollfd *out, int max)
{
    int n = p->nfds < max ? p->nfds : max;
    if (n <= 0)
        return 0;
    memcpy(out, p->fds, sizeof *out * (size_t)n);
    return n;
}

void sgw_curlpoll_run(sgw_curlpoll *p, CURLM *m)
{
    int running, n = p->nfds;
    if (n > 0) {
        /* a copy: socket_action's callbacks change p->fds as it goes */
        struct pollfd stackv[64], *v = n <= 64 ? stackv : malloc(sizeof *v * (size_t)n);
        if (v) {
            memcpy(v, p->fds, sizeof *v * (size_t)n);
            if (poll(v, (nfds_t)n, 0) > 0)
                for (int i = 0; i < n; i++) {
                    short r = v[i].revents;
                    if (!r)
                        continue;
                    int ev = (r & (POLLIN | POLLHUP) ? CURL_CSELECT_IN : 0) |
                             (r & POLLOUT ? CURL_CSELECT_OUT : 0) |
                             (r & (POLLERR | POLLNVAL) ? CURL_CSELECT_ERR : 0);
                    curl_multi_socket_action(m, v[i].fd, ev, &running);
                }
            if (v != stackv)
                free(v);
        }
    }
    if (p->due >= 0 && p->clock() >= p->due) {
        p->due = -1; /* the timer callback sets the next one */
        curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
    }
}

void sgw_curlpoll_free(sgw_curlpoll *p)
{
    free(p->fds);
    p->fds = NULL;
    p->nfds = p->cap = 0;
}
