#include "bus/actor.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus/log.h"
#include "bus/util.h"

#define ACTOR_MAX_INPUTS 8
#define ACTOR_MAX_QUEUE 8192

typedef struct actor_thread {
    sgw_actor *actor;
    sgw_actor_env env;
    pthread_t tid;
    void *state;
    int started;
} actor_thread;

struct sgw_actor {
    const struct sgw_actor_ops *ops;
    const sgw_cfg *cfg;
    int nthreads;
    int batch_max;
    int64_t linger_us;
    int queue_depth;   /* the input's bound (actors.<name>.queue_depth) */
    actor_thread *threads;
    nng_socket inputs[ACTOR_MAX_INPUTS];
    int input_raw[ACTOR_MAX_INPUTS];
    int input_fd[ACTOR_MAX_INPUTS];
    atomic_int ninputs;
    int wake_fd;
    atomic_int stopping;
    atomic_int running;
    sgw_actor_stats stats;
    int counter; /* index in queue_counters */
    nng_socket outputs[64];
    int noutputs;
    int stopped;
    /* start handshake */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready, failed;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

/* Queue depth of an actor = messages sent towards it - messages it took.
 * Counters are per actor name and never freed, so a sender can count
 * without holding a pointer to the actor (which may stop first). A socket
 * id maps to the counter of the actor it was dialed to. */
#define QUEUE_COUNTERS 32
#define SOCKET_IDS 4096
static struct {
    char name[32];
    atomic_int_fast64_t enq, deq;
} queue_counters[QUEUE_COUNTERS];
static atomic_int socket_counter[SOCKET_IDS]; /* counter index + 1; 0 = none */

static int counter_for(const char *name)
{
    int found = -1;
    pthread_mutex_lock(&reg_lock);
    for (int i = 0; i < QUEUE_COUNTERS && found < 0; i++) {
        if (queue_counters[i].name[0] == '\0') {
            snprintf(queue_counters[i].name, sizeof queue_counters[i].name, "%s", name);
            found = i;
        } else if (strcmp(queue_counters[i].name, name) == 0) {
            found = i;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return found;
}

static void counter_enqueued(nng_socket sock)
{
    int id = nng_socket_id(sock);
    int c = id > 0 && id < SOCKET_IDS ? atomic_load(&socket_counter[id]) : 0;
    if (c > 0)
        atomic_fetch_add_explicit(&queue_counters[c - 1].enq, 1, memory_order_relaxed);
}

void sgw_bus_url(char *out, size_t outsz, const char *name)
{
    snprintf(out, outsz, "inproc://sgw/%s", name);
}

static int64_t actor_cfg(const sgw_cfg *cfg, const char *actor, const char *key, int64_t dflt)
{
    char path[128];
    snprintf(path, sizeof path, "actors.%s.%s", actor, key);
    int64_t v = cfg ? sgw_cfg_int(cfg, path) : 0;
    return v > 0 ? v : dflt;
}

static int queue_bound(int64_t v) { return (int)(v > ACTOR_MAX_QUEUE ? ACTOR_MAX_QUEUE : v); }

int sgw_actor_add_input(const sgw_actor_env *env, nng_socket sock, int raw)
{
    sgw_actor *a = env->actor;
    int i = atomic_load(&a->ninputs);
    if (env->thread_index != 0 || i >= ACTOR_MAX_INPUTS)
        return -1;
    int fd = -1;
    if (nng_socket_get_int(sock, NNG_OPT_RECVFD, &fd) != 0)
        return -1;
    a->inputs[i] = sock;
    a->input_raw[i] = raw;
    a->input_fd[i] = fd;
    atomic_store(&a->ninputs, i + 1);
    return i;
}

sgw_err sgw_actor_connect(const sgw_actor_env *env, const char *to, nng_socket *out)
{
    char url[128];
    nng_socket s;
    int rv;
    sgw_bus_url(url, sizeof url, to);
    if ((rv = nng_push0_open(&s)) != 0) {
        sgw_log(SGW_LOG_ERROR, env->name, "push0 open: %s", nng_strerror(rv));
        return SGW_EIO;
    }
    nng_socket_set_int(s, NNG_OPT_SENDBUF,
                       queue_bound(actor_cfg(env->cfg, to, "queue_depth", 1024)));
    /* non-blocking: the dial completes in the background as soon as the
     * target listens, so actors that send to each other can start in any
     * order (ingress <-> validator) */
    nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 5);
    nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 100);
    if ((rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        sgw_log(SGW_LOG_ERROR, env->name, "dial %s: %s", url, nng_strerror(rv));
        nng_close(s);
        return SGW_EIO;
    }
    sgw_actor *a = env->actor;
    pthread_mutex_lock(&a->lock);
    if (a->noutputs == 64) {
        pthread_mutex_unlock(&a->lock);
        nng_close(s);
        return SGW_ENOMEM;
    }
    a->outputs[a->noutputs++] = s;
    pthread_mutex_unlock(&a->lock);
    int c = counter_for(to), id = nng_socket_id(s);
    if (c >= 0 && id > 0 && id < SOCKET_IDS)
        atomic_store(&socket_counter[id], c + 1);
    *out = s;
    return SGW_OK;
}

static sgw_err bus_msg_to_nng(const sgw_msg *m, const void *route, size_t route_len,
                              nng_msg **out)
{
    void *buf;
    size_t len;
    sgw_err rv = sgw_msg_encode(m, &buf, &len);
    if (rv != SGW_OK)
        return rv;
    nng_msg *nm;
    if (nng_msg_alloc(&nm, 0) != 0 || nng_msg_append(nm, buf, len) != 0 ||
        (route && nng_msg_header_append(nm, route, route_len) != 0)) {
        free(buf);
        return SGW_ENOMEM;
    }
    free(buf);
    *out = nm;
    return SGW_OK;
}

static sgw_err bus_send_nng(nng_socket sock, nng_msg *nm, int timeout_ms)
{
    int flags = 0, rv;
    if (timeout_ms == 0)
        flags = NNG_FLAG_NONBLOCK;
    else
        nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, timeout_ms < 0 ? NNG_DURATION_INFINITE
                                                                   : timeout_ms);
    if ((rv = nng_sendmsg(sock, nm, flags)) != 0) {
        nng_msg_free(nm);
        return rv == NNG_EAGAIN || rv == NNG_ETIMEDOUT ? SGW_EBUSY : SGW_ECLOSED;
    }
    return SGW_OK;
}

sgw_err sgw_actor_send(const sgw_actor_env *env, nng_socket sock, sgw_msg *m, int timeout_ms)
{
    nng_msg *nm;
    m->sent_ms = sgw_now_ms();
    if (!m->created_ms)
        m->created_ms = m->sent_ms;
    sgw_err rv = bus_msg_to_nng(m, NULL, 0, &nm);
    if (rv == SGW_OK)
        rv = bus_send_nng(sock, nm, timeout_ms);
    if (rv == SGW_OK)
        counter_enqueued(sock);
    if (env) {
        if (rv == SGW_OK)
            atomic_fetch_add_explicit(&env->actor->stats.out, 1, memory_order_relaxed);
        else
            atomic_fetch_add_explicit(&env->actor->stats.send_fail, 1, memory_order_relaxed);
    }
    return rv;
}

sgw_err sgw_bus_send_routed(nng_socket sock, const sgw_msg *m, const void *route,
                            size_t route_len)
{
    nng_msg *nm;
    sgw_err rv = bus_msg_to_nng(m, route, route_len, &nm);
    return rv == SGW_OK ? bus_send_nng(sock, nm, 1000) : rv;
}

static void actor_count_latency(sgw_actor *a, const sgw_msg *m, int64_t now)
{
    static const int64_t bounds[] = { 1, 2, 5, 10, 50, 100, 1000 };
    int64_t lat = m->sent_ms ? now - m->sent_ms : 0;
    if (lat < 0)
        lat = 0;
    int b = 0;
    while (b < 7 && lat > bounds[b])
        b++;
    atomic_fetch_add_explicit(&a->stats.lat_buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->stats.latency_us_sum, (uint64_t)lat * 1000,
                              memory_order_relaxed);
}

/* Take up to max messages, without waiting, from every input. */
static int actor_collect(sgw_actor *a, sgw_msg *msgs, nng_msg **raw, int max)
{
    int n = 0, ninputs = atomic_load(&a->ninputs);
    int64_t now = sgw_now_ms();
    for (int i = 0; i < ninputs && n < max; i++) {
        while (n < max) {
            nng_msg *nm;
            if (nng_recvmsg(a->inputs[i], &nm, NNG_FLAG_NONBLOCK) != 0)
                break;
            if (sgw_msg_decode(nng_msg_body(nm), nng_msg_len(nm), &msgs[n]) != SGW_OK) {
                sgw_log(SGW_LOG_WARN, a->ops->name, "dropped a malformed bus message (%zu bytes)",
                        nng_msg_len(nm));
                nng_msg_free(nm);
                continue;
            }
            msgs[n].input = i;
            if (a->input_raw[i]) {
                msgs[n].route = nng_msg_header(nm);
                msgs[n].route_len = nng_msg_header_len(nm);
            }
            actor_count_latency(a, &msgs[n], now);
            raw[n++] = nm;
        }
    }
    return n;
}

static void actor_handle(sgw_actor *a, void *st, sgw_msg *msgs, nng_msg **raw, int n)
{
    a->ops->handle(st, msgs, n);
    for (int i = 0; i < n; i++)
        nng_msg_free(raw[i]);
    atomic_fetch_add_explicit(&a->stats.in, (uint64_t)n, memory_order_relaxed);
    if (a->counter >= 0)
        atomic_fetch_add_explicit(&queue_counters[a->counter].deq, (uint64_t)n,
                                  memory_order_relaxed);
    atomic_fetch_add_explicit(&a->stats.batches, 1, memory_order_relaxed);
}

#define ACTOR_MAX_EXTRA_FDS 1024

/* Wait for input, the wake fd or (st != NULL) the actor's own fds. Returns
 * poll's result, and 2 when one of the actor's own fds is ready. */
static int actor_wait(sgw_actor *a, void *st, int timeout_ms, int with_wake)
{
    struct pollfd pfd[ACTOR_MAX_INPUTS + 1 + ACTOR_MAX_EXTRA_FDS];
    int n = 0, ninputs = atomic_load(&a->ninputs);
    if (with_wake)
        pfd[n++] = (struct pollfd){ .fd = a->wake_fd, .events = POLLIN };
    for (int i = 0; i < ninputs; i++)
        pfd[n++] = (struct pollfd){ .fd = a->input_fd[i], .events = POLLIN };
    int first_extra = n;
    if (st && a->ops->fds)
        n += a->ops->fds(st, pfd + n, ACTOR_MAX_EXTRA_FDS);
    int rv = poll(pfd, (nfds_t)n, timeout_ms);
    for (int i = first_extra; rv > 0 && i < n; i++)
        if (pfd[i].revents)
            return 2;
    return rv;
}

/* Batch linger: having some messages, wait up to linger_us for more before
 * handling them, so one costly step (a store fsync) serves a larger batch. */
static int actor_linger(sgw_actor *a, sgw_msg *msgs, nng_msg **raw, int max)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int n = 0;
    while (n < max) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left_ns = a->linger_us * 1000 - ((now.tv_sec - start.tv_sec) * 1000000000LL +
                                                 (now.tv_nsec - start.tv_nsec));
        if (left_ns <= 0)
            break;
        struct pollfd pfd[ACTOR_MAX_INPUTS];
        int ninputs = atomic_load(&a->ninputs);
        for (int i = 0; i < ninputs; i++)
            pfd[i] = (struct pollfd){ .fd = a->input_fd[i], .events = POLLIN };
        struct timespec to = { left_ns / 1000000000LL, left_ns % 1000000000LL };
        if (ppoll(pfd, (nfds_t)ninputs, &to, NULL) <= 0)
            break;
        n += actor_collect(a, msgs + n, raw + n, max - n);
    }
    return n;
}

