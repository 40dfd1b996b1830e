/*
 * http/cli_batch.c — `smsgw batch FILE.csv`: one SMS per row of a CSV file.
 *
 * The file is read and checked whole before anything is sent: a header
 * naming `to` and optionally `text` (or `body`), RFC 4180 quoting; a
 * malformed file is a usage error (exit 2) and nothing is sent. Rows with
 * an empty `to`, or no text and no --text, are rejected here.
 *
 * Sending: POST /v1/sms/batches (SPEC section 5) in chunks of --chunk rows.
 * If the server has no such route (404 "Not found" or 405 on the first
 * chunk), every row goes by POST /v1/sms/send instead, --concurrency at a
 * time on one libcurl multi handle, each with its own Idempotency-Key so a
 * retry (5xx, lost connection: up to 3 tries; 429: after Retry-After)
 * never sends twice. A row refused with 400, 402, 409 or 422 is rejected;
 * any other 4xx stops the batch (the key or tenant is wrong for every row).
 *
 * Output: a progress bar on stderr when it is a terminal (not with
 * --no-progress), then a summary: counts and each rejected row's line
 * number and reason (--json: one JSON object, described in the help).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/util.h"
#include "http/cli.h"

#define BATCH_MAX_FILE (64L << 20)
#define SEND_TRIES 3
#define RETRY_429_MAX 20

enum { ROW_PENDING, ROW_OK, ROW_REJECTED, ROW_FAILED };

typedef struct row {
    int line;
    const char *to, *text; /* into the file's buffer; text NULL: none */
    int state, tries, throttled;
    int64_t next_ms; /* fallback: not before (monotonic) */
    char id[32];     /* messageId, fallback only */
    char code[40];
    char *error;     /* why it was rejected or failed (owned) */
} row;

typedef struct batch {
    sgw_cli *c;
    const char *from, *text;
    char *buf;
    row *rows;
    int nrows, done, accepted, rejected, failed;
    int progress;        /* draw the bar */
    int64_t drawn_ms;
    int fatal;           /* an exit code that stopped the batch, or 0 */
    json_t *answers;     /* batch mode: the server's answers */
    char run_id[40];     /* fallback: Idempotency-Key prefix */
} batch;

/* ------------------------------------------------------------- CSV */

typedef struct csv {
    char *p, *end;
    int line;
} csv;

/* The next record's fields (at most max kept) NUL-terminated in place;
 * returns how many fields it has, 0 at the end, -1 (why) if malformed. */
static int csv_record(csv *s, char **f, int max, char *why, size_t whysz)
{
    if (s->p >= s->end)
        return 0;
    int n = 0;
    for (;;) {
        char *start = s->p, *out = s->p;
        if (*s->p == '"') {
            int open_line = s->line;
            s->p++;
            for (;;) {
                if (s->p >= s->end) {
                    snprintf(why, whysz, "line %d: a quoted field is never closed", open_line);
                    return -1;
                }
                if (*s->p == '"' && s->p + 1 < s->end && s->p[1] == '"') {
                    *out++ = '"';
                    s->p += 2;
                } else if (*s->p == '"') {
                    s->p++;
                    break;
                } else {
                    s->line += *s->p == '\n';
                    *out++ = *s->p++;
                }
            }
            if (s->p < s->end && *s->p != ',' && *s->p != '\n' && *s->p != '\r') {
                snprintf(why, whysz, "line %d: text after a closing quote", s->line);
                return -1;
            }
        } else {
            while (s->p < s->end && *s->p != ',' && *s->p != '\n' && *s->p != '\r')
                s->p++;
            out = s->p;
        }
        char sep = s->p < s->end ? *s->p : '\0';
        *out = '\0'; /* the buffer has a spare byte at its end */
        if (n < max)
            f[n] = start;
        n++;
        if (sep == ',') {
            s->p++;
            continue;
        }
        if (sep == '\r' || sep == '\n')
            s->p++;
        if (sep == '\r' && s->p < s->end && *s->p == '\n')
            s->p++;
        s->line++;
        return n;
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int read_file(const char *path, char **out, size_t *len, char *why, size_t whysz)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(why, whysz, "cannot read %s: %s", path, strerror(errno));
        return 0;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap && cap < (size_t)BATCH_MAX_FILE) {
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb)
                free(b);
            b = nb;
        } else if (n == cap) {
            break;
        }
    }
    int err = ferror(f), big = b && n == cap && !feof(f);
    if (f != stdin)
        fclose(f);
    if (!b || err || big) {
        snprintf(why, whysz, "cannot read %s: %s", path,
                 !b ? "out of memory" : big ? "larger than 64 MB" : "read error");
        free(b);
        return 0;
    }
    *out = b;
    *len = n;
    return 1;
}

