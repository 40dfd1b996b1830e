/*
 * store/docs.c — typed look-ups over the JSON documents (tenants, apps,
 * keys) that the actors need. The documents' fields are described in
 * http/README.md's data section, which owns their shape.
 */
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

int sgw_store_tenant_active(sgw_store *s, const char *tenant_id)
{
    char *doc;
    if (sgw_store_doc_get(s, SGW_DOC_TENANT, tenant_id, &doc) != SGW_OK)
        return -1;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    const char *st = json_string_value(json_object_get(o, "status"));
    int active = st && strcmp(st, "active") == 0;
    json_decref(o);
    return active;
}

int sgw_store_tenant_route(sgw_store *s, const char *tenant_id, char (*names)[24], int max,
                           int *n)
{
    *n = 0;
    char *doc;
    if (sgw_store_doc_get(s, SGW_DOC_TENANT, tenant_id, &doc) != SGW_OK)
        return -1;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    const char *st = json_string_value(json_object_get(o, "status"));
    int active = st && strcmp(st, "active") == 0;
    json_t *route = json_object_get(o, "route");
    for (size_t i = 0; json_is_array(route) && i < json_array_size(route) && *n < max; i++) {
        const char *name = json_string_value(json_array_get(route, i));
        if (name && name[0] && strlen(name) < 24)
            snprintf(names[(*n)++], 24, "%s", name);
    }
    json_decref(o);
    return active;
}

typedef struct find_ctx {
    const char *field, *value;
    char *json;
} find_ctx;

static int find_by_field(void *ctx, const char *id, const char *json, size_t len)
{
    (void)id;
    find_ctx *f = ctx;
    json_t *o = json_loadb(json, len, 0, NULL);
    const char *v = json_string_value(json_object_get(o, f->field));
    if (v && strcmp(v, f->value) == 0)
        f->json = strndup(json, len);
    json_decref(o);
    return f->json == NULL;
}

static sgw_err find_doc(sgw_store *s, sgw_doc_kind kind, const char *tenant, const char *field,
                        const char *value, char **json)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s/", tenant);
    find_ctx f = { field, value, NULL };
    sgw_err rv = sgw_store_doc_scan_prefix(s, kind, prefix, find_by_field, &f);
    if (rv != SGW_OK)
        return rv;
    if (!f.json)
        return SGW_ENOENT;
    *json = f.json;
    return SGW_OK;
}

sgw_err sgw_store_template_find(sgw_store *s, const char *tenant, const char *id_or_slug,
                                char **json)
{
    if (strncmp(id_or_slug, "tpl_", 4) == 0) {
        char id[96];
        snprintf(id, sizeof id, "%s/%s", tenant, id_or_slug);
        return sgw_store_doc_get(s, SGW_DOC_TEMPLATE, id, json);
    }
    return find_doc(s, SGW_DOC_TEMPLATE, tenant, "slug", id_or_slug, json);
}

sgw_err sgw_store_sender_id_find(sgw_store *s, const char *tenant, const char *sender_id,
                                 char **json)
{
    return find_doc(s, SGW_DOC_SENDER_ID, tenant, "senderId", sender_id, json);
}
