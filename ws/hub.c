/*
 * ws/hub.c — the WebSocket hub: tokens, sessions, fan-out (see ws/ws.h).
 *
 * Locks, always taken in this order: hub->lock (the session list, the
 * shutdown flag), then a session's c->lock (its queue and flags). The
 * token table has its own lock, never held with the others. Nothing blocks
 * while holding a lock except the socket lookup of force_close (a scan of
 * /proc/self/fd, rare: only for sessions that will not close).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <netinet/in.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "actors/actors.h"
#include "bus/log.h"
#include "bus/util.h"
#include "ws/ws.h"

#define TOKEN_BUCKETS 1024
#define CLOSE_GRACE_MS 1000   /* a session told to close has this long to do it */
#define WRITER_STACK (256 * 1024)
#define HUB_BATCH 256         /* events fanned out at once, at most */

/* A message shared by every session it goes to. */
typedef struct wmsg {
    atomic_int ref;
    int close_code;    /* nonzero: a close frame with this code */
    size_t len;
    char data[];
} wmsg;

struct sgw_ws_conn {
    sgw_ws_hub *hub;
    struct mg_connection *conn;
    sgw_ws_conn *prev, *next;   /* hub->conns, under hub->lock */
    char remote_addr[48];
    int remote_port, server_port;
    int64_t opened_ms;
    /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    wmsg **q;                   /* ring of queue_max + 1 (room for a close) */
    size_t qcap, qhead, qlen;
    int authed;
    sgw_ws_who who;
    int closing;                /* a close frame is queued: nothing more */
    int64_t closing_ms;
    int forced;                 /* the socket was shut down */
    int closed;                 /* civetweb's close handler ran */
    int stop;                   /* the writer must end */
    int writer_started;
    int kick;                   /* queued since the last signal (fan_out) */
    pthread_t writer;
};

typedef struct token {
    char hash[65];
    sgw_ws_who who;
    int64_t expires_ms;
    struct token *next;
} token;

struct sgw_ws_hub {
    int64_t auth_timeout_ms, ping_ms, token_ttl_s, tokens_max;
    size_t queue_max;
    int batch_max;      /* events fanned out at once: a quarter of queue_max
                         * at most, so a reader that keeps up is never
                         * more than queue_max behind because of batching */
    nng_socket sub;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t lock;
    sgw_ws_conn *conns;
    int shutting_down;
    pthread_mutex_t tlock;
    token *tb[TOKEN_BUCKETS];
    int64_t ntokens;
    atomic_uint_fast64_t n_conns, n_authed, conns_total, auth_fail_total, drops_total,
        events_total, sent_total;
};

static wmsg *wmsg_new(const char *data, size_t len, int close_code)
{
    wmsg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return NULL;
    atomic_init(&m->ref, 1);
    m->close_code = close_code;
    m->len = len;
    if (len)
        memcpy(m->data, data, len);
    m->data[len] = '\0';
    return m;
}

static void wmsg_unref(wmsg *m)
{
    if (m && atomic_fetch_sub(&m->ref, 1) == 1)
        free(m);
}

int sgw_ws_send_close(struct mg_connection *conn, int code)
{
    char p[2] = { (char)((code >> 8) & 0xff), (char)(code & 0xff) };
    return mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, p, 2);
}

/* ------------------------------------------------------------ tokens */

static unsigned token_bucket(const char *hash)
{
    unsigned h = 0;
    for (int i = 0; i < 8; i++)
        h = h * 16 + (unsigned)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    return h % TOKEN_BUCKETS;
}

/* Under tlock: free expired tokens. */
static void tokens_purge(sgw_ws_hub *h, int64_t now)
{
    for (int i = 0; i < TOKEN_BUCKETS; i++)
        for (token **pp = &h->tb[i]; *pp;) {
            token *t = *pp;
            if (t->expires_ms <= now) {
                *pp = t->next;
                free(t);
                h->ntokens--;
            } else {
                pp = &t->next;
            }
        }
}