/* Column indexes of the header: to (required), text or body (optional). */
static int parse_header(csv *s, int *to_col, int *text_col, char *why, size_t whysz)
{
    char *f[8];
    int n = csv_record(s, f, 8, why, whysz);
    if (n < 0)
        return 0;
    if (n == 0 || n > 8) {
        snprintf(why, whysz, "line 1: %s", n ? "more than 8 columns" : "the file is empty");
        return 0;
    }
    *to_col = *text_col = -1;
    for (int i = 0; i < n; i++) {
        char *name = trim(i == 0 && strncmp(f[0], "\xef\xbb\xbf", 3) == 0 ? f[0] + 3 : f[i]);
        if (strcasecmp(name, "to") == 0 && *to_col < 0) {
            *to_col = i;
        } else if ((strcasecmp(name, "text") == 0 || strcasecmp(name, "body") == 0) &&
                   *text_col < 0) {
            *text_col = i;
        } else {
            snprintf(why, whysz, "line 1: unknown column '%.40s' (the header is to[,text])",
                     name);
            return 0;
        }
    }
    if (*to_col < 0) {
        snprintf(why, whysz, "line 1: the header has no 'to' column (it is to[,text])");
        return 0;
    }
    return 1;
}

static void reject(batch *b, row *r, const char *code, const char *error)
{
    r->state = ROW_REJECTED;
    snprintf(r->code, sizeof r->code, "%s", code);
    free(r->error);
    r->error = strdup(error);
    b->rejected++;
    b->done++;
}

/* The whole file into b->rows; 0 (why) if it is malformed. */
static int load_rows(batch *b, const char *path, char *why, size_t whysz)
{
    size_t len;
    if (!read_file(path, &b->buf, &len, why, whysz))
        return 0;
    csv s = { b->buf, b->buf + len, 1 };
    int to_col, text_col, cap = 0;
    if (!parse_header(&s, &to_col, &text_col, why, whysz))
        return 0;
    int ncols = (to_col > text_col ? to_col : text_col) + 1;
    for (;;) {
        char *f[8];
        int line = s.line, n = csv_record(&s, f, 8, why, whysz);
        if (n < 0)
            return 0;
        if (n == 0)
            break;
        if (n == 1 && !*trim(f[0]))
            continue; /* a blank line */
        if (n > ncols) {
            snprintf(why, whysz, "line %d: %d fields, but the header has %d", line, n, ncols);
            return 0;
        }
        if (b->nrows == cap) {
            cap = cap ? cap * 2 : 256;
            row *nr = realloc(b->rows, (size_t)cap * sizeof *nr);
            if (!nr) {
                snprintf(why, whysz, "out of memory");
                return 0;
            }
            b->rows = nr;
        }
        row *r = &b->rows[b->nrows++];
        memset(r, 0, sizeof *r);
        r->line = line;
        r->to = to_col < n ? trim(f[to_col]) : "";
        r->text = text_col >= 0 && text_col < n && *f[text_col] ? f[text_col] : NULL;
    }
    if (b->nrows == 0) {
        snprintf(why, whysz, "no rows after the header");
        return 0;
    }
    for (int i = 0; i < b->nrows; i++) {
        row *r = &b->rows[i];
        if (!*r->to)
            reject(b, r, "validation_error", "to is empty");
        else if (!r->text && !b->text)
            reject(b, r, "validation_error", "no text: give a text column or --text");
    }
    return 1;
}

