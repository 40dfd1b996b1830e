/*
 * http/h_templates.c — message templates (SPEC section 6):
 *
 *   POST   /v1/templates {"name", "slug"?, "body"}          -> 201
 *   GET    /v1/templates                                    -> {"templates": [...]}
 *   GET/PUT/DELETE /v1/templates/:idOrSlug
 *   POST   /v1/templates/:idOrSlug/render {"variables"}     -> {body, encoding, segments}
 *
 * A template belongs to a tenant (an admin names it with tenantId); its
 * slug is unique in the tenant. Documents (store kind TEMPLATE, id
 * "<tenant>/<tpl_…>"): {id, tenantId, name, slug, body, variables,
 * createdAt, updatedAt}. Placeholders are actors/sms/template.h's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "actors/sms/template.h"
#include "actors/sms/text.h"
#include "bus/util.h"
#include "http/http.h"

#define TEMPLATE_BODY_MAX 1600

/* slug checks and writes are one at a time: two creates cannot both take a slug */
static pthread_mutex_t tpl_lock = PTHREAD_MUTEX_INITIALIZER;

static int slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return 0;
    /* not an id: ids and slugs share the path */
    return strncmp(s, "tpl_", 4) != 0;
}

/* name -> slug: lower case, runs of other characters -> "-" */
static void slugify(const char *name, char out[65])
{
    size_t n = 0;
    int dash = 0;
    for (const char *p = name; *p && n < 64; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && n > 0 && n < 63)
                out[n++] = '-';
            out[n++] = c;
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[n] = '\0';
    if (n == 0 || !slug_ok(out))
        snprintf(out, 65, "t-%s", n ? out : "template");
}

static json_t *tpl_load(sgw_req *r, const char *tenant)
{
    char *text;
    if (sgw_store_template_find(r->srv->deps.store, tenant, r->param[0], &text) != SGW_OK) {
        sgw_reply_error(r, 404, "not_found", "Template not found");
        return NULL;
    }
    json_t *t = json_loads(text, 0, NULL);
    free(text);
    return t;
}

/* name, slug and body of req into t (create: all required but slug). */
static int tpl_fields(sgw_req *r, json_t *req, json_t *t, int create)
{
    json_t *v;
    if ((v = json_object_get(req, "name")) || create) {
        const char *name = json_string_value(v);
        size_t n = name ? strlen(name) : 0;
        if (!name || n < 1 || n > 100) {
            sgw_reply_error(r, 400, "validation_error", "name must be 1-100 characters");
            return 0;
        }
        json_object_set(t, "name", v);
    }
    if ((v = json_object_get(req, "slug")) && !json_is_null(v)) {
        const char *slug = json_string_value(v);
        if (!slug || !slug_ok(slug)) {
            sgw_reply_error(r, 400, "validation_error",
                            "slug must be 1-64 of a-z, 0-9, - and _, starting with a letter or "
                            "digit");
            return 0;
        }
        json_object_set(t, "slug", v);
    } else if (create) {
        char slug[65];
        slugify(json_string_value(json_object_get(t, "name")), slug);
        json_object_set_new(t, "slug", json_string(slug));
    }
    if ((v = json_object_get(req, "body")) || create) {
        const char *body = json_string_value(v);
        sgw_text_info ti;
        if (!body || strlen(body) != json_string_length(v) ||
            sgw_text_analyze(body, strlen(body), &ti) != SGW_OK || ti.code_points < 1 ||
            ti.code_points > TEMPLATE_BODY_MAX) {
            sgw_reply_error(r, 400, "validation_error", "body must be 1-1600 characters");
            return 0;
        }
        json_t *names;
        char why[128];
        if (sgw_template_variables(body, &names, why, sizeof why) != SGW_OK) {
            sgw_reply_error(r, 400, "validation_error", why);
            return 0;
        }
        json_object_set(t, "body", v);
        json_object_set_new(t, "variables", names);
    }
    return 1;
}

/* Is slug taken by another template of the tenant? (under tpl_lock) */
static int slug_taken(sgw_req *r, const char *tenant, const char *slug, const char *self_id)
{
    char *text;
    if (sgw_store_template_find(r->srv->deps.store, tenant, slug, &text) != SGW_OK)
        return 0;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    const char *id = json_string_value(json_object_get(o, "id"));
    int taken = !self_id || !id || strcmp(id, self_id) != 0;
    json_decref(o);
    if (taken)
        sgw_reply_error(r, 409, "conflict", "A template with this slug already exists");
    return taken;
}

static int tpl_store(sgw_req *r, const char *tenant, json_t *t)
{
    char key[96], *doc = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(key, sizeof key, "%s/%s", tenant, json_string_value(json_object_get(t, "id")));
    sgw_doc_op op = { SGW_DOC_TEMPLATE, key, doc };
    sgw_err rv = doc ? sgw_store_docs_write(r->srv->deps.store, &op, 1) : SGW_ENOMEM;
    free(doc);
    if (rv != SGW_OK)
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
    return rv == SGW_OK;
}

static json_t *now_string(void)
{
    char ts[32];
    sgw_time_format(ts, sgw_now_ms());
    return json_string(ts);
}

