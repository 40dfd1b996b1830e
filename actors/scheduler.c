/*
 * actors/scheduler.c — owns every delay, from the store's time-ordered
 * schedule (store/store.h, keyspace "sched").
 *
 * Inputs:  its tick: the schedule's entries that are due (a message
 *          stored for immediate sending goes from the validator to the
 *          rate limiter directly; its lease here brings it back if lost).
 *          Its bus input takes nothing.
 * Outputs: DISPATCH to ratelimit; CHECK to the sender (ask a provider for a
 *          delivery report); RESULT/PUBLISH to status (scheduled -> queued).
 * Entries: S (send when due: sendAt, retry backoff, rate-limit wait): the
 *          message is (re)leased and dispatched; L (lease: a message in the
 *          pipeline): if still there when due, it was lost in flight and is
 *          dispatched again; D (sent, waiting for a report): CHECK, and the
 *          next check is twice as far away.
 * Restart: a recovery pass over the schedule, in order, a batch per tick,
 *          resumes every non-terminal message at once: entries leased
 *          before this process started (due <= boot + lease) are dispatched
 *          again, and messages that were waiting for a delivery report
 *          (D entries set before boot) get a provider query, since a report
 *          in flight at the crash may be lost. The sender skips messages
 *          already terminal.
 * Batches: committed batches' messages (store/batch.c) enter here, a page
 *          per step, while fewer than batches.release_window of a batch
 *          are released and not yet sent or finished: each page is leased
 *          and dispatched like the schedule's entries (and resumed by the
 *          same recovery), so a 1M-recipient batch never floods the bus.
 * Threads: one (a second would scan the same entries).
 */
#include <stdlib.h>
#include <string.h>

#include "actors/actors.h"
#include "bus/log.h"
#include "bus/util.h"

typedef struct due_entry {
    char id[24];
    int64_t due;
    int kind;
} due_entry;

typedef struct scheduler {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket to_ratelimit, to_sender, to_status;
    int64_t tick_ms, lease_ms, dlr_check_ms;
    int batch_max;
    int batch_window;  /* batches.release_window */
    /* recovery pass */
    int recovering;
    int64_t rec_due;
    char rec_id[24];
    int64_t rec_upto, rec_lease_upto, rec_dlr_upto;
    /* per tick */
    due_entry *due;
    int ndue;
    sgw_sms *out;  /* records to dispatch after the store write */
    int *action;   /* per entry: 0 none, 1 dispatch, 2 check, 3 publish+dispatch */
    const char **ids;
    sgw_list dispatch, check, publish;
} scheduler;

static sgw_err scheduler_init(void *st, const sgw_actor_env *env)
{
    scheduler *self = st;
    self->env = env;
    self->app = env->app;
    self->tick_ms = sgw_cfg_int(env->cfg, "actors.scheduler.tick_ms");
    self->lease_ms = sgw_cfg_int(env->cfg, "actors.scheduler.lease_ms");
    self->dlr_check_ms = sgw_cfg_int(env->cfg, "actors.scheduler.dlr_check_ms");
    self->batch_max = (int)sgw_cfg_int(env->cfg, "actors.scheduler.batch_max");
    if (self->batch_max <= 0)
        self->batch_max = 256;
    self->batch_window = (int)sgw_cfg_int(env->cfg, "batches.release_window");
    self->due = calloc((size_t)self->batch_max, sizeof *self->due);
    self->out = calloc((size_t)self->batch_max, sizeof *self->out);
    self->action = calloc((size_t)self->batch_max, sizeof *self->action);
    self->ids = calloc((size_t)self->batch_max, sizeof *self->ids);
    if (!self->due || !self->out || !self->action || !self->ids)
        return SGW_ENOMEM;
    self->recovering = 1;
    /* an entry made after boot is due at least lease (or dlr_check) after it */
    self->rec_lease_upto = self->app->boot_ms + self->lease_ms - 1;
    self->rec_dlr_upto = self->app->boot_ms + self->dlr_check_ms - 1;
    self->rec_upto = self->rec_lease_upto > self->rec_dlr_upto ? self->rec_lease_upto
                                                                : self->rec_dlr_upto;
    sgw_err rv = sgw_actor_connect(env, "ratelimit", &self->to_ratelimit);
    if (rv == SGW_OK)
        rv = sgw_actor_connect(env, "sender", &self->to_sender);
    if (rv == SGW_OK)
        rv = sgw_actor_connect(env, "status", &self->to_status);
    return rv;
}

static void scheduler_handle(void *st, const sgw_msg *msgs, int n)
{
    (void)st;
    for (int i = 0; i < n; i++)
        sgw_log(SGW_LOG_WARN, "scheduler", "unexpected bus message type %d: dropped",
                (int)msgs[i].type);
}

static void collect_due(void *ctx, const char *id, int64_t due, int kind)
{
    scheduler *self = ctx;
    due_entry *e = &self->due[self->ndue++];
    snprintf(e->id, sizeof e->id, "%s", id);
    e->due = due;
    e->kind = kind;
}