/* ------------------------------------------------------- progress */

static void draw(batch *b, int last)
{
    if (!b->progress)
        return;
    int64_t now = sgw_mono_ms();
    if (!last && now - b->drawn_ms < 100)
        return;
    b->drawn_ms = now;
    int width = 30, fill = b->nrows ? (int)((int64_t)b->done * width / b->nrows) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %d/%d rows, %d rejected%s", bar, b->done, b->nrows, b->rejected,
            last ? "\033[K\n" : "\033[K");
    fflush(stderr);
}

/* ------------------------------------------------ POST /v1/sms/batches */

/* One chunk. Returns 1 sent, 0 the server has no batch route, -1 stop. */
static int send_chunk(batch *b, int from, int to)
{
    row **sent = calloc((size_t)(to - from), sizeof *sent); /* the answer's index - 1 */
    json_t *msgs = json_array();
    size_t n = 0;
    for (int i = from; i < to && sent; i++) {
        row *r = &b->rows[i];
        if (r->state != ROW_PENDING)
            continue;
        json_t *m = json_pack("{s:[s]}", "to", r->to);
        if (r->text)
            json_object_set_new(m, "text", json_string(r->text));
        json_array_append_new(msgs, m);
        sent[n++] = r;
    }
    if (n == 0) {
        json_decref(msgs);
        free(sent);
        return 1;
    }
    json_t *req = json_pack("{s:s, s:o}", "from", b->from, "messages", msgs);
    if (b->text)
        json_object_set_new(req, "text", json_string(b->text));
    sgw_cli_resp r;
    sgw_cli_http(b->c, "POST", "/v1/sms/batches", req, NULL, &r);
    json_decref(req);
    int rv = 1;
    if (b->answers == NULL &&
        (r.status == 405 ||
         (r.status == 404 && strcmp(sgw_cli_str(r.json, "error"), "Not found") == 0))) {
        rv = 0;
    } else if ((b->fatal = sgw_cli_outcome(b->c, &r)) != SGW_CLI_OK) {
        rv = -1;
    } else {
        if (!b->answers)
            b->answers = json_array();
        json_array_append(b->answers, r.json ? r.json : json_null());
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r.json, "rejected"), i, x)
        {
            json_int_t k = json_integer_value(json_object_get(x, "index"));
            if (k >= 1 && (size_t)k <= n && sent[k - 1]->state == ROW_PENDING) {
                const char *d = sgw_cli_str(x, "description");
                reject(b, sent[k - 1], sgw_cli_str(x, "errorCode"), *d ? d : "rejected");
            }
        }
        for (size_t k = 0; k < n; k++)
            if (sent[k]->state == ROW_PENDING) {
                sent[k]->state = ROW_OK;
                b->accepted++;
                b->done++;
            }
    }
    sgw_cli_resp_fini(&r);
    free(sent);
    return rv;
}

/* 1 all chunks sent, 0 no batch route (nothing sent), -1 stopped. */
static int send_batches(batch *b, long chunk)
{
    for (int from = 0; from < b->nrows; from += (int)chunk) {
        int to = from + (int)chunk < b->nrows ? from + (int)chunk : b->nrows;
        int rv = send_chunk(b, from, to);
        if (rv <= 0)
            return rv;
        draw(b, 0);
        if (sgw_cli_interrupted()) {
            b->fatal = SGW_CLI_INTERRUPTED;
            return -1;
        }
    }
    return 1;
}

/* ---------------------------------------------- one by one (fallback) */