sgw_err sgw_ws_token_issue(sgw_ws_hub *h, const sgw_ws_who *who, char tok[72])
{
    sgw_err rv = sgw_random_id(tok, 72, "wst_", 64);
    if (rv != SGW_OK)
        return rv;
    token *t = calloc(1, sizeof *t);
    if (!t)
        return SGW_ENOMEM;
    sgw_sha256_hex(t->hash, tok, strlen(tok));
    t->who = *who;
    int64_t now = sgw_mono_ms();
    t->expires_ms = now + h->token_ttl_s * 1000;
    pthread_mutex_lock(&h->tlock);
    if (h->ntokens >= h->tokens_max)
        tokens_purge(h, now);
    if (h->ntokens >= h->tokens_max) {
        pthread_mutex_unlock(&h->tlock);
        free(t);
        return SGW_EBUSY;
    }
    unsigned b = token_bucket(t->hash);
    t->next = h->tb[b];
    h->tb[b] = t;
    h->ntokens++;
    pthread_mutex_unlock(&h->tlock);
    return SGW_OK;
}

int sgw_ws_token_redeem(sgw_ws_hub *h, const char *tok, sgw_ws_who *who)
{
    if (!sgw_id_valid(tok, "wst_", 64))
        return 0;
    char hash[65];
    sgw_sha256_hex(hash, tok, strlen(tok));
    int ok = 0;
    int64_t now = sgw_mono_ms();
    pthread_mutex_lock(&h->tlock);
    for (token **pp = &h->tb[token_bucket(hash)]; *pp; pp = &(*pp)->next) {
        token *t = *pp;
        if (sgw_ct_equal(t->hash, hash, 64)) {
            ok = t->expires_ms > now;
            if (ok)
                *who = t->who;
            *pp = t->next; /* single use: gone either way */
            free(t);
            h->ntokens--;
            break;
        }
    }
    pthread_mutex_unlock(&h->tlock);
    return ok;
}

int64_t sgw_ws_token_ttl_s(const sgw_ws_hub *h) { return h->token_ttl_s; }

/* ------------------------------------------------------------ sessions */

/* Under c->lock, c not closed: shut the socket down so that civetweb's read
 * loop (and a write blocked on the peer) ends. civetweb has no call for
 * this, so the socket is found by its addresses. */
static void force_close(sgw_ws_conn *c)
{
    if (c->forced || c->closed)
        return;
    c->forced = 1;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == dirfd(d))
            continue;
        struct sockaddr_storage la, pa;
        socklen_t ll = sizeof la, pl = sizeof pa;
        if (getsockname(fd, (struct sockaddr *)&la, &ll) != 0 ||
            getpeername(fd, (struct sockaddr *)&pa, &pl) != 0 || la.ss_family != pa.ss_family)
            continue;
        char addr[64] = "";
        int lport, pport;
        if (pa.ss_family == AF_INET) {
            const struct sockaddr_in *p4 = (const struct sockaddr_in *)&pa;
            inet_ntop(AF_INET, &p4->sin_addr, addr, sizeof addr);
            pport = ntohs(p4->sin_port);
            lport = ntohs(((const struct sockaddr_in *)&la)->sin_port);
        } else if (pa.ss_family == AF_INET6) {
            const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)&pa;
            inet_ntop(AF_INET6, &p6->sin6_addr, addr, sizeof addr);
            pport = ntohs(p6->sin6_port);
            lport = ntohs(((const struct sockaddr_in6 *)&la)->sin6_port);
        } else {
            continue;
        }
        if (pport == c->remote_port && lport == c->server_port &&
            strcmp(addr, c->remote_addr) == 0) {
            shutdown(fd, SHUT_RDWR);
            break;
        }
    }
    closedir(d);
}

/* Under c->lock: queue m (one more reference) and mark the writer to be
 * woken (fan_out wakes it once per batch). 0 if the queue is full. */
static int enqueue_quiet(sgw_ws_conn *c, wmsg *m)
{
    if (c->qlen == c->qcap)
        return 0;
    atomic_fetch_add(&m->ref, 1);
    c->q[(c->qhead + c->qlen) % c->qcap] = m;
    c->qlen++;
    c->kick = 1;
    return 1;
}

