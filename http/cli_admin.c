/*
 * http/cli_admin.c — `smsgw admin tenants|apps|connections|sender-ids …`:
 * the operator's commands against a running gateway, with an admin key
 * ($SMSGW_ADMIN_KEY first). One request each. The offline
 * `smsgw admin create-key` stays in bus/main.c.
 *
 * Secrets given to `connections set` (client secret, JWT) are best read
 * from files (--client-secret-file, --jwt-file; "-" is stdin) so they do
 * not show in ps; they are never printed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/cli.h"

/* path = prefix/escaped(id)suffix, then one request (body may be NULL). */
static int request_id(const sgw_cli *c, const char *method, const char *prefix, const char *id,
                      const char *suffix, json_t *body, void (*human)(const json_t *))
{
    char path[1200];
    if (!sgw_cli_path(path, sizeof path, prefix, id, suffix)) {
        json_decref(body);
        return sgw_cli_usage_error(c, "'%.40s…' is too long", id);
    }
    sgw_cli_resp r;
    sgw_cli_http(c, method, path, body, NULL, &r);
    json_decref(body);
    return sgw_cli_finish(c, &r, human);
}

/* ---------------------------------------------------------- tenants */

static void print_tenants(const json_t *j)
{
    static const char *const cols[] = { "id", "name", "status", "monthlyQuota", "wallet",
                                        "currency", "createdAt", NULL };
    sgw_cli_print_table(json_object_get(j, "tenants"), cols);
}

static int tenants_list(sgw_cli *c)
{
    sgw_cli_resp r;
    sgw_cli_http(c, "GET", "/v1/tenants", NULL, NULL, &r);
    return sgw_cli_finish(c, &r, print_tenants);
}

static int tenants_create(sgw_cli *c)
{
    long quota = sgw_cli_opt_long(c, "quota", 0, 0, 2000000000L);
    long wallet = sgw_cli_opt_long(c, "wallet", 0, 0, 2000000000L);
    if (quota < 0 || wallet < 0)
        return SGW_CLI_USAGE;
    json_t *body = json_pack("{s:s}", "name", c->pos[0]);
    if (sgw_cli_has(c, "quota"))
        json_object_set_new(body, "monthlyQuota", json_integer(quota));
    if (sgw_cli_has(c, "wallet"))
        json_object_set_new(body, "wallet", json_integer(wallet));
    if (sgw_cli_has(c, "currency"))
        json_object_set_new(body, "currency", json_string(sgw_cli_opt(c, "currency")));
    sgw_cli_resp r;
    sgw_cli_http(c, "POST", "/v1/tenants", body, NULL, &r);
    json_decref(body);
    return sgw_cli_finish(c, &r, sgw_cli_print_fields);
}

static int tenants_get(sgw_cli *c)
{
    return request_id(c, "GET", "/v1/tenants", c->pos[0], NULL, NULL, sgw_cli_print_fields);
}

static int tenant_status(sgw_cli *c, const char *status)
{
    return request_id(c, "PATCH", "/v1/tenants", c->pos[0], NULL,
                      json_pack("{s:s}", "status", status), sgw_cli_print_fields);
}

static int tenants_suspend(sgw_cli *c)
{
    return tenant_status(c, "suspended");
}

static int tenants_activate(sgw_cli *c)
{
    return tenant_status(c, "active");
}

/* ------------------------------------------------------------- apps */

static void print_apps(const json_t *j)
{
    static const char *const cols[] = { "appId", "name", "tenantId", "mode", "role",
                                        "apiKeyPrefix", "webhookUrl", NULL };
    sgw_cli_print_table(json_object_get(j, "apps"), cols);
}

static void print_new_key(const json_t *j)
{
    sgw_cli_print_fields(j);
    fprintf(stderr, "note: the API key%s is shown only this once: store it now\n",
            json_object_get(j, "webhookSecret") ? " and the webhook secret are" : "");
}

static int apps_list(sgw_cli *c)
{
    char path[512] = "/v1/apps";
    sgw_cli_query(path, sizeof path, "tenantId", sgw_cli_opt(c, "tenant"));
    sgw_cli_resp r;
    sgw_cli_http(c, "GET", path, NULL, NULL, &r);
    return sgw_cli_finish(c, &r, print_apps);
}

static int apps_create(sgw_cli *c)
{
    const char *tenant = sgw_cli_opt(c, "tenant"), *name = sgw_cli_opt(c, "name");
    if (!tenant || !name)
        return sgw_cli_usage_error(c, "--tenant and --name are required");
    json_t *body = json_pack("{s:s, s:s}", "tenantId", tenant, "name", name);
    const char *opt_fields[][2] = { { "mode", "mode" }, { "webhook-url", "webhookUrl" },
                                    { "role", "role" } };
    for (size_t i = 0; i < sizeof opt_fields / sizeof opt_fields[0]; i++)
        if (sgw_cli_has(c, opt_fields[i][0]))
            json_object_set_new(body, opt_fields[i][1],
                                json_string(sgw_cli_opt(c, opt_fields[i][0])));
    sgw_cli_resp r;
    sgw_cli_http(c, "POST", "/v1/apps/register", body, NULL, &r);
    json_decref(body);
    return sgw_cli_finish(c, &r, print_new_key);
}

