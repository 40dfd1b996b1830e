/*
 * bench/wsfan.c — WebSocket fan-out benchmark (issue 5): N subscribers on
 * /ws, all on one epoll thread, then M sends through POST /v1/sms/send
 * (libcurl multi on the same loop) and every sms_status event counted at
 * every subscriber.
 *
 *   wsfan --port P --key sgw_test_... [--subs 1000] [--messages 2000]
 *         [--send-conc 8] [--rate 0] [--open-conc 64] [--pid GATEWAY_PID]
 *         [--timeout 60] [--settle 2]
 *
 * (a) Idle memory: the gateway's VmRSS (/proc/PID/status), then N
 *     subscribers connect (HTTP/1.1 Upgrade, Sec-WebSocket-Accept checked),
 *     send {"type":"auth","apiKey":KEY} in a masked text frame and wait for
 *     {"type":"auth_ok"}; once the gateway's RSS has been steady for
 *     --settle seconds, RSS again: (after - before) / N per idle connection.
 * (b) Fan-out: M sends (to +15559870001 from +15551234567, body "bench", the
 *     key's mode decides the route: a test key uses the simulator, where a
 *     plain send yields 4 sms_status events: queued, sending, sent, delivered), at
 *     most --send-conc in flight (and at most --rate per second when given).
 *     The clock runs from the first send until every subscriber has all
 *     4 x accepted events (or was closed: a close 1013 is a slow subscriber
 *     dropped by the gateway), or --timeout. Progress goes to stderr every
 *     5 s (the status actor's and the hub's counts from /metrics).
 *
 * Prints a readable block and one machine-readable line:
 *   wsfan subs=… messages=… published=… hub=… lost=… secs=… conn_s=…
 *         idle_kib_per_conn=… events_per_s=… deliveries_per_s=… complete=… drops=…
 *         rss_idle_mb=… rss_peak_mb=…
 * events_per_s: events every subscriber received (the fewest), per second;
 * deliveries_per_s: event frames received by all subscribers, per second.
 * Exit status: 0 done (drops are a result, not an error), 1 error, 2 timeout,
 * 3 done but events missing: the status actor published events that never
 * reached the WebSocket hub (the run ends when every subscriber has every
 * event the hub took and nothing has moved for 2 s).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define CURL_TAG (1ULL << 40)
#define MAX_FRAME (16u << 20)

enum { S_NEW, S_CONNECTING, S_HANDSHAKE, S_AUTH, S_AUTHED, S_CLOSED };
enum { K_OTHER, K_EVENT, K_PING, K_AUTH_OK, K_AUTH_ERR };

typedef struct sub {
    int fd, state;
    char accept[32];            /* the Sec-WebSocket-Accept we expect */
    unsigned char *buf;
    size_t len, cap;
    int frag_kind;              /* kind of a fragmented text message under way */
    int close_code;             /* -1: none; 0: EOF without a close frame */
    uint64_t events, pings, others;
    double t_open, t_authed, t_done;
    int done;
} sub;

static struct {
    int port, subs, messages, send_conc, open_conc, timeout_s;
    double rate, settle_s;
    const char *key;
    long pid;
} opt = { .port = 0, .subs = 1000, .messages = 2000, .send_conc = 8, .open_conc = 64,
          .timeout_s = 60, .rate = 0, .settle_s = 2.0, .key = NULL, .pid = 0 };

static sub *subs;
static int ep = -1;
static int pending_open, n_authed, n_closed, n_done, n_drops, n_closed_other;
#define EVENTS_PER_MESSAGE 4ull  /* queued, sending, sent, delivered (the simulator) */
static uint64_t expected_events;  /* 0 until every send has been answered */
static int sends_finished;
static double t_last_event;       /* when the last event frame came */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "wsfan: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

/* ------------------------------------------------------------ the gateway process */

typedef struct pstat {
    long rss_kb, hwm_kb, threads;
    double cpu_s;
} pstat;

