/*
 * bench/fc/state.h — fakecarrier: everything the fake remembers.
 *
 * One mutex (G.mu) guards all mutable state: knobs, tokens, messages,
 * subscriptions, rate windows and counters. It is held for microseconds
 * (lookups, inserts, counter updates), never while sleeping, reading a
 * request or talking to a webhook. Functions named *_locked expect it held.
 *
 * Bounded memory: at most max_messages messages (oldest dropped), at most
 * max_tokens tokens and codes (oldest dropped), 30 subscriptions per
 * extension, a fixed table of rate windows and request fingerprints, and
 * bounded notification queues (bench/fc/notify.h).
 *
 * Message ids are consecutive (1000000001, 1000000002, ...) because an id
 * is taken only when a message is stored, under the lock; so the ring of
 * messages is indexed by id and needs no hash table.
 */
#ifndef FC_STATE_H
#define FC_STATE_H

#include "base.h"

/* ------------------------------------------------------------ numbers */

enum {
    FEAT_CALLERID = 1,
    FEAT_SMS = 2,
    FEAT_A2P = 4,
    FEAT_MMS = 8,
    FEAT_INTL = 16,
    FEAT_DELEGATED = 32,
};

static const struct {
    const char *name;
    unsigned bit;
} fc_feature_names[] = {
    { "CallerId", FEAT_CALLERID },   { "SmsSender", FEAT_SMS },
    { "A2PSmsSender", FEAT_A2P },    { "MmsSender", FEAT_MMS },
    { "InternationalSmsSender", FEAT_INTL }, { "Delegated", FEAT_DELEGATED },
};

typedef struct fc_number {
    char phone[FC_PHONE];
    char ext[FC_ID];
    unsigned feat;
    long long id;
} fc_number;

typedef struct fc_ext {
    char id[FC_ID];
    char number[12]; /* extensionNumber: "101", "102", ... */
} fc_ext;

typedef struct fc_jwt {
    char *assertion;
    char ext[FC_ID];
} fc_jwt;

/* ------------------------------------------------------------ knobs */

typedef enum { FAIL_NONE = 0, FAIL_500, FAIL_503, FAIL_429, FAIL_TIMEOUT, FAIL_DROP, FAIL_401 } fc_fail;
static const char *const fc_fail_names[] = { "", "500", "503", "429", "timeout", "drop", "401" };

typedef struct fc_knobs {
    long long latency_ms;
    long long latency_jitter_ms;
    double rate_5xx;
    double rate_429;
    double rate_timeout;
    double rate_drop;
    long long timeout_hold_ms;
    long long retry_after_s;
    long long token_ttl_s;
    long long refresh_ttl_s;
    long long ext_limit;
    long long ext_window_s;
    long long dlr_delay_ms;
    long long webhook_timeout_ms;
    long long notify_copies;
    int group_limits;
    int timeout_after_create;
} fc_knobs;

typedef enum { K_INT, K_PROB, K_BOOL } fc_ktype;

/* The one list of scalar knobs: flags (--name-with-dashes), POST
 * /_fake/config keys, GET /_fake/stats "knobs" and --help come from it. */