static int apps_get(sgw_cli *c)
{
    return request_id(c, "GET", "/v1/apps", c->pos[0], NULL, NULL, sgw_cli_print_fields);
}

static int apps_rotate(sgw_cli *c)
{
    return request_id(c, "POST", "/v1/apps", c->pos[0], "/rotate-key", NULL, print_new_key);
}

static void print_deleted(const json_t *j)
{
    printf("deleted %s\n", sgw_cli_str(j, "appId"));
}

static int apps_delete(sgw_cli *c)
{
    return request_id(c, "DELETE", "/v1/apps", c->pos[0], NULL, NULL, print_deleted);
}

/* ------------------------------------------------------ connections */

static const char *provider(const sgw_cli *c)
{
    return c->npos > 1 ? c->pos[1] : "ringcentral";
}

static int conn_request(sgw_cli *c, const char *method, json_t *body)
{
    char suffix[300];
    char prov[200];
    if (!sgw_cli_path(prov, sizeof prov, "", provider(c), NULL)) {
        json_decref(body);
        return sgw_cli_usage_error(c, "PROVIDER is too long");
    }
    snprintf(suffix, sizeof suffix, "/connections%s", prov);
    return request_id(c, method, "/v1/tenants", c->pos[0], suffix, body, sgw_cli_print_fields);
}

static int conn_get(sgw_cli *c)
{
    return conn_request(c, "GET", NULL);
}

static int conn_delete(sgw_cli *c)
{
    return conn_request(c, "DELETE", NULL);
}

/* A secret from --NAME-file FILE (first line; "-": stdin) or --NAME VALUE;
 * NULL after a usage error. Caller frees (and wipes). */
static char *secret(const sgw_cli *c, const char *name)
{
    char fopt[64];
    snprintf(fopt, sizeof fopt, "%s-file", name);
    const char *path = sgw_cli_opt(c, fopt), *val = sgw_cli_opt(c, name);
    if (!path && !val) {
        sgw_cli_usage_error(c, "--%s-file FILE (or --%s VALUE) is required", name, name);
        return NULL;
    }
    if (!path)
        return strdup(val);
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        sgw_cli_usage_error(c, "cannot read --%s %s: %s", fopt, path, strerror(errno));
        return NULL;
    }
    char *line = calloc(1, 16384);
    int got = line && fgets(line, 16384, f) != NULL;
    if (f != stdin)
        fclose(f);
    if (line)
        line[strcspn(line, "\r\n")] = '\0';
    if (!got || !*line) {
        free(line);
        sgw_cli_usage_error(c, "--%s %s is empty", fopt, path);
        return NULL;
    }
    return line;
}

static void wipe_free(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
    free(s);
}

static int conn_set(sgw_cli *c)
{
    const char *client_id = sgw_cli_opt(c, "client-id");
    if (!client_id)
        return sgw_cli_usage_error(c, "--client-id is required");
    char *csecret = secret(c, "client-secret");
    char *jwt = csecret ? secret(c, "jwt") : NULL;
    if (!jwt) {
        wipe_free(csecret);
        return SGW_CLI_USAGE;
    }
    const char *server = sgw_cli_opt(c, "server-url");
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "serverUrl",
                             server ? server : "https://platform.ringcentral.com", "clientId",
                             client_id, "clientSecret", csecret, "jwt", jwt);
    wipe_free(csecret);
    wipe_free(jwt);
    return conn_request(c, "PUT", body);
}

/* ------------------------------------------------------- sender IDs */

static void print_sender_ids(const json_t *j)
{
    static const char *const cols[] = { "id", "tenantId", "senderId", "status",
                                        "rejectionReason", "createdAt", NULL };
    sgw_cli_print_table(json_object_get(j, "senderIds"), cols);
}

static int sids_list(sgw_cli *c)
{
    char path[512] = "/v1/sender-ids";
    sgw_cli_query(path, sizeof path, "tenantId", sgw_cli_opt(c, "tenant"));
    sgw_cli_resp r;
    sgw_cli_http(c, "GET", path, NULL, NULL, &r);
    return sgw_cli_finish(c, &r, print_sender_ids);
}

static int sids_approve(sgw_cli *c)
{
    return request_id(c, "PATCH", "/v1/sender-ids", c->pos[0], NULL,
                      json_pack("{s:s}", "status", "approved"), sgw_cli_print_fields);
}

static int sids_reject(sgw_cli *c)
{
    const char *reason = sgw_cli_opt(c, "reason");
    if (!reason)
        return sgw_cli_usage_error(c, "--reason is required");
    return request_id(c, "PATCH", "/v1/sender-ids", c->pos[0], NULL,
                      json_pack("{s:s, s:s}", "status", "rejected", "rejectionReason", reason),
                      sgw_cli_print_fields);
}

/* ------------------------------------------------------------ table */

static const sgw_cli_flag no_flags[] = { { NULL, NULL, NULL } };

