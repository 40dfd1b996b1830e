/*
 * http/cli.h — the client commands of the smsgw binary: `smsgw send`,
 * `status`, `list`, `batch`, `tail` and `admin …`, which talk HTTP (and the
 * WebSocket) to a running gateway. bus/main.c hands argv here first; the
 * server (`serve`) and the offline commands (`admin create-key`,
 * `check-config`, `config defaults`) stay in main.c.
 *
 * Files: cli.c (dispatch, options, help, output), cli_http.c (libcurl and
 * the API key), cli_sms.c (send, status, list), cli_batch.c (batch),
 * cli_tail.c (tail, civetweb's WebSocket client), cli_admin.c (admin …).
 *
 * Threads: one, except tail, whose WebSocket reader is civetweb's thread.
 * The only global mutable state is the SIGINT/SIGTERM flag (cli_http.c).
 * The API key is kept in sgw_cli.key and never printed.
 */
#ifndef SGW_CLI_H
#define SGW_CLI_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* If argv names a client command, run it, set *rc to its exit code and
 * return 1; otherwise return 0 and leave argv to main. */
int sgw_cli_main(int argc, char **argv, int *rc);

/* The client part of `smsgw --help`. */
void sgw_cli_usage(FILE *f);

/* ------------------------------------------------------------------ */
/* Inside the CLI (cli*.c) only.                                        */

/* Exit codes, documented in every --help and in README.md. */
enum {
    SGW_CLI_OK = 0,
    SGW_CLI_REFUSED = 1,     /* the server answered 4xx: its error is printed */
    SGW_CLI_USAGE = 2,       /* unknown command or option, missing argument */
    SGW_CLI_UNREACHABLE = 3, /* no connection, 5xx, timeout, dropped WebSocket */
    SGW_CLI_PARTIAL = 4,     /* batch: some rows were rejected */
    SGW_CLI_INTERRUPTED = 130
};

typedef struct sgw_cli_flag {
    const char *name; /* without "--" */
    const char *arg;  /* the value's placeholder; NULL for a switch */
    const char *help;
} sgw_cli_flag;

typedef struct sgw_cli sgw_cli;

typedef struct sgw_cli_cmd {
    const char *path;         /* "send", "admin tenants create" */
    const char *args;         /* positional synopsis ("MSG_ID"), or "" */
    const char *synopsis;     /* required options for the usage line, or NULL */
    int npos_min, npos_max;   /* how many positional arguments */
    const char *summary;      /* one line */
    const char *details;      /* more help, or NULL */
    const sgw_cli_flag *flags; /* the command's own, ends with { NULL } */
    int admin;                /* 1: takes SMSGW_ADMIN_KEY before SMSGW_API_KEY */
    int (*run)(sgw_cli *c);
} sgw_cli_cmd;

#define SGW_CLI_MAX_OPTS 64
#define SGW_CLI_MAX_POS 8

struct sgw_cli {
    const sgw_cli_cmd *cmd;
    char url[1024];  /* base URL, no trailing '/' */
    char key[256];   /* the API key: never printed */
    int json;        /* --json */
    long timeout_ms; /* per request */
    int nopt, npos;
    struct {
        const char *name, *val;
    } opt[SGW_CLI_MAX_OPTS];
    const char *pos[SGW_CLI_MAX_POS];
};

/* The command tables of cli_sms.c, cli_batch.c, cli_tail.c, cli_admin.c,
 * each ending with { NULL }. */
extern const sgw_cli_cmd sgw_cli_sms_cmds[], sgw_cli_batch_cmds[], sgw_cli_tail_cmds[],
    sgw_cli_admin_cmds[];

/* Options (cli.c). opt: the last value given, or NULL; has: given at all. */
const char *sgw_cli_opt(const sgw_cli *c, const char *name);
int sgw_cli_has(const sgw_cli *c, const char *name);
/* Usage error: "smsgw CMD: <message>", the command's usage, SGW_CLI_USAGE. */
int sgw_cli_usage_error(const sgw_cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A positive integer option (or dflt when absent); -1 (after a usage
 * error is printed) when it is not one in [min, max]. */
long sgw_cli_opt_long(const sgw_cli *c, const char *name, long dflt, long min, long max);

/* Human output helpers (cli.c). */
void sgw_cli_print_fields(const json_t *obj);  /* "key: value" lines */
void sgw_cli_print_table(const json_t *rows, const char *const *cols);
const char *sgw_cli_str(const json_t *obj, const char *key); /* "" if absent */

/* HTTP (cli_http.c). */
typedef struct sgw_cli_resp {
    long status;        /* 0: no answer */
    char *body;         /* NUL terminated, may be NULL */
    size_t len;
    json_t *json;       /* the body parsed, or NULL */
    long retry_after_s; /* Retry-After, or -1 */
    int interrupted;    /* SIGINT/SIGTERM stopped it */
    char err[CURL_ERROR_SIZE]; /* curl's reason when status is 0 */
} sgw_cli_resp;

/* Prepare an easy handle for method + path (already escaped) with an
 * optional JSON body and Idempotency-Key. The handle writes into *out;
 * *hdrs must be freed with curl_slist_free_all after the transfer. */
CURL *sgw_cli_easy(const sgw_cli *c, const char *method, const char *path, const char *body,
                   const char *idem_key, sgw_cli_resp *out, struct curl_slist **hdrs);
/* After a transfer of an sgw_cli_easy handle: status, JSON, curl error. */
void sgw_cli_easy_done(CURL *easy, CURLcode rc, sgw_cli_resp *out);
/* One request, blocking. body may be NULL. */
void sgw_cli_http(const sgw_cli *c, const char *method, const char *path, const json_t *body,
                  const char *idem_key, sgw_cli_resp *out);
void sgw_cli_resp_fini(sgw_cli_resp *r);
/* The exit code of an answer; for anything but 2xx its reason goes to
 * stderr ("smsgw CMD: …"). */
int sgw_cli_outcome(const sgw_cli *c, const sgw_cli_resp *r);
/* Finish a one-request command: --json prints the body as it came (also an
 * error's), otherwise human(r->json) on 2xx. Frees r; returns the exit code. */
int sgw_cli_finish(const sgw_cli *c, sgw_cli_resp *r, void (*human)(const json_t *));
/* path + "/" + escaped segment, into out (outsz); 0 if it does not fit. */
int sgw_cli_path(char *out, size_t outsz, const char *prefix, const char *segment,
                 const char *suffix);
/* Append "&name=escaped value" (or "?name=…" first) to a path. */
void sgw_cli_query(char *path, size_t pathsz, const char *name, const char *value);
/* Load --url and the key into c; SGW_CLI_OK or a printed usage error. */
int sgw_cli_connect_setup(sgw_cli *c);

/* Signals (cli_http.c): SIGINT/SIGTERM set a flag that requests and loops
 * check; sgw_cli_interrupted() reads it. */
void sgw_cli_signals_install(void);
int sgw_cli_interrupted(void);
/* Sleep ms; 0 if a signal came first (check sgw_cli_interrupted). */
int sgw_cli_sleep_ms(long ms);

#endif
