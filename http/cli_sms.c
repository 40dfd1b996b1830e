/*
 * http/cli_sms.c — `smsgw send`, `smsgw status`, `smsgw list`: one request
 * each (send --wait then polls GET /v1/sms/status/:id until the message is
 * final). See http/cli.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/cli.h"

#define WAIT_POLL_MS 250

/* ------------------------------------------------------------- send */

/* --var NAME=VALUE (repeatable) into {"NAME": "VALUE", …}; NULL after a
 * usage error. */
static json_t *variables(const sgw_cli *c)
{
    json_t *vars = json_object();
    for (int i = 0; i < c->nopt; i++) {
        if (strcmp(c->opt[i].name, "var") != 0)
            continue;
        const char *v = c->opt[i].val, *eq = strchr(v, '=');
        if (!eq || eq == v) {
            sgw_cli_usage_error(c, "--var wants NAME=VALUE, not '%s'", v);
            json_decref(vars);
            return NULL;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
        json_object_set_new(vars, name, json_string(eq + 1));
    }
    return vars;
}

static int is_final(const char *status)
{
    static const char *const final[] = { "delivered", "failed", "rejected", "cancelled",
                                         "received", NULL };
    for (int i = 0; final[i]; i++)
        if (strcmp(status, final[i]) == 0)
            return 1;
    return 0;
}

static void print_accepted(const json_t *j)
{
    long seg = (long)json_integer_value(json_object_get(j, "segments"));
    printf("%s  %s  (%ld segment%s, %s%s%s%s)\n", sgw_cli_str(j, "messageId"),
           sgw_cli_str(j, "status"), seg, seg == 1 ? "" : "s", sgw_cli_str(j, "encoding"),
           json_is_true(json_object_get(j, "test")) ? ", test" : "",
           *sgw_cli_str(j, "sendAt") ? ", at " : "", sgw_cli_str(j, "sendAt"));
}

/* Poll the status of id until it is final or the --wait-timeout passes. */
static int wait_final(const sgw_cli *c, const char *id, const char *first, long timeout_s)
{
    char path[256], last[32];
    snprintf(last, sizeof last, "%s", first);
    sgw_cli_path(path, sizeof path, "/v1/sms/status", id, NULL);
    int64_t waited = 0;
    for (;;) {
        sgw_cli_resp r;
        sgw_cli_http(c, "GET", path, NULL, NULL, &r);
        int rc = sgw_cli_outcome(c, &r);
        const char *st = sgw_cli_str(r.json, "status");
        int final = rc == SGW_CLI_OK && is_final(st);
        if (rc == SGW_CLI_OK && strcmp(st, last) != 0 && (!c->json || final)) {
            if (c->json)
                printf("%s\n", r.body);
            else if (*sgw_cli_str(r.json, "error"))
                printf("%s  %s  %s\n", id, st, sgw_cli_str(r.json, "error"));
            else
                printf("%s  %s\n", id, st);
            fflush(stdout);
            snprintf(last, sizeof last, "%s", st);
        }
        if (final && strcmp(st, "delivered") != 0 && strcmp(st, "received") != 0) {
            fprintf(stderr, "smsgw send: message %s ended %s%s%s\n", id, st,
                    *sgw_cli_str(r.json, "error") ? ": " : "", sgw_cli_str(r.json, "error"));
            rc = SGW_CLI_REFUSED;
        }
        sgw_cli_resp_fini(&r);
        if (rc != SGW_CLI_OK || final)
            return rc;
        if (waited >= timeout_s * 1000) {
            fprintf(stderr, "smsgw send: message %s is still %s after %ld s (--wait-timeout)\n",
                    id, last, timeout_s);
            return SGW_CLI_UNREACHABLE;
        }
        if (!sgw_cli_sleep_ms(WAIT_POLL_MS)) {
            fprintf(stderr, "smsgw send: interrupted while waiting for %s\n", id);
            return SGW_CLI_INTERRUPTED;
        }
        waited += WAIT_POLL_MS;
    }
}

static int run_send(sgw_cli *c)
{
    const char *to = sgw_cli_opt(c, "to"), *from = sgw_cli_opt(c, "from");
    const char *text = sgw_cli_opt(c, "body"), *tmpl = sgw_cli_opt(c, "template");
    if (!to || !from)
        return sgw_cli_usage_error(c, "--to and --from are required");
    if (!text && !tmpl)
        return sgw_cli_usage_error(c, "--body TEXT or --template ID is required");
    if (sgw_cli_has(c, "var") && !tmpl)
        return sgw_cli_usage_error(c, "--var goes with --template");
    long wait_s = sgw_cli_opt_long(c, "wait-timeout", 120, 1, 86400);
    if (wait_s < 0)
        return SGW_CLI_USAGE;
    json_t *req = json_pack("{s:s, s:s}", "to", to, "from", from);
    if (text)
        json_object_set_new(req, "body", json_string(text));
    if (tmpl) {
        json_t *vars = variables(c);
        if (!vars) {
            json_decref(req);
            return SGW_CLI_USAGE;
        }
        json_object_set_new(req, "template", json_string(tmpl));
        json_object_set_new(req, "variables", vars);
    }
    const char *opt_fields[][2] = { { "send-at", "sendAt" }, { "user-id", "userId" },
                                    { "country", "country" } };
    for (size_t i = 0; i < sizeof opt_fields / sizeof opt_fields[0]; i++)
        if (sgw_cli_has(c, opt_fields[i][0]))
            json_object_set_new(req, opt_fields[i][1],
                                json_string(sgw_cli_opt(c, opt_fields[i][0])));
    sgw_cli_resp r;
    sgw_cli_http(c, "POST", "/v1/sms/send", req, sgw_cli_opt(c, "idempotency-key"), &r);
    json_decref(req);
    char id[64], status[32];
    snprintf(id, sizeof id, "%s", sgw_cli_str(r.json, "messageId"));
    snprintf(status, sizeof status, "%s", sgw_cli_str(r.json, "status"));
    int rc = sgw_cli_finish(c, &r, print_accepted);
    fflush(stdout);
    if (rc != SGW_CLI_OK || !sgw_cli_has(c, "wait"))
        return rc;
    return wait_final(c, id, status, wait_s);
}

/* ----------------------------------------------------------- status */

static void print_status(const json_t *j)
{
    json_t *copy = json_deep_copy(j);
    json_object_del(copy, "events"); /* shown one per line below */
    json_object_del(copy, "providerAttempts");
    sgw_cli_print_fields(copy);
    json_decref(copy);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "events"), i, e)
        printf("  %s  %s\n", sgw_cli_str(e, "at"), sgw_cli_str(e, "status"));
    json_array_foreach(json_object_get(j, "providerAttempts"), i, e)
        printf("  attempt %zu: %s %s%s%s\n", i + 1, sgw_cli_str(e, "provider"),
               json_is_true(json_object_get(e, "ok")) ? "ok" : "failed",
               *sgw_cli_str(e, "errorMessage") ? ": " : "", sgw_cli_str(e, "errorMessage"));
}