static const struct fc_knob_def {
    const char *name;
    fc_ktype type;
    size_t off;
    long long min, max;
    const char *help;
} fc_knob_defs[] = {
#define KI(n, lo, hi, h) { #n, K_INT, offsetof(fc_knobs, n), lo, hi, h }
#define KP(n, h) { #n, K_PROB, offsetof(fc_knobs, n), 0, 1, h }
    KI(latency_ms, 0, 600000, "mean delay of each SMS answer, and from Queued to Sent (0)"),
    KI(latency_jitter_ms, 0, 600000, "uniform +/- jitter around latency_ms (0)"),
    KP(rate_5xx, "probability that an SMS send answers 500 or 503 (0)"),
    KP(rate_429, "probability that an SMS send answers 429 CMN-301 (0)"),
    KP(rate_timeout, "probability that an SMS send is held timeout_hold_ms, then closed (0)"),
    KP(rate_drop, "probability that an SMS send is closed without any answer (0)"),
    KI(timeout_hold_ms, 0, 3600000, "how long a 'timeout' holds the request (30000)"),
    KI(retry_after_s, 0, 86400, "Retry-After of injected 429 and 503 answers (1)"),
    KI(token_ttl_s, 1, 31536000, "access token lifetime, expires_in (3600)"),
    KI(refresh_ttl_s, 1, 31536000, "refresh token lifetime, refresh_token_expires_in (604800)"),
    KI(ext_limit, 0, 1000000000, "SMS sends per extension per ext_window_s; 0 = unlimited (0)"),
    KI(ext_window_s, 1, 86400, "window of ext_limit, seconds (60)"),
    KI(dlr_delay_ms, 0, 3600000, "from Sent to Delivered / DeliveryFailed (100)"),
    KI(webhook_timeout_ms, 1, 600000,
       "time a webhook has to answer a validation or a notification (3000)"),
    KI(notify_copies, 1, 10,
       "each notification is posted this many times, a replay as RingCentral may make (1)"),
    { "group_limits", K_BOOL, offsetof(fc_knobs, group_limits), 0, 1,
      "enforce light 50, medium 40, heavy 10, auth 5 per 60 s (false)" },
    { "timeout_after_create", K_BOOL, offsetof(fc_knobs, timeout_after_create), 0, 1,
      "a 'timeout' of an SMS send or A2P batch creates it first, then loses the answer (false)" },
#undef KI
#undef KP
};
#define FC_NKNOBS (sizeof fc_knob_defs / sizeof fc_knob_defs[0])

static const fc_knobs fc_knob_defaults = {
    .latency_ms = 0,
    .latency_jitter_ms = 0,
    .timeout_hold_ms = 30000,
    .retry_after_s = 1,
    .token_ttl_s = 3600,
    .refresh_ttl_s = 604800,
    .ext_limit = 0,
    .ext_window_s = 60,
    .dlr_delay_ms = 100,
    .webhook_timeout_ms = 3000,
    .notify_copies = 1,
    .group_limits = 0,
};

typedef struct fc_phones {
    char (*v)[FC_PHONE];
    size_t n;
} fc_phones;

#define FC_FAIL_QUEUE 4096

/* ------------------------------------------------------------ tokens */

typedef enum { TOK_ACCESS = 1, TOK_REFRESH, TOK_CODE } fc_tok_kind;

typedef struct fc_token {
    struct fc_token *chain; /* same hash bucket */
    struct fc_token *newer; /* issue order, for eviction */
    char tok[64];
    fc_tok_kind kind;
    char owner[FC_ID];
    char pair[64];      /* access <-> refresh of one grant */
    char endpoint[32];
    char *redirect;     /* codes: the redirect_uri they were issued for */
    int64_t expires_ms; /* monotonic */
    uint64_t seq;
    int revoked;
} fc_token;

#define FC_TOK_BUCKETS 65536

/* ------------------------------------------------------------ messages */

typedef enum {
    ST_QUEUED,
    ST_SENT,
    ST_DELIVERED,
    ST_DELIVERY_FAILED,
    ST_SENDING_FAILED,
    ST_RECEIVED,
} fc_status;
static const char *const fc_status_names[] = { "Queued",         "Sent",          "Delivered",
                                               "DeliveryFailed", "SendingFailed", "Received" };

typedef struct fc_msg {
    long long id;
    char ext[FC_ID];
    char from[FC_PHONE];
    int nto;
    char to[FC_MAX_TO][FC_PHONE];
    char *text;
    int inbound;
    int undeliverable;
    fc_status status;
    int64_t created;   /* wall ms */
    int64_t modified;  /* wall ms */
    int64_t delivered; /* wall ms, 0 until Delivered */
    long long conv;
    int attempt;
    int segments;
    int a2p;           /* made by an A2P batch (bench/fc/a2p.h): no extension */
    char batch[40];    /* its batch id */
} fc_msg;

typedef struct fc_timer {
    int64_t due; /* monotonic ms */
    long long id;
} fc_timer;

/* ------------------------------------------------------------ subscriptions */

typedef struct fc_sub {
    char id[40];
    char owner[FC_ID];
    char **filters; /* with ~ resolved */
    size_t nfilters;
    char *address;
    char *vtoken; /* NULL when none was given */
    int64_t created;    /* wall ms */
    int64_t expires;    /* monotonic ms */
    int64_t expires_w;  /* wall ms */
    long long ttl;      /* seconds, as last requested */
} fc_sub;

