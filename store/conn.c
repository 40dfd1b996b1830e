/*
 * store/conn.c — tenants' provider connections, secrets sealed at rest
 * (store/store.h, "connections").
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/util.h"
#include "store/secret.h"
#include "store/store.h"

/* Every write of a connection document (put, delete, the patches'
 * read-modify-write) takes it: a patch by the RingCentral webhook actor
 * (subscription state) must not bring back a connection deleted meanwhile. */
static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;

static void conn_id(char *out, size_t outsz, const char *tenant, const char *provider)
{
    snprintf(out, outsz, "%s/%s", tenant, provider);
}

sgw_err sgw_store_conn_put(sgw_store *s, const char *tenant, const char *provider,
                           const char *public_json, const char *secret_json)
{
    char id[96];
    conn_id(id, sizeof id, tenant, provider);
    json_t *pub = json_loads(public_json, 0, NULL);
    if (!json_is_object(pub)) {
        json_decref(pub);
        return SGW_EINVAL;
    }
    char *sealed = NULL;
    sgw_err rv = sgw_secret_seal(sgw_store_secret_key(s), id, secret_json, &sealed);
    if (rv != SGW_OK) {
        json_decref(pub);
        return rv;
    }
    json_t *doc = json_pack("{s:s, s:s, s:o, s:s, s:I}", "tenantId", tenant, "provider", provider,
                            "public", pub, "sealed", sealed, "version",
                            (json_int_t)sgw_now_ms());
    free(sealed);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        return SGW_ENOMEM;
    sgw_doc_op op = { SGW_DOC_CONN, id, text };
    pthread_mutex_lock(&conn_lock);
    rv = sgw_store_docs_write(s, &op, 1);
    pthread_mutex_unlock(&conn_lock);
    free(text);
    return rv;
}

sgw_err sgw_store_conn_get(sgw_store *s, const char *tenant, const char *provider,
                           char **public_json, char **secret_json, int64_t *version)
{
    char id[96], *text;
    conn_id(id, sizeof id, tenant, provider);
    sgw_err rv = sgw_store_doc_get(s, SGW_DOC_CONN, id, &text);
    if (rv != SGW_OK)
        return rv;
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    json_t *pub = json_object_get(doc, "public");
    const char *sealed = json_string_value(json_object_get(doc, "sealed"));
    if (!json_is_object(pub) || !sealed) {
        json_decref(doc);
        return SGW_EPROTO;
    }
    char *secret = NULL;
    if (secret_json && (rv = sgw_secret_open(sgw_store_secret_key(s), id, sealed, &secret)) !=
                           SGW_OK) {
        json_decref(doc);
        return rv;
    }
    if (public_json && !(*public_json = json_dumps(pub, JSON_COMPACT))) {
        free(secret);
        json_decref(doc);
        return SGW_ENOMEM;
    }
    if (secret_json)
        *secret_json = secret;
    if (version)
        *version = json_integer_value(json_object_get(doc, "version"));
    json_decref(doc);
    return SGW_OK;
}

sgw_err sgw_store_conn_delete(sgw_store *s, const char *tenant, const char *provider)
{
    char id[96];
    conn_id(id, sizeof id, tenant, provider);
    sgw_doc_op op = { SGW_DOC_CONN, id, NULL };
    pthread_mutex_lock(&conn_lock);
    sgw_err rv = sgw_store_docs_write(s, &op, 1);
    pthread_mutex_unlock(&conn_lock);
    return rv;
}

