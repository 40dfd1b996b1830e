/*
 * bus/main.c — the smsgw command: runs the gateway, and the operator's
 * commands that work on a stopped gateway's data folder.
 *
 * Start:  config -> store -> actors (downstream first, each returns only
 *         when its threads are up) -> HTTP. Ready once all are up.
 * Stop:   SIGTERM or SIGINT: new requests get 503; HTTP waits for the
 *         requests under way; the actors stop in pipeline order (ingress
 *         first; the sender finishes its provider calls; status records
 *         their outcomes); the store is synced and closed; exit 0.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "actors/actors.h"
#include "bus/actor.h"
#include "bus/cfg.h"
#include "bus/log.h"
#include "bus/util.h"
#include "http/cli.h"
#include "http/http.h"
#include "store/store.h"

#define SMSGW_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "smsgw %s - a self-hosted, multi-tenant SMS gateway\n"
            "\n"
            "usage: smsgw [--config FILE] [COMMAND]\n"
            "\n"
            "commands:\n"
            "  serve                 run the gateway (the default)\n"
            "  admin create-key      create an admin API key in the data folder and print\n"
            "                        it (the gateway must be stopped: RocksDB is locked)\n"
            "  check-config          load the configuration, report problems, exit\n"
            "  config defaults       print the built-in configuration\n"
            "  --help, --version\n"
            "\n"
            "environment: SMSGW_CONFIG (config file), SMSGW_LISTEN (host:port),\n"
            "  SMSGW_DATA_DIR, SMSGW_ADMIN_KEY (an sgw_ key accepted as admin)\n",
            SMSGW_VERSION);
    sgw_cli_usage(f);
}

static int open_store(const sgw_cfg *cfg, sgw_store **store)
{
    char why[512] = "";
    const char *dir = sgw_cfg_str(cfg, "data_dir");
    if (sgw_store_open(dir, cfg, store, why, sizeof why) != SGW_OK) {
        fprintf(stderr, "smsgw: cannot open the store in %s: %s\n", dir, why);
        return 0;
    }
    return 1;
}

static int cmd_create_key(const sgw_cfg *cfg)
{
    sgw_store *store;
    if (!open_store(cfg, &store))
        return 1;
    char app_id[32], key[48], hash[65], ts[32];
    sgw_random_id(app_id, sizeof app_id, "app_", 16);
    sgw_key_new(0, key, hash);
    sgw_time_format(ts, sgw_now_ms());
    json_t *app = json_pack("{s:s, s:s, s:n, s:s, s:s, s:n, s:s, s:s, s:s, s:s}", "appId",
                            app_id, "name", "admin", "tenantId", "role", "admin", "mode", "live",
                            "webhookUrl", "keyHash", hash, "apiKeyPrefix", "sgw_", "createdAt",
                            ts, "updatedAt", ts);
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", key);
    json_object_set_new(app, "apiKeyPrefix", json_string(prefix));
    json_t *kd = json_pack("{s:s, s:n, s:s, s:b}", "appId", app_id, "tenantId", "role", "admin",
                           "test", 0);
    char *a = json_dumps(app, JSON_COMPACT | JSON_SORT_KEYS);
    char *k = json_dumps(kd, JSON_COMPACT | JSON_SORT_KEYS);
    sgw_doc_op ops[2] = { { SGW_DOC_APP, app_id, a }, { SGW_DOC_KEY, hash, k } };
    sgw_err rv = sgw_store_docs_write(store, ops, 2);
    free(a);
    free(k);
    json_decref(app);
    json_decref(kd);
    sgw_store_close(&store);
    if (rv != SGW_OK) {
        fprintf(stderr, "smsgw: could not store the key: %s\n", sgw_strerror(rv));
        return 1;
    }
    printf("%s\n", key);
    return 0;
}

static int serve(const sgw_cfg *cfg)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits this */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    sgw_app app = { .cfg = cfg, .boot_ms = sgw_now_ms() };
    int64_t t0 = sgw_mono_ms();
    if (!open_store(cfg, &app.store))
        return 1;
    if (sgw_circuits_new(cfg, &app.circuits) != SGW_OK) {
        sgw_store_close(&app.store);
        return 1;
    }
    sgw_actor *actors[SGW_PIPELINE_LEN] = { 0 };
    int rc = 1;
    for (int i = SGW_PIPELINE_LEN - 1; i >= 0; i--) {
        if (sgw_actor_start(sgw_pipeline[i], cfg, &app, &actors[i]) != SGW_OK) {
            sgw_log(SGW_LOG_ERROR, "main", "actor %s failed to start", sgw_pipeline[i]->name);
            goto stop_actors;
        }
    }
    sgw_http *http = NULL;
    char why[512] = "";
    sgw_http_deps deps = { .cfg = cfg, .store = app.store, .app = &app, .actors = actors,
                           .nactors = SGW_PIPELINE_LEN };
    if (sgw_http_start(&deps, &http, why, sizeof why) != SGW_OK) {
        sgw_log(SGW_LOG_ERROR, "main", "cannot serve HTTP on %s: %s", sgw_cfg_str(cfg, "listen"),
                why);
        goto stop_actors;
    }
    sgw_log(SGW_LOG_INFO, "main", "smsgw %s listening on %s, data in %s (sync %s), ready in "
            "%lld ms", SMSGW_VERSION, sgw_cfg_str(cfg, "listen"), sgw_cfg_str(cfg, "data_dir"),
            sgw_cfg_str(cfg, "store.sync"), (long long)(sgw_mono_ms() - t0));

    int sig = 0;
    sigwait(&sigs, &sig);
    sgw_log(SGW_LOG_INFO, "main", "%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&app.draining, 1);
    sgw_http_stop(&http);
    rc = 0;
stop_actors:
    /* in pipeline order; outputs stay open until all have stopped */
    for (int i = 0; i < SGW_PIPELINE_LEN; i++)
        sgw_actor_stop(actors[i]);
    for (int i = 0; i < SGW_PIPELINE_LEN; i++)
        sgw_actor_destroy(&actors[i]);
    sgw_store_close(&app.store);
    sgw_circuits_free(app.circuits);
    curl_global_cleanup();
    if (rc == 0)
        sgw_log(SGW_LOG_INFO, "main", "stopped");
    return rc;
}