static int run_status(sgw_cli *c)
{
    char path[256];
    int full = sgw_cli_has(c, "full");
    if (!sgw_cli_path(path, sizeof path, full ? "/v1/sms" : "/v1/sms/status", c->pos[0], NULL))
        return sgw_cli_usage_error(c, "MSG_ID is too long");
    sgw_cli_resp r;
    sgw_cli_http(c, "GET", path, NULL, NULL, &r);
    return sgw_cli_finish(c, &r, print_status);
}

/* ------------------------------------------------------------- list */

static void print_list(const json_t *j)
{
    static const char *const cols[] = { "messageId", "createdAt", "direction", "status",
                                        "from", "to", "error", NULL };
    sgw_cli_print_table(json_object_get(j, "data"), cols);
    const char *next = sgw_cli_str(j, "nextCursor");
    if (*next)
        fprintf(stderr, "more: add --cursor %s\n", next);
}

static int run_list(sgw_cli *c)
{
    static const char *const q[][2] = { { "direction", "direction" }, { "status", "status" },
                                        { "limit", "limit" },         { "cursor", "cursor" },
                                        { "from", "from" },           { "to", "to" },
                                        { "user-id", "userId" },      { "tenant", "tenantId" } };
    if (sgw_cli_opt_long(c, "limit", 50, 1, 200) < 0)
        return SGW_CLI_USAGE;
    char path[4096] = "/v1/sms";
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
        sgw_cli_query(path, sizeof path, q[i][1], sgw_cli_opt(c, q[i][0]));
    sgw_cli_resp r;
    sgw_cli_http(c, "GET", path, NULL, NULL, &r);
    return sgw_cli_finish(c, &r, print_list);
}