typedef struct slot {
    CURL *easy;
    struct curl_slist *hdrs;
    sgw_cli_resp resp;
    row *row;
} slot;

/* Rows to send: each row once in file order, then retries in FIFO order. */
typedef struct queue {
    int fresh;   /* the next row never tried */
    row **retry; /* ring of nrows */
    int head, len;
} queue;

static void retry_later(batch *b, queue *q, row *r, int64_t at)
{
    r->next_ms = at;
    q->retry[(q->head + q->len++) % b->nrows] = r;
}

static row *next_row(batch *b, queue *q, int64_t now)
{
    if (q->len && q->retry[q->head]->next_ms <= now) {
        row *r = q->retry[q->head];
        q->head = (q->head + 1) % b->nrows;
        q->len--;
        return r;
    }
    while (q->fresh < b->nrows && b->rows[q->fresh].state != ROW_PENDING)
        q->fresh++;
    return q->fresh < b->nrows ? &b->rows[q->fresh++] : NULL;
}

static int start_row(batch *b, CURLM *multi, slot *s, row *r)
{
    json_t *req = json_pack("{s:s, s:s, s:s}", "to", r->to, "from", b->from, "body",
                            r->text ? r->text : b->text);
    char *body = json_dumps(req, JSON_COMPACT), key[80];
    json_decref(req);
    snprintf(key, sizeof key, "%s-%d", b->run_id, r->line);
    s->easy = sgw_cli_easy(b->c, "POST", "/v1/sms/send", body, key, &s->resp, &s->hdrs);
    free(body);
    if (!s->easy)
        return 0;
    s->row = r;
    r->tries++;
    curl_multi_add_handle(multi, s->easy);
    return 1;
}

static void row_failed(batch *b, row *r, const char *why)
{
    r->state = ROW_FAILED;
    free(r->error);
    r->error = strdup(why);
    b->failed++;
    b->done++;
}

/* A finished request: accepted, rejected, retried later, or fatal. */
static void finish_row(batch *b, queue *q, slot *s, int64_t *pause_until)
{
    row *r = s->row;
    sgw_cli_resp *resp = &s->resp;
    long st = resp->status;
    int64_t now = sgw_mono_ms();
    if (st >= 200 && st < 300) {
        r->state = ROW_OK;
        snprintf(r->id, sizeof r->id, "%s", sgw_cli_str(resp->json, "messageId"));
        b->accepted++;
        b->done++;
    } else if (st == 400 || st == 402 || st == 409 || st == 422) {
        const char *e = sgw_cli_str(resp->json, "error");
        reject(b, r, sgw_cli_str(resp->json, "code"), *e ? e : "rejected");
    } else if (st == 429 && r->throttled++ < RETRY_429_MAX) {
        long wait = resp->retry_after_s > 0 && resp->retry_after_s < 60 ? resp->retry_after_s : 1;
        *pause_until = now + wait * 1000;
        r->tries--; /* refused before anything was stored */
        retry_later(b, q, r, *pause_until);
    } else if (resp->interrupted) {
        row_failed(b, r, "interrupted: it may or may not have been stored");
    } else if ((st == 0 || st >= 500) && r->tries < SEND_TRIES) {
        retry_later(b, q, r, now + 1000L * r->tries); /* the same Idempotency-Key */
    } else if (st == 0 || st >= 500) {
        const char *e = st ? sgw_cli_str(resp->json, "error") : resp->err;
        row_failed(b, r, *e ? e : "the gateway failed");
    } else if (!b->fatal) {
        b->fatal = sgw_cli_outcome(b->c, resp); /* 401, 403, 404, 413: every row's */
    }
}