static void *actor_main(void *arg)
{
    actor_thread *t = arg;
    sgw_actor *a = t->actor;
    const struct sgw_actor_ops *ops = a->ops;
    char tname[16]; /* what top -H and gdb show: the actor and thread index */
    snprintf(tname, sizeof tname, "%.11s/%d", ops->name, t->env.thread_index);
    pthread_setname_np(pthread_self(), tname);
    sgw_err rv = ops->init ? ops->init(t->state, &t->env) : SGW_OK;

    pthread_mutex_lock(&a->lock);
    if (rv != SGW_OK)
        a->failed = 1;
    a->ready++;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (rv != SGW_OK) {
        sgw_log(SGW_LOG_ERROR, ops->name, "thread %d failed to start: %s", t->env.thread_index,
                sgw_strerror(rv));
        return NULL;
    }

    sgw_msg *msgs = calloc((size_t)a->batch_max, sizeof *msgs);
    nng_msg **raw = calloc((size_t)a->batch_max, sizeof *raw);
    if (!msgs || !raw) {
        sgw_log(SGW_LOG_ERROR, ops->name, "out of memory");
        abort();
    }
    int64_t next_tick = ops->tick ? 0 : -1;
    while (!atomic_load(&a->stopping)) {
        int64_t now = sgw_mono_ms();
        if (next_tick >= 0 && now >= next_tick) {
            next_tick = ops->tick(t->state, now);
            now = sgw_mono_ms();
        }
        int n = actor_collect(a, msgs, raw, a->batch_max);
        if (n > 0 && n < a->batch_max && a->linger_us > 0)
            n += actor_linger(a, msgs + n, raw + n, a->batch_max - n);
        if (n > 0) {
            actor_handle(a, t->state, msgs, raw, n);
            continue;
        }
        int64_t wait = next_tick < 0 ? 1000 : next_tick - now;
        if (actor_wait(a, t->state, (int)(wait < 0 ? 0 : wait > 1000 ? 1000 : wait), 1) == 2 &&
            ops->tick)
            next_tick = 0; /* its own I/O is ready: tick now */
    }

    /* stop: finish what is in flight, then (if asked) what is queued */
    if (ops->drain) {
        while (!ops->drain(t->state)) {
            int64_t now = sgw_mono_ms();
            if (next_tick >= 0 && now >= next_tick)
                next_tick = ops->tick(t->state, now);
            int64_t wait = next_tick < 0 ? 10 : next_tick - now;
            poll(NULL, 0, (int)(wait < 0 ? 0 : wait > 10 ? 10 : wait));
        }
    }
    if (ops->drain_input) {
        for (;;) {
            int n = actor_collect(a, msgs, raw, a->batch_max);
            if (n > 0) {
                actor_handle(a, t->state, msgs, raw, n);
                continue;
            }
            if (actor_wait(a, NULL, 100, 0) <= 0)
                break;
        }
    }
    free(msgs);
    free(raw);
    if (ops->fini)
        ops->fini(t->state);
    return NULL;
}