/* ------------------------------------------------------------ table */

static const sgw_cli_flag send_flags[] = {
    { "to", "NUMBER", "recipient, E.164 (+15559876543)" },
    { "from", "SENDER", "an E.164 number of the tenant, or one of its sender IDs" },
    { "body", "TEXT", "the text, 1-1600 characters" },
    { "template", "ID", "send a template (tpl_… or its slug) instead of --body" },
    { "var", "NAME=VALUE", "a template variable (repeat for each)" },
    { "send-at", "RFC3339", "schedule it, e.g. 2030-01-01T09:00:00Z (at most 30 days ahead)" },
    { "user-id", "ID", "your own reference, stored with the message" },
    { "country", "CC", "ISO 3166 country override" },
    { "idempotency-key", "KEY", "send at most once for this key (24 h)" },
    { "wait", NULL, "follow the status until it is final (polls GET /v1/sms/status/:id)" },
    { "wait-timeout", "SECONDS", "with --wait: give up after this long (default 120)" },
    { NULL, NULL, NULL },
};

static const sgw_cli_flag status_flags[] = {
    { "full", NULL, "the whole message (GET /v1/sms/:id): events, attempts, cost" },
    { NULL, NULL, NULL },
};

static const sgw_cli_flag list_flags[] = {
    { "direction", "DIR", "outbound or inbound" },
    { "status", "STATUS", "queued, sent, delivered, failed, received, …" },
    { "limit", "N", "how many (1-200, default 50)" },
    { "cursor", "CURSOR", "the next page (printed after a full page)" },
    { "from", "SENDER", "only from this sender" },
    { "to", "NUMBER", "only to this number" },
    { "user-id", "ID", "only this userId" },
    { "tenant", "TENANT_ID", "the tenant (required with an admin key)" },
    { NULL, NULL, NULL },
};

const sgw_cli_cmd sgw_cli_sms_cmds[] = {
    { .path = "send", .args = "",
      .synopsis = "--to NUMBER --from SENDER (--body TEXT | --template ID [--var NAME=VALUE]…)",
      .summary = "send one SMS (POST /v1/sms/send; needs an app key)",
      .details = "Prints the message id and status. With --wait, then each status change until\n"
                 "it is final: exit 0 when delivered, 1 when failed, rejected or cancelled, 3\n"
                 "after --wait-timeout. --json prints the server's answers, one per line (with\n"
                 "--wait: the send's, then the final status).\n",
      .flags = send_flags, .run = run_send },
    { .path = "status", .args = "MSG_ID", .npos_min = 1, .npos_max = 1,
      .summary = "a message's status (GET /v1/sms/status/:id)", .flags = status_flags,
      .run = run_status },
    { .path = "list", .args = "", .summary = "messages, newest first (GET /v1/sms)",
      .flags = list_flags, .run = run_list },
    { .path = NULL },
};
