/*
 * actors/ratelimit.c — the per-sending-number limit (SPEC section 4):
 * at most limits.from_per_window messages per `from` in any
 * limits.from_window_s seconds (a sliding window). Excess is never refused:
 * the message stays queued and waits in the schedule, then comes back
 * through the scheduler.
 *
 * Input:   DISPATCH lists (from the validator, and from the scheduler when
 *          a delay is over). Output: DISPATCH lists to
 *          the sender.
 * Slots:   each message of a number is given, in arrival order, the
 *          earliest send time (slot) the window allows, counting slots
 *          already given (which may lie in the future). A message whose
 *          slot is now passes; one that must wait waits at least
 *          from_retry_delay_ms, in the schedule, and when it comes back it
 *          passes on the slot it holds (it is not counted twice). Slots
 *          never go backwards, so a number's messages leave in the order
 *          they came.
 * Test keys never reach a carrier, so no carrier's number limit applies to
 *          them: they pass straight through.
 * State:   per number, a ring of its last N slots; the ids holding future
 *          slots. Lost at a restart: returning messages then take new
 *          slots, so a number may send one window's worth early after a
 *          restart, never more.
 * Threads: one (the windows are per thread).
 */
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "bus/log.h"
#include "bus/util.h"

typedef struct held_slot {
    char id[24];
    struct held_slot *next;
} held_slot;

typedef struct from_window {
    char from[24];
    int64_t *ring;         /* the last n slots (wall ms), oldest at head */
    int head, count;
    int64_t last_slot;
    struct from_window *next;
} from_window;

#define RL_BUCKETS 4096

typedef struct ratelimit {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket to_sender;
    int per_window;
    int64_t window_ms, delay_ms;
    from_window *buckets[RL_BUCKETS];
    held_slot *held[RL_BUCKETS];   /* ids waiting in the schedule for their slot */
    /* per batch: delayed records */
    char (*delay_ids)[24];
    int64_t *delay_due;
    int ndelay, cap;
    const char **ids;
    sgw_list out;
} ratelimit;

static sgw_err ratelimit_init(void *st, const sgw_actor_env *env)
{
    ratelimit *self = st;
    self->env = env;
    self->app = env->app;
    self->per_window = (int)sgw_cfg_int(env->cfg, "limits.from_per_window");
    self->window_ms = sgw_cfg_int(env->cfg, "limits.from_window_s") * 1000;
    self->delay_ms = sgw_cfg_int(env->cfg, "limits.from_retry_delay_ms");
    self->cap = (int)sgw_cfg_int(env->cfg, "actors.ratelimit.batch_max");
    if (self->cap <= 0)
        self->cap = 64;
    self->delay_ids = calloc((size_t)self->cap, sizeof *self->delay_ids);
    self->delay_due = calloc((size_t)self->cap, sizeof *self->delay_due);
    self->ids = calloc((size_t)self->cap, sizeof *self->ids);
    if (!self->delay_ids || !self->delay_due || !self->ids)
        return SGW_ENOMEM;
    return sgw_actor_connect(env, "sender", &self->to_sender);
}

static from_window *window_of(ratelimit *self, const char *from)
{
    unsigned h = 2166136261u;
    for (const char *p = from; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    from_window **b = &self->buckets[h % RL_BUCKETS];
    for (from_window *w = *b; w; w = w->next)
        if (strcmp(w->from, from) == 0)
            return w;
    from_window *w = calloc(1, sizeof *w);
    if (!w || !(w->ring = calloc((size_t)self->per_window, sizeof *w->ring))) {
        free(w);
        return NULL;
    }
    snprintf(w->from, sizeof w->from, "%s", from);
    w->next = *b;
    *b = w;
    return w;
}

static unsigned rl_hash(const char *v)
{
    unsigned h = 2166136261u;
    for (; *v; v++)
        h = (h ^ (unsigned char)*v) * 16777619u;
    return h % RL_BUCKETS;
}

/* Remove id from the held set; 1 if it was there. */
static int held_take(ratelimit *self, const char *id)
{
    for (held_slot **p = &self->held[rl_hash(id)]; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            held_slot *h = *p;
            *p = h->next;
            free(h);
            return 1;
        }
    }
    return 0;
}

static void held_put(ratelimit *self, const char *id)
{
    held_slot *h = calloc(1, sizeof *h);
    if (!h)
        return; /* then it takes a new slot when it comes back */
    snprintf(h->id, sizeof h->id, "%s", id);
    unsigned b = rl_hash(id);
    h->next = self->held[b];
    self->held[b] = h;
}