/* Under c->lock: wake the writer if something was queued. */
static void kick(sgw_ws_conn *c)
{
    if (c->kick) {
        c->kick = 0;
        pthread_cond_signal(&c->cond);
    }
}

/* Under c->lock: queue m and wake the writer at once. */
static int enqueue(sgw_ws_conn *c, wmsg *m)
{
    int ok = enqueue_quiet(c, m);
    kick(c);
    return ok;
}

/* Under c->lock: drop what is queued, queue a close frame with code. */
static void start_closing(sgw_ws_conn *c, int code, const char *text)
{
    if (c->closing)
        return;
    while (c->qlen) {
        wmsg_unref(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    c->closing = 1;
    c->closing_ms = sgw_mono_ms();
    if (text) {
        wmsg *t = wmsg_new(text, strlen(text), 0);
        if (t) {
            enqueue(c, t);
            wmsg_unref(t);
        }
    }
    wmsg *m = wmsg_new(NULL, 0, code);
    if (m) {
        enqueue(c, m);
        wmsg_unref(m);
    }
    if (!c->writer_started)
        force_close(c);
}

/* A server text frame's header (RFC 6455 section 5.2: FIN, opcode 1, no
 * mask) for a payload of len bytes; returns the header's length. */
static size_t frame_header(unsigned char hdr[10], size_t len)
{
    hdr[0] = 0x81;
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

#define WRITE_BATCH 256        /* messages taken from the queue at once */
#define WRITE_COALESCE 65536   /* bytes of frames put in one write */

/* Write n text messages as frames, several per mg_write: a subscriber that
 * is behind catches up with few system calls. 1 if all were written. */
static int write_texts(sgw_ws_conn *c, wmsg *const *v, int n, char **buf, size_t *cap)
{
    int i = 0;
    while (i < n) {
        size_t len = 0;
        int j = i;
        for (; j < n && (j == i || len + v[j]->len + 10 <= WRITE_COALESCE); j++)
            len += v[j]->len + 10;
        if (len > *cap) {
            char *p = realloc(*buf, len);
            if (!p)
                return 0;
            *buf = p;
            *cap = len;
        }
        size_t off = 0;
        for (int k = i; k < j; k++) {
            off += frame_header((unsigned char *)*buf + off, v[k]->len);
            memcpy(*buf + off, v[k]->data, v[k]->len);
            off += v[k]->len;
        }
        mg_lock_connection(c->conn);
        int w = mg_write(c->conn, *buf, off);
        mg_unlock_connection(c->conn);
        if (w <= 0 || (size_t)w != off)
            return 0;
        atomic_fetch_add_explicit(&c->hub->sent_total, (uint_fast64_t)(j - i),
                                  memory_order_relaxed);
        i = j;
    }
    return 1;
}

static void *writer_main(void *arg)
{
    sgw_ws_conn *c = arg;
    wmsg *batch[WRITE_BATCH];
    char *buf = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->qlen && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->stop)
            break;
        /* the text messages at the head, or one close frame */
        int n = 0;
        while (c->qlen && n < WRITE_BATCH && (n == 0 || !c->q[c->qhead]->close_code)) {
            batch[n++] = c->q[c->qhead];
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
            if (batch[n - 1]->close_code)
                break;
        }
        pthread_mutex_unlock(&c->lock);
        int ok, was_close = batch[0]->close_code != 0;
        if (was_close)
            ok = sgw_ws_send_close(c->conn, batch[0]->close_code) > 0;
        else
            ok = write_texts(c, batch, n, &buf, &cap);
        for (int k = 0; k < n; k++)
            wmsg_unref(batch[k]);
        pthread_mutex_lock(&c->lock);
        if (!ok || was_close) {
            /* A dead peer, or a close sent: nothing more goes out. A peer
             * that answers the close ends the read loop itself; the hub
             * shuts down those that do not (CLOSE_GRACE_MS). */
            if (!ok)
                force_close(c);
            c->closing = 1;
            if (!c->closing_ms)
                c->closing_ms = sgw_mono_ms();
            while (c->qlen) {
                wmsg_unref(c->q[c->qhead]);
                c->qhead = (c->qhead + 1) % c->qcap;
                c->qlen--;
            }
            while (!c->stop)
                pthread_cond_wait(&c->cond, &c->lock);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    free(buf);
    return NULL;
}

sgw_ws_conn *sgw_ws_open(sgw_ws_hub *h, struct mg_connection *conn)
{
    sgw_ws_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->qcap = h->queue_max + 2;
    c->q = calloc(c->qcap, sizeof *c->q);
    if (!c->q) {
        free(c);
        return NULL;
    }
    c->hub = h;
    c->conn = conn;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    snprintf(c->remote_addr, sizeof c->remote_addr, "%s", ri->remote_addr);
    c->remote_port = ri->remote_port;
    c->server_port = ri->server_port;
    c->opened_ms = sgw_mono_ms();
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    pthread_mutex_lock(&h->lock);
    if (h->shutting_down) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c->q);
        free(c);
        return NULL;
    }
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    pthread_mutex_unlock(&h->lock);
    atomic_fetch_add(&h->n_conns, 1);
    atomic_fetch_add(&h->conns_total, 1);
    return c;
}

static const char AUTH_OK[] = "{\"type\":\"auth_ok\"}";

int sgw_ws_authed(sgw_ws_conn *c, const sgw_ws_who *who)
{
    sgw_ws_hub *h = c->hub;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WRITER_STACK);
    pthread_mutex_lock(&h->lock);
    pthread_mutex_lock(&c->lock);
    wmsg *first = wmsg_new(AUTH_OK, sizeof AUTH_OK - 1, 0);
    int ok = first && !c->closing && !h->shutting_down && enqueue(c, first) &&
             pthread_create(&c->writer, &attr, writer_main, c) == 0;
    wmsg_unref(first);
    if (ok) {
        c->writer_started = 1;
        c->authed = 1;
        c->who = *who;
        atomic_fetch_add(&h->n_authed, 1);
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&h->lock);
    pthread_attr_destroy(&attr);
    if (!ok)
        sgw_log(SGW_LOG_WARN, "ws", "session not started (shutting down or no thread)");
    return ok;
}