static int read_pstat(pstat *p)
{
    memset(p, 0, sizeof *p);
    if (opt.pid <= 0)
        return 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", opt.pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            p->rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            p->hwm_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "Threads:", 8) == 0)
            p->threads = strtol(line + 8, NULL, 10);
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%ld/stat", opt.pid);
    f = fopen(path, "r");
    if (f) {
        char st[2048];
        size_t n = fread(st, 1, sizeof st - 1, f);
        st[n] = '\0';
        fclose(f);
        char *q = strrchr(st, ')'); /* comm may hold spaces */
        unsigned long ut = 0, stt = 0;
        if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                        &stt) == 2)
            p->cpu_s = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
    }
    return 1;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------ /metrics */

typedef struct mbuf {
    char *p;
    size_t len;
} mbuf;

static size_t mbuf_write(char *data, size_t sz, size_t n, void *ud)
{
    mbuf *b = ud;
    char *np = realloc(b->p, b->len + sz * n + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->len, data, sz * n);
    b->len += sz * n;
    b->p[b->len] = '\0';
    return sz * n;
}

static size_t discard(char *data, size_t sz, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return sz * n;
}

/* The gateway's /metrics; NULL on failure (the caller frees). */
static char *get_metrics(void)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", opt.port);
    mbuf b = { 0 };
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, mbuf_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    long code = 0;
    if (curl_easy_perform(e) != CURLE_OK ||
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
        free(b.p);
        b.p = NULL;
    }
    curl_easy_cleanup(e);
    return b.p;
}

static long long metric(const char *text, const char *name)
{
    if (!text)
        return -1;
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
            return strtoll(p + nl + 1, NULL, 10);
    return -1;
}

typedef struct wsm {
    long long authed, drops, events, sent, published;
} wsm;

static wsm ws_metrics(void)
{
    char *t = get_metrics();
    wsm m = { metric(t, "smsgw_ws_authenticated"), metric(t, "smsgw_ws_drops_total"),
              metric(t, "smsgw_ws_events_total"), metric(t, "smsgw_ws_sent_total"),
              metric(t, "smsgw_status_events_total{status=\"queued\"}") +
                  metric(t, "smsgw_status_events_total{status=\"sending\"}") +
                  metric(t, "smsgw_status_events_total{status=\"sent\"}") +
                  metric(t, "smsgw_status_events_total{status=\"delivered\"}") };
    free(t);
    return m;
}