static const sgw_cli_flag tenant_create_flags[] = {
    { "quota", "SEGMENTS", "free segments per calendar month (monthlyQuota)" },
    { "wallet", "MINOR_UNITS", "starting balance, e.g. cents" },
    { "currency", "CCC", "ISO 4217 code, e.g. USD" },
    { NULL, NULL, NULL },
};

static const sgw_cli_flag tenant_filter_flags[] = {
    { "tenant", "TENANT_ID", "only this tenant's" },
    { NULL, NULL, NULL },
};

static const sgw_cli_flag app_create_flags[] = {
    { "tenant", "TENANT_ID", "the tenant (required)" },
    { "name", "NAME", "the app's name (required)" },
    { "mode", "MODE", "live (default) or test (a sgw_test_ key: simulator only)" },
    { "webhook-url", "URL", "where its events are posted (https://, or loopback http://)" },
    { "role", "ROLE", "app (default) or admin" },
    { NULL, NULL, NULL },
};

static const sgw_cli_flag conn_set_flags[] = {
    { "client-id", "ID", "the RingCentral app's client id (required)" },
    { "client-secret-file", "FILE", "its client secret, read from FILE (- for stdin)" },
    { "client-secret", "SECRET", "or given here (shows in ps)" },
    { "jwt-file", "FILE", "the user's JWT credential, read from FILE (- for stdin)" },
    { "jwt", "JWT", "or given here (shows in ps)" },
    { "server-url", "URL", "default https://platform.ringcentral.com" },
    { NULL, NULL, NULL },
};

static const sgw_cli_flag reject_flags[] = {
    { "reason", "TEXT", "why (required; shown to the tenant)" },
    { NULL, NULL, NULL },
};

#define CONN_DETAILS                                                                       \
    "PROVIDER is ringcentral (the default). The secrets are checked with RingCentral,\n"      \
    "then stored sealed and never shown. See README \"Connecting RingCentral\".\n"

#define ADMIN(p, a, lo, hi, syn, sum, det, fl, fn)                                          \
    { .path = "admin " p, .args = a, .npos_min = lo, .npos_max = hi, .synopsis = syn,           \
      .summary = sum, .details = det, .flags = fl, .admin = 1, .run = fn }

const sgw_cli_cmd sgw_cli_admin_cmds[] = {
    ADMIN("tenants list", "", 0, 0, NULL, "list tenants (GET /v1/tenants)", NULL, no_flags,
          tenants_list),
    ADMIN("tenants create", "NAME", 1, 1, NULL, "create a tenant (POST /v1/tenants)", NULL,
          tenant_create_flags, tenants_create),
    ADMIN("tenants get", "TENANT_ID", 1, 1, NULL, "a tenant, with this month's usage", NULL,
          no_flags, tenants_get),
    ADMIN("tenants suspend", "TENANT_ID", 1, 1, NULL,
          "suspend a tenant: its keys get 403, its queued messages fail", NULL, no_flags,
          tenants_suspend),
    ADMIN("tenants activate", "TENANT_ID", 1, 1, NULL, "make a tenant active again", NULL,
          no_flags, tenants_activate),
    ADMIN("apps list", "", 0, 0, NULL, "list apps (GET /v1/apps)", NULL, tenant_filter_flags,
          apps_list),
    ADMIN("apps create", "", 0, 0, "--tenant TENANT_ID --name NAME",
          "register an app and print its API key (shown once)", NULL, app_create_flags,
          apps_create),
    ADMIN("apps get", "APP_ID", 1, 1, NULL, "an app (never its key)", NULL, no_flags, apps_get),
    ADMIN("apps rotate-key", "APP_ID", 1, 1, NULL,
          "a new API key for an app; the old one stops working at once", NULL, no_flags,
          apps_rotate),
    ADMIN("apps delete", "APP_ID", 1, 1, NULL, "delete an app and its key", NULL, no_flags,
          apps_delete),
    ADMIN("connections get", "TENANT_ID [PROVIDER]", 1, 2, NULL,
          "a tenant's provider connection (no secrets)", CONN_DETAILS, no_flags, conn_get),
    ADMIN("connections set", "TENANT_ID [PROVIDER]", 1, 2,
          "--client-id ID --client-secret-file FILE --jwt-file FILE",
          "connect a tenant to RingCentral with JWT credentials", CONN_DETAILS, conn_set_flags,
          conn_set),
    ADMIN("connections delete", "TENANT_ID [PROVIDER]", 1, 2, NULL,
          "disconnect a tenant from a provider", CONN_DETAILS, no_flags, conn_delete),
    ADMIN("sender-ids list", "", 0, 0, NULL, "sender IDs (review the pending ones)", NULL,
          tenant_filter_flags, sids_list),
    ADMIN("sender-ids approve", "SID", 1, 1, NULL, "approve a sender ID (sid_…)", NULL,
          no_flags, sids_approve),
    ADMIN("sender-ids reject", "SID", 1, 1, "--reason TEXT", "reject a sender ID, with a reason",
          NULL, reject_flags, sids_reject),
    { .path = NULL },
};