int sgw_ws_is_authed(sgw_ws_conn *c)
{
    pthread_mutex_lock(&c->lock);
    int a = c->authed;
    pthread_mutex_unlock(&c->lock);
    return a;
}

void sgw_ws_auth_failed(sgw_ws_conn *c)
{
    atomic_fetch_add(&c->hub->auth_fail_total, 1);
}

void sgw_ws_close(sgw_ws_conn *c)
{
    if (!c)
        return;
    sgw_ws_hub *h = c->hub;
    pthread_mutex_lock(&h->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&h->lock);
    pthread_mutex_lock(&c->lock);
    c->closed = 1;
    c->stop = 1;
    pthread_cond_broadcast(&c->cond);
    int started = c->writer_started, authed = c->authed;
    pthread_mutex_unlock(&c->lock);
    if (started)
        pthread_join(c->writer, NULL); /* a blocked write ends: the socket is going */
    while (c->qlen) {
        wmsg_unref(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    atomic_fetch_sub(&h->n_conns, 1);
    if (authed)
        atomic_fetch_sub(&h->n_authed, 1);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c->q);
    free(c);
}

/* ------------------------------------------------------------ the hub thread */

static int may_see(const sgw_ws_who *w, const char *type, const char *app, const char *tenant)
{
    if (w->admin)
        return 1;
    if (strcmp(type, "sms_status") == 0)
        return app && strcmp(app, w->app) == 0;
    if (strcmp(type, "sms_inbound") == 0)
        return tenant && w->tenant[0] && strcmp(tenant, w->tenant) == 0;
    return 0;
}

typedef struct hub_event {
    json_t *o;                 /* holds type, app and tenant */
    const char *type, *app, *tenant;
    wmsg *m;
} hub_event;

/* Queue a batch of events to every session that may see them, then wake
 * each writer once. */
static void fan_out(sgw_ws_hub *h, hub_event *ev, int n)
{
    pthread_mutex_lock(&h->lock);
    for (sgw_ws_conn *c = h->conns; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        for (int i = 0; i < n && c->authed && !c->closing; i++) {
            if (!may_see(&c->who, ev[i].type, ev[i].app, ev[i].tenant))
                continue;
            if (!enqueue_quiet(c, ev[i].m)) {
                atomic_fetch_add(&h->drops_total, 1);
                sgw_log(SGW_LOG_WARN, "ws", "dropping slow subscriber %s:%d (%zu queued)",
                        c->remote_addr, c->remote_port, c->qlen);
                start_closing(c, 1013, NULL);
            }
        }
        kick(c);
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&h->lock);
}

/* Take buf (an event's JSON) into ev: 0 if it is not an event. */
static int hub_event_take(sgw_ws_hub *h, const char *buf, size_t len, hub_event *ev)
{
    ev->o = json_loadb(buf, len, 0, NULL);
    ev->type = json_string_value(json_object_get(ev->o, "type"));
    if (!ev->type || !(ev->m = wmsg_new(buf, len, 0))) {
        json_decref(ev->o);
        return 0;
    }
    ev->app = json_string_value(json_object_get(ev->o, "appId"));
    ev->tenant = json_string_value(json_object_get(ev->o, "tenantId"));
    atomic_fetch_add_explicit(&h->events_total, 1, memory_order_relaxed);
    return 1;
}

static const char AUTH_LATE[] = "{\"type\":\"auth_error\",\"error\":\"Send auth first\"}";

/* Pings when due, the auth deadline, and sessions that would not close. */
static void tick(sgw_ws_hub *h, int ping)
{
    int64_t now = sgw_mono_ms();
    wmsg *p = ping ? wmsg_new("{\"type\":\"ping\"}", 15, 0) : NULL;
    pthread_mutex_lock(&h->lock);
    for (sgw_ws_conn *c = h->conns; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        if (c->closing) {
            if (now - c->closing_ms > CLOSE_GRACE_MS)
                force_close(c);
        } else if (!c->authed) {
            if (now - c->opened_ms > h->auth_timeout_ms) {
                /* no writer yet: written here, then the socket is shut down */
                mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_TEXT, AUTH_LATE,
                                   sizeof AUTH_LATE - 1);
                sgw_ws_send_close(c->conn, 1008);
                atomic_fetch_add(&h->auth_fail_total, 1);
                c->closing = 1;
                c->closing_ms = now;
            }
        } else if (p && !enqueue(c, p)) {
            atomic_fetch_add(&h->drops_total, 1);
            start_closing(c, 1013, NULL);
        }
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&h->lock);
    wmsg_unref(p);
}