/* ------------------------------------------------------------ WebSocket client */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            if (poll(&pf, 1, 2000) <= 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* A masked client frame (payload < 64 KiB). */
static int send_frame(int fd, int op, const void *payload, size_t n)
{
    unsigned char f[8 + 65536];
    if (n > 65535)
        return -1;
    size_t h = 0;
    f[h++] = (unsigned char)(0x80 | op);
    if (n < 126) {
        f[h++] = (unsigned char)(0x80 | n);
    } else {
        f[h++] = 0x80 | 126;
        f[h++] = (unsigned char)(n >> 8);
        f[h++] = (unsigned char)n;
    }
    unsigned char mask[4];
    if (RAND_bytes(mask, 4) != 1) {
        for (int i = 0; i < 4; i++)
            mask[i] = (unsigned char)random();
    }
    memcpy(f + h, mask, 4);
    h += 4;
    const unsigned char *s = payload;
    for (size_t i = 0; i < n; i++)
        f[h + i] = s[i] ^ mask[i & 3];
    return write_all(fd, f, h + n);
}

static void sub_closed(sub *s, int code)
{
    if (s->state == S_CLOSED)
        return;
    int was = s->state;
    if (s->fd >= 0)
        close(s->fd); /* also leaves the epoll set */
    s->fd = -1;
    s->state = S_CLOSED;
    s->close_code = code;
    n_closed++;
    if (was != S_AUTHED)
        pending_open--;
    if (code == 1013)
        n_drops++;
    else
        n_closed_other++;
}

/* An error before the subscriber was authenticated: fatal for the run. */
static void sub_fail(sub *s, const char *why)
{
    fprintf(stderr, "wsfan: subscriber %d: %s\n", (int)(s - subs), why);
    exit(1);
}

static void sub_check_done(sub *s)
{
    if (!s->done && expected_events && s->events >= expected_events) {
        s->done = 1;
        s->t_done = now_s();
        n_done++;
    }
}

static int classify(const unsigned char *p, size_t n)
{
    if (memmem(p, n, "\"sms_status\"", 12) || memmem(p, n, "\"sms_inbound\"", 13))
        return K_EVENT;
    if (memmem(p, n, "\"ping\"", 6))
        return K_PING;
    if (memmem(p, n, "\"auth_ok\"", 9))
        return K_AUTH_OK;
    if (memmem(p, n, "\"auth_error\"", 12))
        return K_AUTH_ERR;
    return K_OTHER;
}

static void on_message(sub *s, int kind)
{
    switch (kind) {
    case K_EVENT:
        s->events++;
        t_last_event = now_s();
        sub_check_done(s);
        break;
    case K_PING:
        s->pings++;
        break;
    case K_AUTH_OK:
        if (s->state == S_AUTH) {
            s->state = S_AUTHED;
            s->t_authed = now_s();
            pending_open--;
            n_authed++;
        } else {
            s->others++;
        }
        break;
    case K_AUTH_ERR:
        sub_fail(s, "auth_error (is the key right?)");
        break;
    default:
        s->others++;
    }
}

/* Parse complete server frames from s->buf; keep a partial one. */
static void parse_frames(sub *s)
{
    size_t off = 0;
    unsigned char *p = s->buf;
    while (s->state != S_CLOSED && s->len - off >= 2) {
        unsigned char *f = p + off;
        size_t avail = s->len - off, hdr = 2;
        int fin = f[0] & 0x80, op = f[0] & 0x0f, masked = f[1] & 0x80;
        uint64_t plen = f[1] & 0x7f;
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = ((uint64_t)f[2] << 8) | f[3];
            hdr = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = (plen << 8) | f[2 + i];
            hdr = 10;
        }
        if (plen > MAX_FRAME)
            sub_fail(s, "frame too large");
        size_t mh = masked ? 4 : 0;
        if (avail < hdr + mh + plen)
            break;
        unsigned char *pl = f + hdr + mh;
        if (masked) /* servers do not mask; unmask anyway */
            for (uint64_t i = 0; i < plen; i++)
                pl[i] ^= f[hdr + (i & 3)];
        off += hdr + mh + plen;
        switch (op) {
        case 0x1: { /* text */
            int k = classify(pl, plen);
            if (fin)
                on_message(s, k);
            else
                s->frag_kind = k;
            break;
        }
        case 0x0: /* continuation */
            if (fin && s->frag_kind >= 0) {
                on_message(s, s->frag_kind);
                s->frag_kind = -1;
            }
            break;
        case 0x2: /* binary */
            if (fin)
                s->others++;
            break;
        case 0x8: { /* close: answer it, then go */
            int code = plen >= 2 ? (pl[0] << 8) | pl[1] : 1005;
            if (s->state != S_AUTHED) {
                char why[64];
                snprintf(why, sizeof why, "closed (%d) before auth_ok", code);
                sub_fail(s, why);
            }
            unsigned char c[2] = { (unsigned char)(code >> 8), (unsigned char)code };
            send_frame(s->fd, 0x8, c, plen >= 2 ? 2 : 0);
            sub_closed(s, code);
            break;
        }
        case 0x9: /* ping -> pong */
            send_frame(s->fd, 0xA, pl, plen);
            break;
        default: /* pong */
            break;
        }
    }
    if (s->state == S_CLOSED) {
        s->len = 0;
    } else if (off) {
        memmove(p, p + off, s->len - off);
        s->len -= off;
    }
}