void h_templates_create(sgw_req *r)
{
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    char tenant[32], id[32];
    json_t *t = json_object();
    if (!sgw_req_tenant(r, req, tenant) || !tpl_fields(r, req, t, 1))
        goto done;
    sgw_random_id(id, sizeof id, "tpl_", 16);
    json_object_set_new(t, "id", json_string(id));
    json_object_set_new(t, "tenantId", json_string(tenant));
    json_object_set_new(t, "createdAt", now_string());
    json_object_set_new(t, "updatedAt", now_string());
    pthread_mutex_lock(&tpl_lock);
    int ok = !slug_taken(r, tenant, json_string_value(json_object_get(t, "slug")), NULL) &&
             tpl_store(r, tenant, t);
    pthread_mutex_unlock(&tpl_lock);
    if (ok)
        sgw_reply_json(r, 201, json_incref(t));
done:
    json_decref(t);
    json_decref(req);
}

typedef struct list_ctx {
    json_t *arr;
} list_ctx;

static int collect(void *ctx, const char *id, const char *json, size_t len)
{
    (void)id;
    json_t *o = json_loadb(json, len, 0, NULL);
    if (o)
        json_array_append_new(((list_ctx *)ctx)->arr, o);
    return 1;
}

void h_templates_list(sgw_req *r)
{
    char tenant[32], prefix[40];
    if (!sgw_req_tenant(r, NULL, tenant))
        return;
    snprintf(prefix, sizeof prefix, "%s/", tenant);
    list_ctx c = { json_array() };
    sgw_store_doc_scan_prefix(r->srv->deps.store, SGW_DOC_TEMPLATE, prefix, collect, &c);
    sgw_reply_json(r, 200, json_pack("{s:o}", "templates", c.arr));
}

void h_templates_get(sgw_req *r)
{
    char tenant[32];
    if (!sgw_req_tenant(r, NULL, tenant))
        return;
    json_t *t = tpl_load(r, tenant);
    if (t)
        sgw_reply_json(r, 200, t);
}

void h_templates_put(sgw_req *r)
{
    json_t *req = sgw_req_json_object(r);
    if (!req)
        return;
    char tenant[32];
    json_t *t = NULL;
    if (!sgw_req_tenant(r, req, tenant))
        goto done;
    pthread_mutex_lock(&tpl_lock);
    if ((t = tpl_load(r, tenant)) && tpl_fields(r, req, t, 0) &&
        !slug_taken(r, tenant, json_string_value(json_object_get(t, "slug")),
                    json_string_value(json_object_get(t, "id")))) {
        json_object_set_new(t, "updatedAt", now_string());
        if (tpl_store(r, tenant, t))
            sgw_reply_json(r, 200, json_incref(t));
    }
    pthread_mutex_unlock(&tpl_lock);
done:
    json_decref(t);
    json_decref(req);
}

void h_templates_delete(sgw_req *r)
{
    char tenant[32], key[96];
    if (!sgw_req_tenant(r, NULL, tenant))
        return;
    json_t *t = tpl_load(r, tenant);
    if (!t)
        return;
    const char *id = json_string_value(json_object_get(t, "id"));
    snprintf(key, sizeof key, "%s/%s", tenant, id ? id : "");
    sgw_doc_op op = { SGW_DOC_TEMPLATE, key, NULL };
    if (sgw_store_docs_write(r->srv->deps.store, &op, 1) != SGW_OK)
        sgw_reply_error(r, 503, "unavailable", "Store unavailable");
    else
        sgw_reply_json(r, 200, json_pack("{s:s, s:b}", "id", id ? id : "", "deleted", 1));
    json_decref(t);
}

void h_templates_render(sgw_req *r)
{
    json_t *req = NULL;
    if (r->body_len > 0 && !(req = sgw_req_json_object(r)))
        return;
    char tenant[32];
    json_t *t = NULL;
    if (!sgw_req_tenant(r, req, tenant) || !(t = tpl_load(r, tenant)))
        goto done;
    json_t *vars = json_object_get(req, "variables");
    if (vars && !json_is_object(vars)) {
        sgw_reply_error(r, 400, "validation_error", "variables must be an object");
        goto done;
    }
    char *out = NULL, bad[SGW_TEMPLATE_NAME_MAX + 1], msg[128];
    sgw_err rv = sgw_template_render(json_string_value(json_object_get(t, "body")), vars, &out,
                                     bad);
    if (rv == SGW_ENOENT || rv == SGW_EINVAL) {
        snprintf(msg, sizeof msg, rv == SGW_ENOENT ? "Missing variable: %s"
                                                   : "Variable %s must be a string or number",
                 bad);
        sgw_reply_error(r, 400, "validation_error", msg);
        goto done;
    }
    sgw_text_info ti;
    if (rv != SGW_OK || sgw_text_analyze(out, strlen(out), &ti) != SGW_OK) {
        free(out);
        sgw_reply_error(r, 500, "internal", "Could not render the template");
        goto done;
    }
    if (ti.code_points < 1 || ti.code_points > TEMPLATE_BODY_MAX) {
        free(out);
        sgw_reply_error(r, 400, "validation_error", "body must be 1-1600 characters");
        goto done;
    }
    sgw_reply_json(r, 200, json_pack("{s:s, s:s, s:i, s:i}", "body", out, "encoding",
                                     sgw_encoding_name(ti.encoding), "segments", ti.segments,
                                     "characters", (int)ti.code_points));
    free(out);
done:
    json_decref(t);
    json_decref(req);
}