/* ------------------------------------------------------------ rate windows */

enum { G_LIGHT, G_MEDIUM, G_HEAVY, G_AUTH, G_EXT, G_NONE };
static const char *const fc_group_names[] = { "light", "medium", "heavy", "auth" };
static const long long fc_group_limits[] = { 50, 40, 10, 5 };
#define FC_GROUP_WINDOW_S 60

typedef struct fc_window {
    char ext[FC_ID];
    int group;
    int64_t start; /* monotonic ms */
    long long count;
} fc_window;
#define FC_WINDOWS 512

#define FC_FPS 65536

/* ------------------------------------------------------------ the state */

typedef struct fc_stats {
    long long tok_jwt, tok_code, tok_refresh, tok_other, tok_refused;
    long long sms_requests, sms_accepted, sms_refused;
    long long responses[600];
    long long dropped, timeouts;
    long long inbound;
    long long notif_sent, notif_failed, notif_dropped;
    long long subs_created, validations_failed;
    long long timers_dropped, evicted;
} fc_stats;

static struct fc_state {
    pthread_mutex_t mu;

    /* identity: fixed after start */
    char account[FC_ID];
    char client_id[128];
    char client_secret[128];
    char owner[FC_ID]; /* the default JWT and auth-code owner */
    char base[128];    /* http://127.0.0.1:PORT */
    fc_number *nums;
    size_t nnums;
    fc_ext *exts;
    size_t nexts;
    fc_jwt *jwts;
    size_t njwts;
    size_t max_messages, max_tokens;

    /* under mu */
    fc_knobs k;
    fc_phones undeliverable, invalid_to;
    fc_fail failq[FC_FAIL_QUEUE];
    size_t fail_head, fail_n;

    fc_token **tok_buckets;
    fc_token *tok_oldest, *tok_newest;
    size_t ntok;
    uint64_t tok_seq, expire_seq;

    fc_msg **ring;
    long long first_id, next_id;

    fc_timer *heap;
    size_t nheap, capheap;
    pthread_cond_t timer_cv;

    fc_sub **subs;
    size_t nsubs, capsubs;

    fc_window win[FC_WINDOWS];
    size_t nwin;

    struct {
        uint64_t fp;
        int count;
    } *fps;

    fc_stats st;
} G;

/* Set once at shutdown; sleepers wake through stop_cv. */
static atomic_int fc_stopping;
static pthread_mutex_t fc_stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fc_stop_cv;

static void fc_cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec fc_abs_mono(int64_t due_ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(due_ms / 1000);
    ts.tv_nsec = (long)(due_ms % 1000) * 1000000L;
    return ts;
}

/* Sleep ms without holding anything; returns early (-1) at shutdown. */
static int fc_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return atomic_load(&fc_stopping) ? -1 : 0;
    int64_t due = fc_mono_ms() + ms;
    struct timespec ts = fc_abs_mono(due);
    pthread_mutex_lock(&fc_stop_mu);
    while (!atomic_load(&fc_stopping) && fc_mono_ms() < due)
        if (pthread_cond_timedwait(&fc_stop_cv, &fc_stop_mu, &ts) == ETIMEDOUT)
            break;
    int stopped = atomic_load(&fc_stopping);
    pthread_mutex_unlock(&fc_stop_mu);
    return stopped ? -1 : 0;
}

/* ------------------------------------------------------------ lookups */

static const fc_number *fc_number_find(const char *phone)
{
    for (size_t i = 0; i < G.nnums; i++)
        if (strcmp(G.nums[i].phone, phone) == 0)
            return &G.nums[i];
    return NULL;
}

static const fc_ext *fc_ext_find(const char *id)
{
    for (size_t i = 0; i < G.nexts; i++)
        if (strcmp(G.exts[i].id, id) == 0)
            return &G.exts[i];
    return NULL;
}

static int fc_phones_has(const fc_phones *l, const char *phone)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], phone) == 0)
            return 1;
    return 0;
}