static void handshake_reply(sub *s)
{
    unsigned char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
    if (!end) {
        if (s->len > 16384)
            sub_fail(s, "handshake answer too long");
        return;
    }
    size_t hl = (size_t)(end - s->buf) + 4;
    char head[16384 + 1];
    memcpy(head, s->buf, hl);
    head[hl] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr(head, "\r\n");
        if (eol)
            *eol = '\0';
        fprintf(stderr, "wsfan: subscriber %d: upgrade refused: %s\n", (int)(s - subs), head);
        exit(1);
    }
    char *a = strcasestr(head, "\r\nSec-WebSocket-Accept:");
    if (!a)
        sub_fail(s, "no Sec-WebSocket-Accept");
    a += strlen("\r\nSec-WebSocket-Accept:");
    while (*a == ' ' || *a == '\t')
        a++;
    size_t al = strcspn(a, " \t\r\n");
    if (al != strlen(s->accept) || strncmp(a, s->accept, al) != 0)
        sub_fail(s, "wrong Sec-WebSocket-Accept");
    memmove(s->buf, s->buf + hl, s->len - hl);
    s->len -= hl;
    char auth[512];
    int n = snprintf(auth, sizeof auth, "{\"type\":\"auth\",\"apiKey\":\"%s\"}", opt.key);
    if (n < 0 || (size_t)n >= sizeof auth || send_frame(s->fd, 0x1, auth, (size_t)n) != 0)
        sub_fail(s, "could not send the auth frame");
    s->state = S_AUTH;
    parse_frames(s);
}

static void sub_start(sub *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        die("socket: %s (raise ulimit -n?)", strerror(errno));
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->t_open = now_s();
    s->close_code = -1;
    s->frag_kind = -1;
    if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    s->state = S_CONNECTING;
    pending_open++;
    struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)(s - subs) };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void sub_connected(sub *s)
{
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err)
        die("connect: %s (is the gateway up?)", strerror(err));
    unsigned char raw[16], dig[EVP_MAX_MD_SIZE];
    char key[32], cat[128];
    unsigned dl = 0;
    if (RAND_bytes(raw, sizeof raw) != 1)
        die("%s", "RAND_bytes failed");
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    int cl = snprintf(cat, sizeof cat, "%s%s", key, WS_GUID);
    if (EVP_Digest(cat, (size_t)cl, dig, &dl, EVP_sha1(), NULL) != 1)
        die("%s", "SHA-1 failed");
    EVP_EncodeBlock((unsigned char *)s->accept, dig, (int)dl);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     opt.port, key);
    if (write_all(s->fd, req, (size_t)n) != 0)
        sub_fail(s, "could not send the upgrade request");
    s->state = S_HANDSHAKE;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(s - subs) };
    epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void sub_readable(sub *s)
{
    for (int round = 0; round < 4 && s->state != S_CLOSED; round++) {
        if (s->cap - s->len < 8192) {
            size_t nc = s->cap ? s->cap * 2 : 32768;
            unsigned char *nb = realloc(s->buf, nc);
            if (!nb)
                die("%s", "out of memory");
            s->buf = nb;
            s->cap = nc;
        }
        ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len);
        if (r > 0) {
            s->len += (size_t)r;
            if (s->state == S_HANDSHAKE)
                handshake_reply(s);
            else
                parse_frames(s);
            if ((size_t)r < 8192)
                break; /* probably drained */
        } else if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            break;
        } else {
            if (s->state != S_AUTHED)
                sub_fail(s, r == 0 ? "EOF before auth_ok" : strerror(errno));
            sub_closed(s, 0);
        }
    }
}

