/*
 * http/h_webhooks.c — app webhooks (SPEC section 9): the dead-letter list,
 * replay, and test-webhook. Deliveries themselves are the webhooks actor's
 * (actors/webhooks.c); these handlers write the outbox (store/outbox.c)
 * and tell the actor which app has new entries over its bus input.
 *
 * Who: an admin key, or the app itself; any other app is 404.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "bus/util.h"
#include "http/http.h"

/* Tell the webhooks actor that app has new entries. Best effort: the actor
 * also looks for pending apps every few seconds. */
static void wh_notify(const char *app)
{
    sgw_msg m;
    sgw_msg_init(&m, SGW_MSG_EVENT, "");
    snprintf(m.app, sizeof m.app, "%s", app);
    sgw_http_tell("webhooks", &m, 100);
}

/* The app in the path if the caller may see it (its document), else answers. */
static json_t *wh_app(sgw_req *r)
{
    const char *id = r->param[0];
    if (!sgw_id_valid(id, "app_", 16)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid appId format");
        return NULL;
    }
    json_t *app = NULL;
    if (r->auth.role == SGW_ROLE_ADMIN || strcmp(id, r->auth.app) == 0) {
        char *doc = NULL;
        sgw_err rv = sgw_store_doc_get(r->srv->deps.store, SGW_DOC_APP, id, &doc);
        if (rv != SGW_OK && rv != SGW_ENOENT) {
            sgw_reply_error(r, 503, "unavailable", "Store unavailable");
            return NULL;
        }
        app = doc ? json_loads(doc, 0, NULL) : NULL;
        free(doc);
    }
    if (!app)
        sgw_reply_error(r, 404, "not_found", "App not found");
    return app;
}

static void dead_cb(void *ctx, const sgw_wh_entry *e)
{
    char created[32], dead[32];
    sgw_time_format(created, e->created_ms);
    sgw_time_format(dead, e->dead_ms);
    json_array_append_new(ctx, json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "id", e->id, "event",
                                         e->event, "attempts", e->attempts, "lastError",
                                         e->last_error, "createdAt", created, "deadAt", dead));
}

void h_webhooks_dead(sgw_req *r)
{
    json_t *app = wh_app(r);
    if (!app)
        return;
    json_decref(app);
    json_t *arr = json_array();
    sgw_store_outbox_dead(r->srv->deps.store, r->param[0], 1000, dead_cb, arr);
    sgw_reply_json(r, 200, json_pack("{s:o}", "deliveries", arr));
}

void h_webhooks_replay(sgw_req *r)
{
    json_t *app = wh_app(r);
    if (!app)
        return;
    json_decref(app);
    sgw_err rv = sgw_store_outbox_replay(r->srv->deps.store, r->param[0], r->param[1]);
    if (rv == SGW_ENOENT) {
        sgw_reply_error(r, 404, "not_found", "Delivery not found");
        return;
    }
    if (rv != SGW_OK) {
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    wh_notify(r->param[0]);
    sgw_reply_json(r, 202, json_pack("{s:s, s:s}", "deliveryId", r->param[1], "status",
                                     "queued"));
}

void h_apps_test_webhook(sgw_req *r)
{
    json_t *app = wh_app(r);
    if (!app)
        return;
    const char *url = json_string_value(json_object_get(app, "webhookUrl"));
    if (!url || !url[0]) {
        json_decref(app);
        sgw_reply_error(r, 400, "validation_error", "App has no webhookUrl configured");
        return;
    }
    json_decref(app);
    char ts[32];
    sgw_time_format(ts, sgw_now_ms());
    json_t *o = json_pack("{s:s, s:s, s:s}", "type", "test", "appId", r->param[0], "timestamp",
                          ts);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    sgw_wh_entry e = { 0 };
    sgw_wh_entry *one = &e;
    sgw_random_id(e.id, sizeof e.id, "dlv_", 24);
    snprintf(e.app, sizeof e.app, "%s", r->param[0]);
    snprintf(e.event, sizeof e.event, "test");
    e.body = body;
    e.created_ms = sgw_now_ms();
    if (!body || sgw_store_outbox_add(r->srv->deps.store, &one, 1) != SGW_OK) {
        sgw_wh_entry_clear(&e);
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
        return;
    }
    wh_notify(r->param[0]);
    sgw_reply_json(r, 202, json_pack("{s:s}", "deliveryId", e.id));
    sgw_wh_entry_clear(&e);
}