static void *hub_main(void *arg)
{
    sgw_ws_hub *h = arg;
    int64_t next_ping = sgw_mono_ms() + h->ping_ms, next_tick = sgw_mono_ms() + 100;
    hub_event ev[HUB_BATCH];
    while (!atomic_load(&h->stop)) {
        /* wait for one event, then take what else is there (a batch) */
        int n = 0, rv = 0;
        while (n < h->batch_max) {
            char *buf = NULL;
            size_t len = 0;
            rv = nng_recv(h->sub, &buf, &len, NNG_FLAG_ALLOC | (n ? NNG_FLAG_NONBLOCK : 0));
            if (rv != 0)
                break;
            n += hub_event_take(h, buf, len, &ev[n]);
            nng_free(buf, len);
        }
        if (n) {
            fan_out(h, ev, n);
            for (int i = 0; i < n; i++) {
                wmsg_unref(ev[i].m);
                json_decref(ev[i].o);
            }
        }
        if (rv != 0 && rv != NNG_ETIMEDOUT && rv != NNG_EAGAIN) {
            if (rv == NNG_ECLOSED)
                break;
            sgw_log(SGW_LOG_WARN, "ws", "events: %s", nng_strerror(rv));
        }
        int64_t now = sgw_mono_ms();
        if (now >= next_tick) {
            int ping = now >= next_ping;
            if (ping)
                next_ping = now + h->ping_ms;
            tick(h, ping);
            next_tick = now + 100;
        }
    }
    return NULL;
}