/* Under the record's lock: decide what to do with a due entry. */
static int scheduler_mutate(sgw_sms *m, void *ctx, int i)
{
    scheduler *self = ctx;
    int64_t now = sgw_now_ms();
    const due_entry *e = &self->due[i];
    self->action[i] = 0;
    if (m->due_ms != e->due || m->due_kind != e->kind)
        return 0; /* the entry moved since we read it */
    if (sgw_status_terminal(m->status)) {
        m->due_kind = SGW_DUE_NONE; /* stale entry: drop it */
        m->due_ms = 0;
        return 1;
    }
    if (e->kind == SGW_DUE_DLR) {
        if (m->status != SGW_ST_SENT) {
            m->due_kind = SGW_DUE_NONE;
            m->due_ms = 0;
            return 1;
        }
        int64_t wait = now - m->updated_ms;
        if (wait < self->dlr_check_ms)
            wait = self->dlr_check_ms;
        m->due_ms = now + wait; /* back off: each check waits as long as all before */
        self->action[i] = 2;
    } else {
        self->action[i] = 1;
        if (m->status == SGW_ST_SCHEDULED) {
            sgw_sms_set_status(m, SGW_ST_QUEUED, now);
            self->action[i] = 3;
        }
        m->due_ms = now + self->lease_ms;
        m->due_kind = SGW_DUE_LEASE;
    }
    sgw_sms_clear(&self->out[i]);
    sgw_sms_copy(&self->out[i], m);
    return 1;
}

static void scheduler_add(sgw_list *l, const sgw_sms *rec)
{
    void *buf;
    size_t len;
    if (sgw_sms_encode(rec, &buf, &len) == SGW_OK) {
        sgw_list_add(l, buf, len);
        free(buf);
    }
}

static void scheduler_flush(scheduler *self, nng_socket sock, sgw_msg_type type, int code,
                            sgw_list *l)
{
    int n = l->n;
    if (sgw_list_send(self->env, sock, type, code, l, 1000) != SGW_OK)
        sgw_log(SGW_LOG_WARN, "scheduler", "%d %s not sent (queue full): retried later", n,
                sgw_msg_type_name(type));
}

/* Fire the collected entries: one store write, then the messages. */
static void scheduler_fire(scheduler *self)
{
    for (int i = 0; i < self->ndue; i++)
        self->ids[i] = self->due[i].id;
    if (sgw_store_sms_update(self->app->store, self->ids, self->ndue, scheduler_mutate, self,
                             NULL) != SGW_OK) {
        sgw_log(SGW_LOG_ERROR, "scheduler", "store update failed; retrying next tick");
        return;
    }
    for (int i = 0; i < self->ndue; i++) {
        const sgw_sms *rec = &self->out[i];
        switch (self->action[i]) {
        case 3:
            scheduler_add(&self->publish, rec);
            /* fallthrough */
        case 1:
            scheduler_add(&self->dispatch, rec);
            break;
        case 2:
            scheduler_add(&self->check, rec);
            break;
        }
        self->action[i] = 0;
        sgw_sms_clear(&self->out[i]);
    }
    scheduler_flush(self, self->to_status, SGW_MSG_RESULT, SGW_RES_PUBLISH, &self->publish);
    scheduler_flush(self, self->to_ratelimit, SGW_MSG_DISPATCH, 0, &self->dispatch);
    scheduler_flush(self, self->to_sender, SGW_MSG_CHECK, 0, &self->check);
}

static void collect_recovery(void *ctx, const char *id, int64_t due, int kind)
{
    scheduler *self = ctx;
    snprintf(self->rec_id, sizeof self->rec_id, "%s", id);
    self->rec_due = due;
    if ((kind == SGW_DUE_LEASE && due <= self->rec_lease_upto) ||
        (kind == SGW_DUE_DLR && due <= self->rec_dlr_upto))
        collect_due(ctx, id, due, kind);
}

/* A batch message released (store/batch.c): published (queued) and sent on. */
static void scheduler_released(void *ctx, const sgw_sms *rec)
{
    scheduler *self = ctx;
    scheduler_add(&self->publish, rec);
    scheduler_add(&self->dispatch, rec);
}

static int64_t scheduler_tick(void *st, int64_t now_mono)
{
    scheduler *self = st;
    int64_t now = sgw_now_ms();
    if (self->recovering) {
        /* entries leased before this process started: lost in flight */
        self->ndue = 0;
        int seen = sgw_store_sched_scan(self->app->store, self->rec_due,
                                        self->rec_id[0] ? self->rec_id : NULL, self->rec_upto,
                                        self->batch_max, collect_recovery, self);
        if (self->ndue)
            scheduler_fire(self);
        if (seen < self->batch_max) {
            self->recovering = 0;
            sgw_log(SGW_LOG_INFO, "scheduler", "recovery pass done");
        }
        return now_mono; /* more at once */
    }
    self->ndue = 0;
    int seen = sgw_store_sched_scan(self->app->store, 0, NULL, now, self->batch_max, collect_due,
                                    self);
    if (self->ndue)
        scheduler_fire(self);
    int went = sgw_store_batch_release(self->app->store, now, self->lease_ms, self->batch_max,
                                       self->batch_window, scheduler_released, self);
    if (went) {
        scheduler_flush(self, self->to_status, SGW_MSG_RESULT, SGW_RES_PUBLISH, &self->publish);
        scheduler_flush(self, self->to_ratelimit, SGW_MSG_DISPATCH, 0, &self->dispatch);
    }
    return seen == self->batch_max || went ? now_mono : now_mono + self->tick_ms;
}

static void scheduler_fini(void *st)
{
    scheduler *self = st;
    for (int i = 0; self->out && i < self->batch_max; i++)
        sgw_sms_clear(&self->out[i]);
    free(self->due);
    free(self->out);
    free(self->action);
    free(self->ids);
    sgw_list_free(&self->dispatch);
    sgw_list_free(&self->check);
    sgw_list_free(&self->publish);
}

const struct sgw_actor_ops sgw_actor_scheduler = {
    .name = "scheduler",
    .state_size = sizeof(scheduler),
    .init = scheduler_init,
    .handle = scheduler_handle,
    .tick = scheduler_tick,
    .fini = scheduler_fini,
};