/* Give the next message of this number its slot (wall ms): now if the
 * window allows, else when it does, but at least from_retry_delay_ms away. */
static int64_t window_slot(ratelimit *self, from_window *w, int64_t now)
{
    int64_t slot = now > w->last_slot ? now : w->last_slot;
    if (w->count == self->per_window) {
        int64_t free_at = w->ring[w->head] + self->window_ms; /* the oldest leaves */
        if (free_at > slot)
            slot = free_at;
    }
    if (slot > now && slot < now + self->delay_ms)
        slot = now + self->delay_ms;
    /* a waiting message's slot is its due time, and the schedule breaks
     * ties by (random) id: two waiting messages of a number never share
     * one, or they could leave out of order */
    if (slot > now && slot <= w->last_slot)
        slot = w->last_slot + 1;
    if (w->count == self->per_window) {
        w->ring[w->head] = slot;
        w->head = (w->head + 1) % self->per_window;
    } else {
        w->ring[(w->head + w->count) % self->per_window] = slot;
        w->count++;
    }
    w->last_slot = slot;
    return slot;
}

static int ratelimit_mutate(sgw_sms *m, void *ctx, int i)
{
    ratelimit *self = ctx;
    if (sgw_status_terminal(m->status) || m->status == SGW_ST_SENT)
        return 0;
    m->due_ms = self->delay_due[i];
    m->due_kind = SGW_DUE_SEND;
    return 1;
}

/* Put the delayed messages in the schedule, in one write. */
static void ratelimit_store_delays(ratelimit *self)
{
    if (!self->ndelay)
        return;
    for (int i = 0; i < self->ndelay; i++)
        self->ids[i] = self->delay_ids[i];
    if (sgw_store_sms_update(self->app->store, self->ids, self->ndelay, ratelimit_mutate, self,
                             NULL) != SGW_OK)
        sgw_log(SGW_LOG_ERROR, "ratelimit", "could not store %d delays: their leases "
                "bring them back", self->ndelay);
    self->ndelay = 0;
}

/* Decide for one record (an item of a DISPATCH list). */
static void ratelimit_one(ratelimit *self, const void *item, size_t len, int64_t now)
{
    sgw_sms rec;
    if (sgw_sms_decode(item, len, &rec) != SGW_OK) {
        sgw_log(SGW_LOG_WARN, "ratelimit", "undecodable record dropped (its lease brings "
                "it back)");
        return;
    }
    int pass = 1;
    if (!rec.test && !held_take(self, rec.id)) {
        from_window *w = window_of(self, rec.from);
        int64_t slot = w ? window_slot(self, w, now) : now;
        if (slot > now) {
            pass = 0;
            if (self->ndelay == self->cap)
                ratelimit_store_delays(self);
            held_put(self, rec.id);
            snprintf(self->delay_ids[self->ndelay], 24, "%s", rec.id);
            self->delay_due[self->ndelay++] = slot;
        }
    }
    sgw_sms_clear(&rec);
    if (pass)
        sgw_list_add(&self->out, item, len);
}

static void ratelimit_handle(void *st, const sgw_msg *msgs, int n)
{
    ratelimit *self = st;
    int64_t now = sgw_now_ms();
    self->ndelay = 0;
    for (int i = 0; i < n; i++) {
        if (msgs[i].type != SGW_MSG_DISPATCH)
            continue;
        size_t off = 0, len;
        const void *item;
        while (sgw_list_next(msgs[i].body, msgs[i].body_len, &off, &item, &len))
            ratelimit_one(self, item, len, now);
    }
    int passed = self->out.n;
    if (sgw_list_send(self->env, self->to_sender, SGW_MSG_DISPATCH, 0, &self->out, 1000) !=
        SGW_OK)
        sgw_log(SGW_LOG_WARN, "ratelimit", "sender full: %d messages wait for their leases",
                passed);
    ratelimit_store_delays(self);
}

static void ratelimit_fini(void *st)
{
    ratelimit *self = st;
    for (int b = 0; b < RL_BUCKETS; b++) {
        for (from_window *w = self->buckets[b], *nx; w; w = nx) {
            nx = w->next;
            free(w->ring);
            free(w);
        }
        for (held_slot *h = self->held[b], *nx; h; h = nx) {
            nx = h->next;
            free(h);
        }
    }
    free(self->delay_ids);
    free(self->delay_due);
    free(self->ids);
    sgw_list_free(&self->out);
}

const struct sgw_actor_ops sgw_actor_ratelimit = {
    .name = "ratelimit",
    .state_size = sizeof(ratelimit),
    .init = ratelimit_init,
    .handle = ratelimit_handle,
    .fini = ratelimit_fini,
};