sgw_err sgw_actor_start(const struct sgw_actor_ops *ops, const sgw_cfg *cfg, void *app,
                        sgw_actor **out)
{
    if (!ops || !ops->name || !ops->handle)
        return SGW_EINVAL;
    sgw_actor *a = calloc(1, sizeof *a);
    if (!a)
        return SGW_ENOMEM;
    a->ops = ops;
    a->cfg = cfg;
    a->nthreads = (int)actor_cfg(cfg, ops->name, "threads", 1);
    a->batch_max = (int)actor_cfg(cfg, ops->name, "batch_max", 64);
    a->linger_us = actor_cfg(cfg, ops->name, "linger_us", 0);
    a->queue_depth = queue_bound(actor_cfg(cfg, ops->name, "queue_depth", 1024));
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    char url[128];
    nng_socket in;
    int rv;
    sgw_bus_url(url, sizeof url, ops->name);
    if (a->wake_fd < 0 || (rv = nng_pull0_open(&in)) != 0) {
        sgw_log(SGW_LOG_ERROR, ops->name, "cannot open the input socket");
        goto fail_early;
    }
    nng_socket_set_int(in, NNG_OPT_RECVBUF,
                       queue_bound(actor_cfg(cfg, ops->name, "queue_depth", 1024)));
    if ((rv = nng_listen(in, url, NULL, 0)) != 0) {
        sgw_log(SGW_LOG_ERROR, ops->name, "listen %s: %s", url, nng_strerror(rv));
        nng_close(in);
        goto fail_early;
    }
    a->inputs[0] = in;
    if (nng_socket_get_int(in, NNG_OPT_RECVFD, &a->input_fd[0]) != 0) {
        nng_close(in);
        goto fail_early;
    }
    atomic_store(&a->ninputs, 1);
    a->counter = counter_for(ops->name);

    a->threads = calloc((size_t)a->nthreads, sizeof *a->threads);
    if (!a->threads)
        goto fail;
    /* thread 0 first and alone, so inputs it adds exist before the others */
    for (int i = 0; i < a->nthreads; i++) {
        actor_thread *t = &a->threads[i];
        t->actor = a;
        t->env = (sgw_actor_env){ .name = ops->name, .thread_index = i, .cfg = cfg,
                                  .app = app, .actor = a };
        t->state = calloc(1, ops->state_size ? ops->state_size : 1);
        if (!t->state || pthread_create(&t->tid, NULL, actor_main, t) != 0) {
            free(t->state);
            t->state = NULL;
            pthread_mutex_lock(&a->lock);
            a->failed = 1;
            pthread_mutex_unlock(&a->lock);
            break;
        }
        t->started = 1;
        pthread_mutex_lock(&a->lock);
        while (a->ready < i + 1)
            pthread_cond_wait(&a->cond, &a->lock);
        int failed = a->failed;
        pthread_mutex_unlock(&a->lock);
        if (failed)
            break;
    }
    if (a->failed)
        goto fail;
    atomic_store(&a->running, 1);
    *out = a;
    return SGW_OK;
fail:
    sgw_actor_destroy(&a);
    return SGW_EINTERNAL;
fail_early:
    if (a->wake_fd >= 0)
        close(a->wake_fd);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a);
    return SGW_EIO;
}

