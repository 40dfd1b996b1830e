/*
 * http/h_senderids.c — alphanumeric sender IDs (SPEC section 6):
 *
 *   POST   /v1/sender-ids {"senderId", "countries"?, "useCase"?}  -> 201, pending
 *   GET    /v1/sender-ids                      (admin: ?tenantId=, else all)
 *   GET    /v1/sender-ids/:id
 *   PATCH  /v1/sender-ids/:id {"status": "approved" | "rejected", "rejectionReason"?}  admin
 *   DELETE /v1/sender-ids/:id
 *
 * Documents (store kind SENDER_ID, id "<tenant>/<sid_…>"): {id, tenantId,
 * senderId, countries, useCase, status, rejectionReason, createdAt,
 * updatedAt}. The validator (actors/validator.c) decides which sends may
 * use one: live sends need `approved`, test sends accept `pending`.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "actors/sms/phone.h"
#include "bus/util.h"
#include "http/http.h"

static pthread_mutex_t sid_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *now_string(void)
{
    char ts[32];
    sgw_time_format(ts, sgw_now_ms());
    return json_string(ts);
}

typedef struct scan_ctx {
    const char *id;      /* looking for this sid_ (any tenant), or NULL */
    json_t *arr;         /* collecting, or NULL */
    json_t *found;
} scan_ctx;

static int sid_scan(void *ctx, const char *key, const char *json, size_t len)
{
    scan_ctx *c = ctx;
    const char *slash = strchr(key, '/');
    if (c->id && (!slash || strcmp(slash + 1, c->id) != 0))
        return 1;
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!o)
        return 1;
    if (c->arr) {
        json_array_append_new(c->arr, o);
        return 1;
    }
    c->found = o;
    return 0;
}

/* The sender ID of the path, if the caller may see it; else answers 400/404. */
static json_t *sid_visible(sgw_req *r)
{
    if (!sgw_id_valid(r->param[0], "sid_", 16)) {
        sgw_reply_error(r, 400, "validation_error", "Invalid sender ID id format");
        return NULL;
    }
    scan_ctx c = { .id = r->param[0] };
    char prefix[40] = "";
    if (r->auth.role != SGW_ROLE_ADMIN)
        snprintf(prefix, sizeof prefix, "%s/", r->auth.tenant);
    sgw_store_doc_scan_prefix(r->srv->deps.store, SGW_DOC_SENDER_ID, prefix, sid_scan, &c);
    if (!c.found)
        sgw_reply_error(r, 404, "not_found", "Sender ID not found");
    return c.found;
}

static int sid_store(sgw_req *r, json_t *s, int del)
{
    char key[96], *doc = del ? NULL : json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(key, sizeof key, "%s/%s", json_string_value(json_object_get(s, "tenantId")),
             json_string_value(json_object_get(s, "id")));
    sgw_doc_op op = { SGW_DOC_SENDER_ID, key, doc };
    sgw_err rv = del || doc ? sgw_store_docs_write(r->srv->deps.store, &op, 1) : SGW_ENOMEM;
    free(doc);
    if (rv != SGW_OK)
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
    return rv == SGW_OK;
}