static void reap(batch *b, queue *q, CURLM *multi, slot *slots, long conc, int *busy,
                 int64_t *pause_until)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left)) != NULL) {
        for (long i = 0; i < conc && m->msg == CURLMSG_DONE; i++) {
            slot *s = &slots[i];
            if (s->easy != m->easy_handle)
                continue;
            sgw_cli_easy_done(s->easy, m->data.result, &s->resp);
            finish_row(b, q, s, pause_until);
            curl_multi_remove_handle(multi, s->easy);
            curl_easy_cleanup(s->easy);
            curl_slist_free_all(s->hdrs);
            sgw_cli_resp_fini(&s->resp);
            memset(s, 0, sizeof *s);
            (*busy)--;
            break;
        }
    }
}

static void send_one_by_one(batch *b, long conc)
{
    CURLM *multi = curl_multi_init();
    slot *slots = calloc((size_t)conc, sizeof *slots);
    queue q = { .retry = calloc((size_t)b->nrows, sizeof(row *)) };
    int running = 0, busy = 0;
    int64_t pause_until = 0;
    if (!multi || !slots || !q.retry)
        b->fatal = SGW_CLI_UNREACHABLE;
    while (!b->fatal || busy) {
        int64_t now = sgw_mono_ms();
        if (sgw_cli_interrupted() && !b->fatal)
            b->fatal = SGW_CLI_INTERRUPTED;
        for (long i = 0; i < conc && !b->fatal && now >= pause_until; i++) {
            row *r = slots[i].easy ? NULL : next_row(b, &q, now);
            if (r && start_row(b, multi, &slots[i], r))
                busy++;
            else if (r)
                row_failed(b, r, "out of memory");
        }
        if (busy == 0 && b->done == b->nrows)
            break;
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 50, NULL);
        curl_multi_perform(multi, &running);
        reap(b, &q, multi, slots, conc, &busy, &pause_until);
        draw(b, 0);
    }
    free(q.retry);
    free(slots);
    if (multi)
        curl_multi_cleanup(multi);
}

/* ---------------------------------------------------------- summary */