static int fc_phones_add(fc_phones *l, const char *phone)
{
    if (fc_phones_has(l, phone))
        return 0;
    char(*v)[FC_PHONE] = realloc(l->v, sizeof *v * (l->n + 1));
    if (!v)
        return -1;
    l->v = v;
    fc_copy(l->v[l->n++], FC_PHONE, phone);
    return 0;
}

static void fc_phones_free(fc_phones *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ------------------------------------------------------------ tokens */

static size_t tok_bucket(const char *t)
{
    return (size_t)(fc_fnv1a(0, t) & (FC_TOK_BUCKETS - 1));
}

static fc_token *tok_find_locked(const char *t)
{
    for (fc_token *k = G.tok_buckets[tok_bucket(t)]; k; k = k->chain)
        if (strcmp(k->tok, t) == 0)
            return k;
    return NULL;
}

static void tok_evict_oldest_locked(void)
{
    fc_token *k = G.tok_oldest;
    if (!k)
        return;
    G.tok_oldest = k->newer;
    if (!G.tok_oldest)
        G.tok_newest = NULL;
    fc_token **pp = &G.tok_buckets[tok_bucket(k->tok)];
    while (*pp && *pp != k)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = k->chain;
    free(k->redirect);
    free(k);
    G.ntok--;
}

/* A new random token of a kind, owned by an extension. NULL if out of
 * memory. */
static fc_token *tok_new_locked(fc_tok_kind kind, const char *owner, long long ttl_s)
{
    while (G.ntok >= G.max_tokens)
        tok_evict_oldest_locked();
    fc_token *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    char hex[49];
    fc_random_hex(hex, 24);
    snprintf(k->tok, sizeof k->tok, "%s%s",
             kind == TOK_ACCESS ? "fakeAT" : kind == TOK_REFRESH ? "fakeRT" : "fakeCODE", hex);
    k->kind = kind;
    fc_copy(k->owner, sizeof k->owner, owner);
    k->expires_ms = fc_mono_ms() + ttl_s * 1000;
    k->seq = ++G.tok_seq;
    size_t b = tok_bucket(k->tok);
    k->chain = G.tok_buckets[b];
    G.tok_buckets[b] = k;
    if (G.tok_newest)
        G.tok_newest->newer = k;
    else
        G.tok_oldest = k;
    G.tok_newest = k;
    G.ntok++;
    return k;
}

/* ------------------------------------------------------------ messages */

static fc_msg *msg_find_locked(long long id)
{
    if (id < G.first_id || id >= G.next_id)
        return NULL;
    fc_msg *m = G.ring[(size_t)(id % (long long)G.max_messages)];
    return m && m->id == id ? m : NULL;
}

static void msg_free(fc_msg *m)
{
    if (m) {
        free(m->text);
        free(m);
    }
}

/* Store m (taking it) under the next id; drops the oldest when full. */
static long long msg_store_locked(fc_msg *m)
{
    if (G.next_id - G.first_id >= (long long)G.max_messages) {
        size_t slot = (size_t)(G.first_id % (long long)G.max_messages);
        msg_free(G.ring[slot]);
        G.ring[slot] = NULL;
        G.first_id++;
        G.st.evicted++;
    }
    m->id = G.next_id++;
    G.ring[(size_t)(m->id % (long long)G.max_messages)] = m;
    return m->id;
}

static void msg_clear_locked(void)
{
    for (long long id = G.first_id; id < G.next_id; id++) {
        size_t slot = (size_t)(id % (long long)G.max_messages);
        msg_free(G.ring[slot]);
        G.ring[slot] = NULL;
    }
    G.first_id = G.next_id;
}

/* A copy that outlives the lock (the text is duplicated). */
static int msg_snapshot_locked(const fc_msg *m, fc_msg *out)
{
    *out = *m;
    out->text = strdup(m->text ? m->text : "");
    return out->text ? 0 : -1;
}

/* ------------------------------------------------------------ timers */

static void heap_swap(size_t a, size_t b)
{
    fc_timer t = G.heap[a];
    G.heap[a] = G.heap[b];
    G.heap[b] = t;
}

/* Schedule the next status change of message id at due. */
static void timer_push_locked(int64_t due, long long id)
{
    size_t cap_max = 2 * G.max_messages + 1024;
    if (G.nheap == G.capheap) {
        if (G.capheap >= cap_max) {
            G.st.timers_dropped++;
            return;
        }
        size_t nc = G.capheap ? G.capheap * 2 : 1024;
        if (nc > cap_max)
            nc = cap_max;
        fc_timer *h = realloc(G.heap, sizeof *h * nc);
        if (!h) {
            G.st.timers_dropped++;
            return;
        }
        G.heap = h;
        G.capheap = nc;
    }
    size_t i = G.nheap++;
    G.heap[i].due = due;
    G.heap[i].id = id;
    while (i > 0 && G.heap[(i - 1) / 2].due > G.heap[i].due) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    if (i == 0)
        pthread_cond_signal(&G.timer_cv);
}

static fc_timer timer_pop_locked(void)
{
    fc_timer top = G.heap[0];
    G.heap[0] = G.heap[--G.nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < G.nheap && G.heap[l].due < G.heap[s].due)
            s = l;
        if (r < G.nheap && G.heap[r].due < G.heap[s].due)
            s = r;
        if (s == i)
            break;
        heap_swap(i, s);
        i = s;
    }
    return top;
}