int main(int argc, char **argv)
{
    int cli_rc; /* send, status, list, batch, tail, admin … (not create-key) */
    if (sgw_cli_main(argc, argv, &cli_rc))
        return cli_rc;
    const char *config = getenv("SMSGW_CONFIG");
    const char *cmd[3] = { NULL, NULL, NULL };
    int ncmd = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("smsgw %s\n", SMSGW_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (argv[i][0] == '-' || ncmd == 3) {
            fprintf(stderr, "smsgw: unknown option '%s' (see smsgw --help)\n", argv[i]);
            return 2;
        } else {
            cmd[ncmd++] = argv[i];
        }
    }
    if (ncmd == 2 && strcmp(cmd[0], "config") == 0 && strcmp(cmd[1], "defaults") == 0) {
        fputs(sgw_cfg_defaults_text(), stdout);
        return 0;
    }
    int serve_cmd = ncmd == 0 || (ncmd == 1 && strcmp(cmd[0], "serve") == 0);
    int key_cmd = ncmd == 2 && strcmp(cmd[0], "admin") == 0 && strcmp(cmd[1], "create-key") == 0;
    int check_cmd = ncmd == 1 && strcmp(cmd[0], "check-config") == 0;
    if (!serve_cmd && !key_cmd && !check_cmd) {
        fprintf(stderr, "smsgw: unknown command '%s%s%s' (see smsgw --help)\n", cmd[0],
                ncmd > 1 ? " " : "", ncmd > 1 ? cmd[1] : "");
        return 2;
    }
    sgw_cfg *cfg;
    char why[512];
    if (sgw_cfg_load(config, &cfg, why, sizeof why) != SGW_OK) {
        fprintf(stderr, "smsgw: invalid configuration: %s\n", why);
        return 1;
    }
    sgw_log_setup((sgw_log_level)sgw_log_level_parse(sgw_cfg_str(cfg, "log.level")),
                  strcmp(sgw_cfg_str(cfg, "log.format"), "json") == 0);
    int rc;
    if (check_cmd) {
        printf("configuration ok%s%s\n", config ? ": " : " (built-in defaults)",
               config ? config : "");
        rc = 0;
    } else if (key_cmd) {
        rc = cmd_create_key(cfg);
    } else {
        rc = serve(cfg);
    }
    sgw_cfg_destroy(&cfg);
    return rc;
}