static void sub_event(sub *s, uint32_t evs)
{
    if (s->state == S_CONNECTING) {
        if (evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            sub_connected(s);
        return;
    }
    if (evs & (EPOLLIN | EPOLLERR | EPOLLHUP))
        sub_readable(s);
}

/* ------------------------------------------------------------ sends (libcurl multi) */

static CURLM *multi;
static double curl_deadline = -1;
static struct curl_slist *send_headers;
static int sends_issued, sends_inflight, sends_ok, sends_bad;
static double t_last_answer;

static int curl_sock_cb(CURL *e, curl_socket_t fd, int what, void *up, void *sp)
{
    (void)e;
    (void)up;
    (void)sp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = { .events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
                                        (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                              .data.u64 = CURL_TAG | (uint64_t)fd };
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static int curl_timer_cb(CURLM *m, long ms, void *up)
{
    (void)m;
    (void)up;
    curl_deadline = ms < 0 ? -1 : now_s() + (double)ms / 1000.0;
    return 0;
}

static const char SEND_BODY[] = "{\"to\":\"+15559870001\",\"from\":\"+15551234567\",\"body\":\"bench\"}";
static char send_url[64];

static void send_one(void)
{
    CURL *e = curl_easy_init();
    if (!e)
        die("%s", "curl_easy_init failed");
    curl_easy_setopt(e, CURLOPT_URL, send_url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, send_headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, SEND_BODY);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof SEND_BODY - 1));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_multi_add_handle(multi, e);
    sends_issued++;
    sends_inflight++;
}

static void send_done(void)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        if (m->data.result == CURLE_OK && code == 202) {
            sends_ok++;
        } else {
            if (sends_bad < 5)
                fprintf(stderr, "wsfan: send answered %ld (%s)\n", code,
                        curl_easy_strerror(m->data.result));
            sends_bad++;
        }
        t_last_answer = now_s();
        curl_multi_remove_handle(multi, e);
        curl_easy_cleanup(e);
        sends_inflight--;
    }
}

/* ------------------------------------------------------------ the loop */

