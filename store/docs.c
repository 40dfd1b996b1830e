/*
 * store/docs.c — typed look-ups over the JSON documents (tenants, apps,
 * keys) that the actors need. The documents' fields are described in
 * http/README.md's data section, which owns their shape.
 */
#include <jansson.h>
#include <stdlib.h>
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
