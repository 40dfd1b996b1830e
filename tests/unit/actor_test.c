/* The actor runtime: start handshake, batches, order, ticks, drain, stop.
 * Run under ThreadSanitizer in CI. Waits are bounded polls, never sleeps
 * that a result depends on. */
#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/actor.h"
#include "bus/util.h"
#include "tests/harness/sgw_test.h"

/* ---- a sink actor that records what it got (test-only shared state) ---- */
static atomic_int sink_count;
static atomic_int sink_batches;
static atomic_int sink_out_of_order;
static atomic_int sink_last;

static void sink_handle(void *st, const sgw_msg *msgs, int n)
{
    (void)st;
    atomic_fetch_add(&sink_batches, 1);
    for (int i = 0; i < n; i++) {
        int v = msgs[i].attempt;
        if (v != atomic_load(&sink_last) + 1)
            atomic_fetch_add(&sink_out_of_order, 1);
        atomic_store(&sink_last, v);
        atomic_fetch_add(&sink_count, 1);
    }
}

static const struct sgw_actor_ops sink_ops = {
    .name = "t_sink", .state_size = 1, .handle = sink_handle, .drain_input = 1,
};

/* ---- an echo actor forwarding everything to the sink ---- */
typedef struct echo {
    const sgw_actor_env *env;
    nng_socket out;
    int ticks;
} echo;

static atomic_int echo_ticks;

static sgw_err echo_init(void *st, const sgw_actor_env *env)
{
    echo *e = st;
    e->env = env;
    return sgw_actor_connect(env, "t_sink", &e->out);
}

static void echo_handle(void *st, const sgw_msg *msgs, int n)
{
    echo *e = st;
    for (int i = 0; i < n; i++) {
        sgw_msg m = msgs[i];
        sgw_actor_send(e->env, e->out, &m, -1);
    }
}

static int64_t echo_tick(void *st, int64_t now)
{
    (void)st;
    atomic_fetch_add(&echo_ticks, 1);
    return now + 5;
}

static const struct sgw_actor_ops echo_ops = {
    .name = "t_echo", .state_size = sizeof(echo), .init = echo_init, .handle = echo_handle,
    .tick = echo_tick,
};

static int wait_until(atomic_int *v, int want, int timeout_ms)
{
    int64_t end = sgw_mono_ms() + timeout_ms;
    while (atomic_load(v) < want && sgw_mono_ms() < end) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL); /* a poll interval, not a wait for a result */
    }
    return atomic_load(v) >= want;
}

static int push_to(const char *actor, nng_socket *s)
{
    char url[64];
    sgw_bus_url(url, sizeof url, actor);
    return nng_push0_open(s) == 0 && nng_dial(*s, url, NULL, 0) == 0;
}

static void test_pipeline_order_and_batches(void)
{
    atomic_store(&sink_count, 0);
    atomic_store(&sink_last, 0);
    atomic_store(&sink_out_of_order, 0);
    atomic_store(&sink_batches, 0);
    sgw_actor *sink = NULL, *e = NULL;
    ASSERT_OK(sgw_actor_start(&sink_ops, NULL, NULL, &sink));
    ASSERT_OK(sgw_actor_start(&echo_ops, NULL, NULL, &e));
    ASSERT_TRUE(sgw_actor_running(e));
    nng_socket in;
    ASSERT_TRUE(push_to("t_echo", &in));
    enum { N = 5000 };
    for (int i = 1; i <= N; i++) {
        sgw_msg m;
        sgw_msg_init(&m, SGW_MSG_EVENT, "x");
        m.attempt = i;
        ASSERT_OK(sgw_actor_send(NULL, in, &m, -1));
    }
    ASSERT_TRUE(wait_until(&sink_count, N, 20000));
    ASSERT_EQ(atomic_load(&sink_count), N);
    ASSERT_EQ(atomic_load(&sink_out_of_order), 0);
    ASSERT_TRUE(atomic_load(&sink_batches) <= N);
    ASSERT_EQ(sgw_actor_get_stats(e)->in, N);
    ASSERT_EQ(sgw_actor_get_stats(e)->out, N);
    ASSERT_TRUE(wait_until(&echo_ticks, 2, 5000)); /* ticks run */
    nng_close(in);
    sgw_actor_stop(e);
    sgw_actor_stop(sink);
    sgw_actor_destroy(&e);
    sgw_actor_destroy(&sink);
    ASSERT_NULL(e);
}

static void test_stop_drains_queued_input(void)
{
    atomic_store(&sink_count, 0);
    atomic_store(&sink_last, 0);
    sgw_actor *sink = NULL;
    ASSERT_OK(sgw_actor_start(&sink_ops, NULL, NULL, &sink));
    nng_socket in;
    ASSERT_TRUE(push_to("t_sink", &in));
    for (int i = 1; i <= 500; i++) {
        sgw_msg m;
        sgw_msg_init(&m, SGW_MSG_EVENT, "x");
        m.attempt = i;
        ASSERT_OK(sgw_actor_send(NULL, in, &m, -1));
    }
    /* drain_input: everything queued is handled, including what the still
     * open sending socket holds (closing a socket discards its buffer, so
     * senders close only after receivers stopped) */
    sgw_actor_stop(sink);
    ASSERT_EQ(atomic_load(&sink_count), 500);
    nng_close(in);
    sgw_actor_destroy(&sink);
}

static sgw_err failing_init(void *st, const sgw_actor_env *env)
{
    (void)st;
    return env->thread_index == 0 ? SGW_EIO : SGW_OK;
}
static void noop_handle(void *st, const sgw_msg *m, int n) { (void)st, (void)m, (void)n; }
static const struct sgw_actor_ops failing_ops = {
    .name = "t_fail", .state_size = 1, .init = failing_init, .handle = noop_handle,
};

static void test_failed_init_fails_start(void)
{
    sgw_actor *a = NULL;
    ASSERT_NE(sgw_actor_start(&failing_ops, NULL, NULL, &a), SGW_OK);
    ASSERT_NULL(a);
    /* the name is free again: a later start can bind it */
    static const struct sgw_actor_ops ok_ops = {
        .name = "t_fail", .state_size = 1, .handle = noop_handle,
    };
    ASSERT_OK(sgw_actor_start(&ok_ops, NULL, NULL, &a));
    sgw_actor_destroy(&a);
}

static void test_full_queue_is_busy_not_blocking(void)
{
    /* no actor listens: a nonblocking send with nobody to take it is EBUSY */
    nng_socket s;
    ASSERT_OK(nng_push0_open(&s));
    ASSERT_OK(nng_dial(s, "inproc://sgw/nobody", NULL, NNG_FLAG_NONBLOCK));
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_EVENT, "x");
    ASSERT_EQ(sgw_actor_send(NULL, s, &m, 0), SGW_EBUSY);
    ASSERT_EQ(sgw_actor_send(NULL, s, &m, 20), SGW_EBUSY);
    nng_close(s);
}

SGW_TEST_LIST = {
    { "actors pass 5000 messages in order, in batches, with ticks", test_pipeline_order_and_batches },
    { "stop handles everything already queued (drain_input)", test_stop_drains_queued_input },
    { "a thread's failed init fails the start and frees the name", test_failed_init_fails_start },
    { "a send with no room is EBUSY, not a hang", test_full_queue_is_busy_not_blocking },
    { NULL, NULL },
};
SGW_TEST_MAIN