sgw_err sgw_store_conn_account(sgw_store *s, const char *tenant, const char *provider,
                               char **account_json, int64_t *version)
{
    char *pub = NULL, *sec = NULL;
    sgw_err rv = sgw_store_conn_get(s, tenant, provider, &pub, &sec, version);
    if (rv != SGW_OK)
        return rv;
    json_t *a = json_loads(pub, 0, NULL), *b = json_loads(sec, 0, NULL);
    free(pub);
    if (sec) {
        memset(sec, 0, strlen(sec));
        free(sec);
    }
    rv = SGW_EPROTO;
    if (json_is_object(a) && json_is_object(b) && json_object_update(a, b) == 0) {
        json_object_set_new(a, "tenantId", json_string(tenant));
        *account_json = json_dumps(a, JSON_COMPACT);
        rv = *account_json ? SGW_OK : SGW_ENOMEM;
    }
    json_decref(a);
    json_decref(b);
    return rv;
}

static sgw_err conn_patch(sgw_store *s, const char *tenant, const char *provider,
                          const char *patch_json, int bump);

sgw_err sgw_store_conn_patch_secret(sgw_store *s, const char *tenant, const char *provider,
                                    const char *patch_json)
{
    return conn_patch(s, tenant, provider, patch_json, 0);
}

sgw_err sgw_store_conn_rotate_secret(sgw_store *s, const char *tenant, const char *provider,
                                     const char *patch_json)
{
    return conn_patch(s, tenant, provider, patch_json, 1);
}

static sgw_err conn_patch(sgw_store *s, const char *tenant, const char *provider,
                          const char *patch_json, int bump)
{
    char id[96], *text;
    conn_id(id, sizeof id, tenant, provider);
    /* read-modify-write under conn_lock: a delete (or put) cannot fall
     * between the read and the write and be undone by it */
    pthread_mutex_lock(&conn_lock);
    sgw_err rv = sgw_store_doc_get(s, SGW_DOC_CONN, id, &text);
    if (rv != SGW_OK) {
        pthread_mutex_unlock(&conn_lock);
        return rv;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    const char *sealed = json_string_value(json_object_get(doc, "sealed"));
    char *plain = NULL, *resealed = NULL, *out = NULL;
    json_t *sec = NULL, *patch = json_loads(patch_json, 0, NULL);
    rv = SGW_EPROTO;
    if (sealed && json_is_object(patch) &&
        sgw_secret_open(sgw_store_secret_key(s), id, sealed, &plain) == SGW_OK &&
        (sec = json_loads(plain, 0, NULL)) != NULL && /* (json_is_object evaluates twice) */
        json_is_object(sec) && json_object_update(sec, patch) == 0) {
        char *st = json_dumps(sec, JSON_COMPACT);
        if (st && sgw_secret_seal(sgw_store_secret_key(s), id, st, &resealed) == SGW_OK) {
            json_object_set_new(doc, "sealed", json_string(resealed));
            if (bump) { /* what others derived from the secret is stale */
                json_int_t v = json_integer_value(json_object_get(doc, "version"));
                json_int_t now = (json_int_t)sgw_now_ms();
                json_object_set_new(doc, "version", json_integer(now > v ? now : v + 1));
            }
            out = json_dumps(doc, JSON_COMPACT);
        }
        if (st) {
            memset(st, 0, strlen(st));
            free(st);
        }
        if (out) {
            sgw_doc_op op = { SGW_DOC_CONN, id, out };
            rv = sgw_store_docs_write(s, &op, 1);
        }
    }
    pthread_mutex_unlock(&conn_lock);
    if (plain) {
        memset(plain, 0, strlen(plain));
        free(plain);
    }
    free(resealed);
    free(out);
    json_decref(sec);
    json_decref(patch);
    json_decref(doc);
    return rv;
}

sgw_err sgw_store_conn_version(sgw_store *s, const char *tenant, const char *provider,
                               int64_t *version)
{
    char id[96], *text;
    conn_id(id, sizeof id, tenant, provider);
    sgw_err rv = sgw_store_doc_get(s, SGW_DOC_CONN, id, &text);
    if (rv != SGW_OK)
        return rv;
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    json_t *v = json_object_get(doc, "version");
    rv = json_is_integer(v) ? SGW_OK : SGW_EPROTO;
    *version = json_integer_value(v);
    json_decref(doc);
    return rv;
}