/* A latency sample: mean +/- uniform jitter, never negative. */
static int64_t latency_sample_locked(void)
{
    long long mean = G.k.latency_ms, jit = G.k.latency_jitter_ms;
    double v = (double)mean;
    if (jit > 0)
        v += (fc_rand01() * 2.0 - 1.0) * (double)jit;
    return v < 0 ? 0 : (int64_t)llround(v);
}

/* ------------------------------------------------------------ subscriptions */

static void sub_free(fc_sub *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfilters; i++)
        free(s->filters[i]);
    free(s->filters);
    free(s->address);
    free(s->vtoken);
    free(s);
}

static void subs_purge_expired_locked(void)
{
    int64_t now = fc_mono_ms();
    size_t j = 0;
    for (size_t i = 0; i < G.nsubs; i++) {
        if (G.subs[i]->expires <= now)
            sub_free(G.subs[i]);
        else
            G.subs[j++] = G.subs[i];
    }
    G.nsubs = j;
}

static fc_sub *sub_find_locked(const char *id)
{
    subs_purge_expired_locked();
    for (size_t i = 0; i < G.nsubs; i++)
        if (strcmp(G.subs[i]->id, id) == 0)
            return G.subs[i];
    return NULL;
}

static size_t subs_count_owner_locked(const char *owner)
{
    size_t n = 0;
    for (size_t i = 0; i < G.nsubs; i++)
        n += strcmp(G.subs[i]->owner, owner) == 0;
    return n;
}

/* ------------------------------------------------------------ rate windows */

/* The window of (ext, group), reset when its time is up. */
static fc_window *window_get_locked(const char *ext, int group, long long window_s)
{
    int64_t now = fc_mono_ms();
    fc_window *w = NULL;
    for (size_t i = 0; i < G.nwin; i++)
        if (G.win[i].group == group && strcmp(G.win[i].ext, ext) == 0) {
            w = &G.win[i];
            break;
        }
    if (!w) {
        if (G.nwin < FC_WINDOWS)
            w = &G.win[G.nwin++];
        else
            w = &G.win[fc_rand64() % FC_WINDOWS]; /* full: reuse one */
        fc_copy(w->ext, sizeof w->ext, ext);
        w->group = group;
        w->start = now;
        w->count = 0;
    }
    if (now - w->start >= window_s * 1000) {
        w->start = now;
        w->count = 0;
    }
    return w;
}

/* Seconds until the window resets, at least 1. */
static long long window_reset_s(const fc_window *w, long long window_s)
{
    int64_t left = w->start + window_s * 1000 - fc_mono_ms();
    long long s = (long long)((left + 999) / 1000);
    return s < 1 ? 1 : s;
}

/* ------------------------------------------------------------ fingerprints */

/* How many SMS requests with this fingerprint were seen (best effort: a
 * fixed table where a colliding fingerprint replaces the old one). */
static int fingerprint_count_locked(uint64_t fp)
{
    size_t slot = (size_t)(fp & (FC_FPS - 1));
    if (G.fps[slot].fp != fp) {
        G.fps[slot].fp = fp;
        G.fps[slot].count = 0;
    }
    return ++G.fps[slot].count;
}

#endif