static void loop_once(int max_wait_ms)
{
    static struct epoll_event evs[1024];
    int wait = max_wait_ms;
    if (curl_deadline >= 0) {
        double d = (curl_deadline - now_s()) * 1000.0;
        int dm = d <= 0 ? 0 : (int)d + 1;
        if (dm < wait)
            wait = dm;
    }
    int n = epoll_wait(ep, evs, 1024, wait);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    int running;
    for (int i = 0; i < n; i++) {
        uint64_t d = evs[i].data.u64;
        if (d & CURL_TAG) {
            int fl = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                     (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(multi, (curl_socket_t)(d & 0xffffffffu), fl, &running);
        } else {
            sub_event(&subs[d], evs[i].events);
        }
    }
    if (curl_deadline >= 0 && now_s() >= curl_deadline) {
        curl_deadline = -1;
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    send_done();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: wsfan --port P --key KEY [--subs 1000] [--messages 2000] [--send-conc 8]\n"
            "             [--rate MSG_PER_S (0: as fast as answered)] [--open-conc 64]\n"
            "             [--pid GATEWAY_PID] [--timeout 60] [--settle 2]\n");
    exit(1);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "port", required_argument, NULL, 'p' },     { "key", required_argument, NULL, 'k' },
        { "subs", required_argument, NULL, 'n' },     { "messages", required_argument, NULL, 'm' },
        { "send-conc", required_argument, NULL, 'c' }, { "rate", required_argument, NULL, 'r' },
        { "open-conc", required_argument, NULL, 'o' }, { "pid", required_argument, NULL, 'P' },
        { "timeout", required_argument, NULL, 't' },  { "settle", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'p': opt.port = atoi(optarg); break;
        case 'k': opt.key = optarg; break;
        case 'n': opt.subs = atoi(optarg); break;
        case 'm': opt.messages = atoi(optarg); break;
        case 'c': opt.send_conc = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'o': opt.open_conc = atoi(optarg); break;
        case 'P': opt.pid = atol(optarg); break;
        case 't': opt.timeout_s = atoi(optarg); break;
        case 's': opt.settle_s = atof(optarg); break;
        default: usage();
        }
    }
    if (opt.port <= 0 || !opt.key || opt.subs <= 0 || opt.messages < 0 || opt.send_conc <= 0 ||
        opt.open_conc <= 0 || opt.timeout_s <= 0 || strlen(opt.key) > 200)
        usage();
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("%s", "curl_global_init failed");
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.subs + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)opt.subs + 64)
            die("%s", "the open-file limit is below --subs (ulimit -n)");
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    subs = calloc((size_t)opt.subs, sizeof *subs);
    if (ep < 0 || !subs)
        die("%s", "setup failed");
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, curl_sock_cb);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    snprintf(send_url, sizeof send_url, "http://127.0.0.1:%d/v1/sms/send", opt.port);
    char auth_h[256];
    snprintf(auth_h, sizeof auth_h, "Authorization: Bearer %s", opt.key);
    send_headers = curl_slist_append(NULL, auth_h);
    send_headers = curl_slist_append(send_headers, "Content-Type: application/json");

    /* ---------------- (a) idle connections */
    pstat p0, p1;
    read_pstat(&p0);
    wsm m0 = ws_metrics();
    if (m0.authed < 0)
        die("%s", "could not read the gateway's /metrics");
    double ta = now_s(), a_deadline = ta + opt.timeout_s;
    int next = 0;
    while (n_authed < opt.subs) {
        while (next < opt.subs && pending_open < opt.open_conc)
            sub_start(&subs[next++]);
        if (now_s() > a_deadline) {
            fprintf(stderr, "wsfan: timeout: %d of %d subscribers authenticated in %d s\n",
                    n_authed, opt.subs, opt.timeout_s);
            return 2;
        }
        if (n_closed)
            die("%s", "a subscriber was closed while connecting");
        loop_once(100);
    }
    double conn_s = now_s() - ta;
    double *lat = malloc(sizeof(double) * (size_t)opt.subs);
    for (int i = 0; i < opt.subs; i++)
        lat[i] = (subs[i].t_authed - subs[i].t_open) * 1000.0;
    qsort(lat, (size_t)opt.subs, sizeof *lat, cmp_double);
    double lat50 = lat[opt.subs / 2], lat99 = lat[(opt.subs * 99) / 100], latmax = lat[opt.subs - 1];
    free(lat);
    /* the gateway counts them too */
    long long authed_srv = -1;
    for (double end = now_s() + 10; now_s() < end;) {
        authed_srv = ws_metrics().authed;
        if (authed_srv >= m0.authed + opt.subs)
            break;
        loop_once(50);
    }
    /* settle: the gateway's RSS steady (within 256 KiB) for settle_s */
    double settle_start = now_s(), stable_since = now_s();
    long lo_kb = 0, hi_kb = 0;
    pstat ps;
    read_pstat(&ps);
    lo_kb = hi_kb = ps.rss_kb;
    while (now_s() - stable_since < opt.settle_s && now_s() - settle_start < opt.settle_s + 15) {
        loop_once(200);
        read_pstat(&ps);
        if (ps.rss_kb < lo_kb)
            lo_kb = ps.rss_kb;
        if (ps.rss_kb > hi_kb)
            hi_kb = ps.rss_kb;
        if (hi_kb - lo_kb > 256) {
            stable_since = now_s();
            lo_kb = hi_kb = ps.rss_kb;
        }
    }
    read_pstat(&p1);
    if (n_closed)
        die("%s", "a subscriber was closed while idle");
    uint64_t idle_events = 0;
    for (int i = 0; i < opt.subs; i++) {
        idle_events += subs[i].events;
        subs[i].events = 0;
    }

    /* ---------------- (b) fan-out */
    wsm m1 = ws_metrics();
    double cpu_self0 = self_cpu_s();
    double t0 = now_s(), deadline = t0 + opt.timeout_s;
    long peak_kb = p1.rss_kb;
    double next_rss = t0, next_progress = t0 + 5, next_check = t0;
    long long hub_seen = -1;
    double hub_changed = t0;
    int timed_out = 0, quiesced = 0;
    t_last_event = t0;
    if (opt.messages == 0)
        sends_finished = 1;
    while (!(sends_finished && n_done + n_closed >= opt.subs)) {
        double t = now_s();
        while (sends_issued < opt.messages && sends_inflight < opt.send_conc &&
               (opt.rate <= 0 || sends_issued < (t - t0) * opt.rate + 1))
            send_one();
        if (!sends_finished && sends_issued == opt.messages && sends_inflight == 0) {
            sends_finished = 1;
            expected_events = EVENTS_PER_MESSAGE * (uint64_t)sends_ok;
            for (int i = 0; i < opt.subs; i++)
                if (subs[i].state == S_AUTHED)
                    sub_check_done(&subs[i]);
            if (!expected_events)
                break;
        }
        if (t >= next_rss) {
            read_pstat(&ps);
            if (ps.rss_kb > peak_kb)
                peak_kb = ps.rss_kb;
            next_rss = t + 0.1;
        }
        if (t > deadline) {
            timed_out = 1;
            break;
        }
        /* Events lost before the hub never come: once every open subscriber
         * has every event the hub took, and for 2 s neither the hub's count
         * nor any subscriber moved, the run is over (the clock stops at the
         * last event received). */
        if (sends_finished && t >= next_check) {
            wsm mc = ws_metrics();
            long long hub = mc.events - m1.events;
            if (hub != hub_seen) {
                hub_seen = hub;
                hub_changed = t;
            }
            int all = 1;
            for (int i = 0; i < opt.subs && all; i++)
                if (subs[i].state == S_AUTHED && (long long)subs[i].events < hub)
                    all = 0;
            if (all && t - hub_changed >= 2 && t - t_last_event >= 2) {
                quiesced = 1;
                break;
            }
            next_check = t + 0.25;
        }
        if (t >= next_progress) { /* to stderr: how the run goes */
            wsm mp = ws_metrics();
            uint64_t fr = 0, mn = UINT64_MAX;
            for (int i = 0; i < opt.subs; i++) {
                fr += subs[i].events;
                if (subs[i].state == S_AUTHED && subs[i].events < mn)
                    mn = subs[i].events;
            }
            fprintf(stderr,
                    "wsfan: %5.1f s: %d/%d sends answered; events: %lld published by the status "
                    "actor, %lld taken by the hub; %llu frames received (slowest open "
                    "subscriber %llu), %d closed\n",
                    t - t0, sends_ok + sends_bad, opt.messages, mp.published - m1.published,
                    mp.events - m1.events, (unsigned long long)fr,
                    (unsigned long long)(mn == UINT64_MAX ? 0 : mn), n_closed);
            next_progress = t + 5;
        }
        loop_once(opt.rate > 0 ? 5 : 50);
    }
    /* the last subscriber completed (or closed) just now, or the last event
     * came at t_last_event */
    double t_end = quiesced ? t_last_event : now_s();
    double cpu_self = self_cpu_s() - cpu_self0;
    pstat p2;
    read_pstat(&p2);
    if (p2.rss_kb > peak_kb)
        peak_kb = p2.rss_kb;
    wsm m2 = ws_metrics();
    double el = t_end - t0;
    long long pub = m2.published - m1.published, hub = m2.events - m1.events;
    uint64_t frames = 0, emin = UINT64_MAX, emax = 0; /* over the subscribers still open */
    int got_hub = 0;
    for (int i = 0; i < opt.subs; i++) {
        frames += subs[i].events;
        if (subs[i].state != S_AUTHED)
            continue;
        if (subs[i].events < emin)
            emin = subs[i].events;
        if (subs[i].events > emax)
            emax = subs[i].events;
        if ((long long)subs[i].events >= hub)
            got_hub++;
    }
    if (emin == UINT64_MAX)
        emin = 0;
    uint64_t expected = EVENTS_PER_MESSAGE * (uint64_t)sends_ok;
    /* events/s: what every subscriber received, per second */
    double eps = el > 0 ? (double)emin / el : 0, dps = el > 0 ? (double)frames / el : 0;

    printf("wsfan: %d subscribers on 127.0.0.1:%d, %d messages (send concurrency %d%s)\n",
           opt.subs, opt.port, opt.messages, opt.send_conc, opt.rate > 0 ? ", paced" : "");
    printf("-- idle connections\n");
    printf("  connect + upgrade + auth_ok: %d in %.2f s (%.0f/s, %d at a time); "
           "per subscriber p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           opt.subs, conn_s, opt.subs / conn_s, opt.open_conc, lat50, lat99, latmax);
    printf("  gateway: smsgw_ws_authenticated %lld\n", authed_srv);
    if (opt.pid > 0)
        printf("  gateway RSS %.1f MiB -> %.1f MiB with %d idle subscribers: %.1f KiB per "
               "connection; threads %ld -> %ld\n",
               p0.rss_kb / 1024.0, p1.rss_kb / 1024.0, opt.subs,
               (double)(p1.rss_kb - p0.rss_kb) / opt.subs, p0.threads, p1.threads);
    if (idle_events)
        printf("  (%llu events arrived while idle: another sender on this key?)\n",
               (unsigned long long)idle_events);
    printf("-- fan-out (%.2f s from the first send to the last event received%s)\n", el,
           timed_out ? ", TIMED OUT" : "");
    printf("  sends: %d answered 202, %d not, last answer after %.2f s (%.0f/s)\n", sends_ok,
           sends_bad, t_last_answer - t0,
           t_last_answer > t0 ? sends_ok / (t_last_answer - t0) : 0.0);
    printf("  events: %llu expected (4 per message), %lld published by the status actor, "
           "%lld taken by the WebSocket hub (%lld lost between them)\n",
           (unsigned long long)expected, pub, hub, pub - hub);
    printf("  each open subscriber: %.0f events/s (%llu to %llu events; %d of %d got every "
           "event the hub took, %d all %llu); 4 x messages / time: %.0f events/s\n",
           eps, (unsigned long long)emin, (unsigned long long)emax, got_hub, opt.subs, n_done,
           (unsigned long long)expected, el > 0 ? (double)expected / el : 0.0);
    printf("  deliveries: %llu frames to subscribers -> %.0f frames/s (gateway wrote %lld, "
           "pings included)\n",
           (unsigned long long)frames, dps, m2.sent - m1.sent);
    printf("  closed: %d by 1013 (slow subscriber dropped; gateway counts %lld), %d otherwise\n",
           n_drops, m2.drops - m1.drops, n_closed_other);
    if (sends_finished && !timed_out)
        printf("  last event %.2f s after the last 202\n", t_end - t_last_answer);
    if (opt.pid > 0)
        printf("  gateway RSS peak %.1f MiB during fan-out (VmHWM %.1f MiB); CPU %.1f s "
               "gateway, %.1f s wsfan\n",
               peak_kb / 1024.0, p2.hwm_kb / 1024.0, p2.cpu_s - p1.cpu_s, cpu_self);
    printf("wsfan subs=%d messages=%d published=%lld hub=%lld lost=%lld secs=%.2f conn_s=%.2f "
           "idle_kib_per_conn=%.1f events_per_s=%.0f deliveries_per_s=%.0f complete=%d drops=%d "
           "rss_idle_mb=%.1f rss_peak_mb=%.1f\n",
           opt.subs, sends_ok, pub, hub, pub - hub, el, conn_s,
           opt.pid > 0 ? (double)(p1.rss_kb - p0.rss_kb) / opt.subs : 0.0, eps, dps, n_done,
           n_drops, p1.rss_kb / 1024.0, peak_kb / 1024.0);
    fflush(stdout);
    int rc = 0;
    if (timed_out) {
        fprintf(stderr, "wsfan: timeout after %d s: %d of %d subscribers complete, %d closed\n",
                opt.timeout_s, n_done, opt.subs, n_closed);
        rc = 2;
    } else if (sends_bad || (opt.messages > 0 && !sends_ok)) {
        fprintf(stderr, "wsfan: %d sends were not accepted\n", sends_bad);
        rc = 1;
    } else if (opt.messages > 0 && n_done + n_drops < opt.subs) {
        fprintf(stderr, "wsfan: %d of %d subscribers did not get all %llu events (%lld never "
                "reached the WebSocket hub)\n",
                opt.subs - n_done - n_drops, opt.subs, (unsigned long long)expected, pub - hub);
        rc = 3;
    }
    for (int i = 0; i < opt.subs; i++) {
        if (subs[i].fd >= 0)
            close(subs[i].fd);
        free(subs[i].buf);
    }
    free(subs);
    curl_multi_cleanup(multi);
    curl_slist_free_all(send_headers);
    curl_global_cleanup();
    close(ep);
    return rc;
}