void sgw_actor_stop(sgw_actor *a)
{
    if (!a || a->stopped)
        return;
    a->stopped = 1;
    atomic_store(&a->stopping, 1);
    uint64_t one = 1;
    if (write(a->wake_fd, &one, sizeof one) < 0)
        sgw_log(SGW_LOG_WARN, a->ops->name, "wake: %s", strerror(errno));
    for (int i = 0; a->threads && i < a->nthreads; i++) {
        if (a->threads[i].started)
            pthread_join(a->threads[i].tid, NULL);
        free(a->threads[i].state);
        a->threads[i].state = NULL;
    }
    atomic_store(&a->running, 0);
    for (int i = 0; i < atomic_load(&a->ninputs); i++)
        nng_close(a->inputs[i]);
}

void sgw_actor_destroy(sgw_actor **ap)
{
    if (!ap || !*ap)
        return;
    sgw_actor *a = *ap;
    sgw_actor_stop(a);
    for (int i = 0; i < a->noutputs; i++)
        nng_close(a->outputs[i]);
    close(a->wake_fd);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a->threads);
    free(a);
    *ap = NULL;
}

int sgw_actor_running(const sgw_actor *a) { return a && atomic_load(&a->running); }
const sgw_actor_stats *sgw_actor_get_stats(const sgw_actor *a) { return &a->stats; }
void sgw_actor_tuning(const sgw_actor *a, sgw_actor_tune *out)
{
    out->threads = a->nthreads;
    out->queue_depth = a->queue_depth;
    out->batch_max = a->batch_max;
    out->linger_us = a->linger_us;
}

const char *sgw_actor_name(const sgw_actor *a) { return a->ops->name; }

int64_t sgw_actor_queue_depth(const sgw_actor *a)
{
    if (a->counter < 0)
        return 0;
    int64_t d = (int64_t)atomic_load(&queue_counters[a->counter].enq) -
                (int64_t)atomic_load(&queue_counters[a->counter].deq);
    return d < 0 ? 0 : d;
}