sgw_err sgw_ws_hub_new(const sgw_cfg *cfg, sgw_ws_hub **out, char *why, size_t whysz)
{
    sgw_ws_hub *h = calloc(1, sizeof *h);
    if (!h)
        return SGW_ENOMEM;
    h->auth_timeout_ms = sgw_cfg_int(cfg, "ws.auth_timeout_ms");
    h->ping_ms = sgw_cfg_int(cfg, "ws.ping_s") * 1000;
    h->token_ttl_s = sgw_cfg_int(cfg, "ws.token_ttl_s");
    h->tokens_max = sgw_cfg_int(cfg, "ws.tokens_max");
    int64_t qm = sgw_cfg_int(cfg, "ws.queue_max");
    if (h->ping_ms <= 0 || h->token_ttl_s <= 0 || h->tokens_max <= 0 || qm <= 0 ||
        h->auth_timeout_ms <= 0) {
        snprintf(why, whysz, "ws: ping_s, token_ttl_s, tokens_max, queue_max and "
                             "auth_timeout_ms must be positive");
        free(h);
        return SGW_ECONFIG;
    }
    h->queue_max = (size_t)qm;
    h->batch_max = qm / 4 < 1 ? 1 : qm / 4 > HUB_BATCH ? HUB_BATCH : (int)(qm / 4);
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->tlock, NULL);
    int rv;
    if ((rv = nng_sub0_open(&h->sub)) != 0 ||
        (rv = nng_socket_set(h->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (rv = nng_socket_set_int(h->sub, NNG_OPT_RECVBUF, 8192)) != 0 ||
        (rv = nng_socket_set_ms(h->sub, NNG_OPT_RECVTIMEO, 50)) != 0 ||
        (rv = nng_dial(h->sub, SGW_EVENTS_URL, NULL, 0)) != 0) {
        snprintf(why, whysz, "ws: events %s: %s", SGW_EVENTS_URL, nng_strerror(rv));
        nng_close(h->sub);
        pthread_mutex_destroy(&h->lock);
        pthread_mutex_destroy(&h->tlock);
        free(h);
        return SGW_EIO;
    }
    if (pthread_create(&h->thread, NULL, hub_main, h) != 0) {
        snprintf(why, whysz, "ws: no thread");
        nng_close(h->sub);
        pthread_mutex_destroy(&h->lock);
        pthread_mutex_destroy(&h->tlock);
        free(h);
        return SGW_ENOMEM;
    }
    *out = h;
    return SGW_OK;
}

void sgw_ws_hub_shutdown(sgw_ws_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->shutting_down = 1;
    for (sgw_ws_conn *c = h->conns; c; c = c->next) {
        pthread_mutex_lock(&c->lock);
        start_closing(c, 1001, NULL);
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&h->lock);
    /* the hub thread's tick shuts down the sessions that have not gone
     * after CLOSE_GRACE_MS; wait for them all, at most a little longer */
    int64_t end = sgw_mono_ms() + CLOSE_GRACE_MS + 1000;
    while (atomic_load(&h->n_conns) > 0 && sgw_mono_ms() < end) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

void sgw_ws_hub_destroy(sgw_ws_hub **hp)
{
    if (!hp || !*hp)
        return;
    sgw_ws_hub *h = *hp;
    atomic_store(&h->stop, 1);
    pthread_join(h->thread, NULL);
    nng_close(h->sub);
    pthread_mutex_lock(&h->tlock);
    tokens_purge(h, INT64_MAX);
    pthread_mutex_unlock(&h->tlock);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->tlock);
    free(h);
    *hp = NULL;
}

void sgw_ws_hub_stats(sgw_ws_hub *h, sgw_ws_stats *s)
{
    memset(s, 0, sizeof *s);
    if (!h)
        return;
    s->connections = atomic_load(&h->n_conns);
    s->authenticated = atomic_load(&h->n_authed);
    s->connections_total = atomic_load(&h->conns_total);
    s->auth_failures_total = atomic_load(&h->auth_fail_total);
    s->drops_total = atomic_load(&h->drops_total);
    s->events_total = atomic_load(&h->events_total);
    s->sent_total = atomic_load(&h->sent_total);
    pthread_mutex_lock(&h->tlock);
    s->tokens = (uint64_t)h->ntokens;
    pthread_mutex_unlock(&h->tlock);
}
