/*
 * actors/sms/hooked.c — whether an app has a webhook (see hooked.h).
 */
#include "actors/sms/hooked.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sgw_app_webhook(sgw_store *st, const char *app, char **url, char **secret)
{
    char *doc = NULL;
    *url = *secret = NULL;
    if (sgw_store_doc_get(st, SGW_DOC_APP, app, &doc) != SGW_OK)
        return 0;
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    const char *u = json_string_value(json_object_get(o, "webhookUrl"));
    const char *s = json_string_value(json_object_get(o, "webhookSecret"));
    if (u && u[0] && s) {
        *url = strdup(u);
        *secret = strdup(s);
    }
    json_decref(o);
    if (!*url || !*secret) {
        free(*url);
        free(*secret);
        *url = *secret = NULL;
        return 0;
    }
    return 1;
}

int sgw_hooked_has(sgw_hooked *c, sgw_store *st, const char *app)
{
    uint64_t gen = sgw_store_doc_gen(st, SGW_DOC_APP);
    if (gen != c->gen) {
        memset(c->slot, 0, sizeof c->slot);
        c->gen = gen;
    }
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = app; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct sgw_hooked_slot *slot = &c->slot[h % SGW_HOOKED_SLOTS];
    if (slot->id[0] && strcmp(slot->id, app) == 0)
        return slot->has;
    char *url, *secret;
    int has = sgw_app_webhook(st, app, &url, &secret);
    free(url);
    free(secret);
    if (strlen(app) < sizeof slot->id) {
        snprintf(slot->id, sizeof slot->id, "%s", app);
        slot->has = has;
    }
    return has;
}