void h_sender_ids_create(sgw_req *r)
{
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    char tenant[32], id[32];
    json_t *s = NULL, *v;
    if (!sgw_req_tenant(r, req, tenant))
        goto done;
    const char *text = json_string_value(json_object_get(req, "senderId"));
    if (!text || !sgw_sender_id_valid(text)) {
        sgw_reply_error(r, 400, "sender_id_invalid",
                        "senderId must be 1-11 letters, digits or spaces, with at least one "
                        "letter");
        goto done;
    }
    json_t *countries = json_array();
    if ((v = json_object_get(req, "countries")) && !json_is_null(v)) {
        size_t i;
        json_t *c;
        int ok = json_is_array(v) && json_array_size(v) <= 250;
        json_array_foreach(v, i, c) ok = ok && json_is_string(c) &&
                                          sgw_country_valid(json_string_value(c));
        if (!ok) {
            json_decref(countries);
            sgw_reply_error(r, 400, "validation_error",
                            "countries must be a list of ISO 3166-1 alpha-2 codes");
            goto done;
        }
        json_array_extend(countries, v);
    }
    const char *use_case = NULL;
    if ((v = json_object_get(req, "useCase")) && !json_is_null(v)) {
        use_case = json_string_value(v);
        if (!use_case || strlen(use_case) > 500 || strlen(use_case) != json_string_length(v)) {
            json_decref(countries);
            sgw_reply_error(r, 400, "validation_error", "useCase must be at most 500 characters");
            goto done;
        }
    }
    sgw_random_id(id, sizeof id, "sid_", 16);
    s = json_pack("{s:s, s:s, s:s, s:o, s:s?, s:s, s:n, s:o, s:o}", "id", id, "tenantId", tenant,
                  "senderId", text, "countries", countries, "useCase", use_case, "status",
                  "pending", "rejectionReason", "createdAt", now_string(), "updatedAt",
                  now_string());
    pthread_mutex_lock(&sid_lock);
    char *existing = NULL;
    if (sgw_store_sender_id_find(r->srv->deps.store, tenant, text, &existing) == SGW_OK) {
        free(existing);
        sgw_reply_error(r, 409, "conflict", "This sender ID is already registered");
    } else if (sid_store(r, s, 0)) {
        sgw_reply_json(r, 201, json_incref(s));
    }
    pthread_mutex_unlock(&sid_lock);
done:
    json_decref(s);
    json_decref(req);
}

void h_sender_ids_list(sgw_req *r)
{
    char prefix[80] = "", q[64];
    if (r->auth.role != SGW_ROLE_ADMIN) {
        snprintf(prefix, sizeof prefix, "%s/", r->auth.tenant);
    } else if (sgw_req_query(r, "tenantId", q, sizeof q)) {
        if (!sgw_id_valid(q, "tenant_", 16)) {
            sgw_reply_error(r, 400, "validation_error", "Invalid tenantId format");
            return;
        }
        snprintf(prefix, sizeof prefix, "%s/", q);
    }
    scan_ctx c = { .arr = json_array() };
    sgw_store_doc_scan_prefix(r->srv->deps.store, SGW_DOC_SENDER_ID, prefix, sid_scan, &c);
    sgw_reply_json(r, 200, json_pack("{s:o}", "senderIds", c.arr));
}

void h_sender_ids_get(sgw_req *r)
{
    json_t *s = sid_visible(r);
    if (s)
        sgw_reply_json(r, 200, s);
}

void h_sender_ids_patch(sgw_req *r)
{
    if (r->auth.role != SGW_ROLE_ADMIN) {
        sgw_reply_error(r, 403, "forbidden", "This needs an admin key");
        return;
    }
    json_t *s = sid_visible(r);
    if (!s)
        return;
    json_t *req = sgw_req_json_object(r);
    if (!req) {
        json_decref(s);
        return;
    }
    const char *st = json_string_value(json_object_get(req, "status"));
    json_t *why = json_object_get(req, "rejectionReason");
    if (!st || (strcmp(st, "approved") && strcmp(st, "rejected") && strcmp(st, "pending"))) {
        sgw_reply_error(r, 400, "validation_error", "status must be approved, rejected or pending");
    } else if (why && !json_is_null(why) &&
               (!json_is_string(why) || json_string_length(why) > 500)) {
        sgw_reply_error(r, 400, "validation_error",
                        "rejectionReason must be a string of at most 500 characters");
    } else if (strcmp(st, "rejected") == 0 && (!json_is_string(why) ||
                                               json_string_length(why) == 0)) {
        sgw_reply_error(r, 400, "validation_error", "rejectionReason is required to reject");
    } else {
        json_object_set_new(s, "status", json_string(st));
        json_object_set(s, "rejectionReason",
                        strcmp(st, "rejected") == 0 ? why : json_null());
        json_object_set_new(s, "updatedAt", now_string());
        if (sid_store(r, s, 0))
            sgw_reply_json(r, 200, json_incref(s));
    }
    json_decref(req);
    json_decref(s);
}

void h_sender_ids_delete(sgw_req *r)
{
    json_t *s = sid_visible(r);
    if (!s)
        return;
    if (sid_store(r, s, 1))
        sgw_reply_json(r, 200, json_pack("{s:s, s:b}", "id", r->param[0], "deleted", 1));
    json_decref(s);
}
