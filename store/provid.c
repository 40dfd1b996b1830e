/*
 * store/provid.c — the provider-id index (store.h, "provider ids"): which
 * of our outbound messages a provider's message id names, so a delivery
 * notification that carries only the provider's id (a RingCentral
 * message-store record) finds the message it is about.
 *
 * Column family "provid":
 *   provider "/" provider message id -> our message id
 *
 * Entries are written by sgw_store_sms_update in the same write as the
 * record change that sets the provider message id (a send the provider
 * accepted), so the index never names a record that was not stored.
 * Entries are never removed (messages are not deleted); a key written
 * twice gets the same value.
 */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/log.h"
#include "store/store.h"
#include "store/store_int.h"

#define PROVID_KEY_MAX (24 + 1 + 64)

static int provid_key(char *out, const char *provider, const char *pmid)
{
    int n = snprintf(out, PROVID_KEY_MAX + 1, "%s/%s", provider, pmid);
    return n > 0 && n <= PROVID_KEY_MAX ? n : -1;
}

void sgw_store_provid_put_(sgw_store *s, rocksdb_writebatch_t *wb, const sgw_sms *m)
{
    if (m->direction != SGW_DIR_OUTBOUND || !m->provider[0] || !m->provider_msg_id[0])
        return;
    char key[PROVID_KEY_MAX + 1];
    int n = provid_key(key, m->provider, m->provider_msg_id);
    if (n < 0)
        return;
    rocksdb_writebatch_put_cf(wb, sgw_store_cf_provid_(s), key, (size_t)n, m->id,
                              strlen(m->id));
}

sgw_err sgw_store_provid_get(sgw_store *s, const char *provider, const char *pmid,
                             char id[24])
{
    char key[PROVID_KEY_MAX + 1];
    int n = provid_key(key, provider, pmid);
    if (n < 0 || !provider[0] || !pmid[0])
        return SGW_ENOENT;
    char *err = NULL;
    size_t len = 0;
    char *v = rocksdb_get_cf(sgw_store_db_(s), sgw_store_ropts_(s), sgw_store_cf_provid_(s), key,
                             (size_t)n, &len, &err);
    if (err) {
        sgw_log(SGW_LOG_ERROR, "store", "provid get: %s", err);
        rocksdb_free(err);
        return SGW_EIO;
    }
    if (!v)
        return SGW_ENOENT;
    sgw_err rv = SGW_EPROTO;
    if (len > 0 && len < 24) {
        memcpy(id, v, len);
        id[len] = '\0';
        rv = SGW_OK;
    }
    rocksdb_free(v);
    return rv;
}