static void summary_json(batch *b, const char *mode)
{
    json_t *out = json_pack("{s:s, s:i, s:i, s:i, s:i, s:[], s:[], s:[]}", "mode", mode, "rows",
                            b->nrows, "accepted", b->accepted, "rejectedCount", b->rejected,
                            "notSent", b->nrows - b->accepted - b->rejected - b->failed, "rejected",
                            "failed", "messages");
    for (int i = 0; i < b->nrows; i++) {
        row *r = &b->rows[i];
        if (r->state == ROW_REJECTED || r->state == ROW_FAILED)
            json_array_append_new(json_object_get(out, r->state == ROW_REJECTED ? "rejected"
                                                                                : "failed"),
                                  json_pack("{s:i, s:s, s:s, s:s}", "line", r->line, "to",
                                            r->to, "code", r->code, "error",
                                            r->error ? r->error : ""));
        else if (r->state == ROW_OK && r->id[0])
            json_array_append_new(json_object_get(out, "messages"),
                                  json_pack("{s:i, s:s}", "line", r->line, "messageId", r->id));
    }
    if (b->answers)
        json_object_set(out, "batches", b->answers);
    char *s = json_dumps(out, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    json_decref(out);
}

static void summary_human(batch *b, const char *mode)
{
    int not_sent = b->nrows - b->accepted - b->rejected - b->failed;
    printf("%d rows: %d accepted, %d rejected", b->nrows, b->accepted, b->rejected);
    if (b->failed)
        printf(", %d failed", b->failed);
    if (not_sent)
        printf(", %d not sent", not_sent);
    printf(" (%s)\n", mode);
    for (int i = 0; i < b->nrows; i++) {
        row *r = &b->rows[i];
        if (r->state == ROW_REJECTED || r->state == ROW_FAILED)
            printf("  line %d%s%s%s: %s: %s\n", r->line, *r->to ? " (" : "", r->to,
                   *r->to ? ")" : "", r->state == ROW_REJECTED ? "rejected" : "failed",
                   r->error ? r->error : "");
    }
    size_t i;
    json_t *x;
    json_array_foreach(b->answers, i, x)
    {
        if (*sgw_cli_str(x, "id"))
            printf("batch %s\n", sgw_cli_str(x, "id"));
    }
}

/* ------------------------------------------------------------- run */

static int run_batch(sgw_cli *c)
{
    batch b = { .c = c, .from = sgw_cli_opt(c, "from"), .text = sgw_cli_opt(c, "text") };
    long chunk = sgw_cli_opt_long(c, "chunk", 1000, 1, 100000);
    long conc = sgw_cli_opt_long(c, "concurrency", 4, 1, 64);
    if (chunk < 0 || conc < 0)
        return SGW_CLI_USAGE;
    if (!b.from)
        return sgw_cli_usage_error(c, "--from is required");
    char why[300];
    int rc = SGW_CLI_OK;
    if (!load_rows(&b, c->pos[0], why, sizeof why)) {
        rc = sgw_cli_usage_error(c, "%s: %s; nothing was sent", c->pos[0], why);
        goto done;
    }
    b.progress = isatty(STDERR_FILENO) && !sgw_cli_has(c, "no-progress");
    draw(&b, 0);
    const char *mode = "POST /v1/sms/batches";
    int rv = send_batches(&b, chunk);
    if (rv == 0) {
        mode = "one by one: the server has no POST /v1/sms/batches";
        fprintf(stderr, "smsgw batch: the server has no batch endpoint; sending one by one "
                        "with POST /v1/sms/send, %ld at a time\n", conc);
        sgw_random_id(b.run_id, sizeof b.run_id, "cli-batch-", 16);
        send_one_by_one(&b, conc);
    }
    draw(&b, 1);
    if (c->json)
        summary_json(&b, rv == 0 ? "single" : "batch");
    else
        summary_human(&b, mode);
    if (b.fatal)
        rc = b.fatal;
    else if (b.failed)
        rc = SGW_CLI_UNREACHABLE;
    else if (b.rejected)
        rc = SGW_CLI_PARTIAL;
done:
    for (int i = 0; i < b.nrows; i++)
        free(b.rows[i].error);
    free(b.rows);
    free(b.buf);
    json_decref(b.answers);
    return rc;
}

static const sgw_cli_flag batch_flags[] = {
    { "from", "SENDER", "the sender of every row (required)" },
    { "text", "TEXT", "the text of rows without one" },
    { "chunk", "N", "rows per POST /v1/sms/batches (default 1000)" },
    { "concurrency", "N", "one-by-one fallback: requests at a time (default 4)" },
    { "no-progress", NULL, "no progress bar (it is drawn only when stderr is a terminal)" },
    { NULL, NULL, NULL },
};

const sgw_cli_cmd sgw_cli_batch_cmds[] = {
    { .path = "batch", .args = "FILE.csv", .npos_min = 1, .npos_max = 1,
      .synopsis = "--from SENDER [--text TEXT]",
      .summary = "send one SMS per CSV row (POST /v1/sms/batches)",
      .details =
      "FILE.csv (or - for stdin) starts with a header: to[,text] (or body); quote\n"
      "fields holding commas or newlines (\"…\", \"\" for a quote). The whole file is\n"
      "checked first: a malformed one exits 2 and sends nothing. If the server has no\n"
      "batch endpoint, rows are sent one by one (POST /v1/sms/send, --concurrency at\n"
      "a time, each with an Idempotency-Key). Rejected rows are listed with their\n"
      "line number; exit 4 if any was rejected, 3 if some could not be sent (the\n"
      "server failed or was unreachable). --json prints one object:\n"
      "{mode, rows, accepted, rejectedCount, notSent, rejected: [{line, to, code,\n"
      "error}], failed: […], messages: [{line, messageId}] (one by one only),\n"
      "batches: [the server's answers]}.\n",
      .flags = batch_flags, .run = run_batch },
    { .path = NULL },
};
