/*
 * store/store_int.h — internal to store/: what store.c lends the other
 * store files that need RocksDB itself (store/idem.c). Not for use outside
 * store/.
 */
#ifndef SGW_STORE_INT_H
#define SGW_STORE_INT_H

#include <rocksdb/c.h>

#include "store/store.h"

rocksdb_t *sgw_store_db_(sgw_store *s);
rocksdb_column_family_handle_t *sgw_store_cf_idem_(sgw_store *s);
rocksdb_column_family_handle_t *sgw_store_cf_outbox_(sgw_store *s); /* store/outbox.c */
rocksdb_readoptions_t *sgw_store_ropts_(sgw_store *s);
/* Write wb: update 0 follows store.sync (acknowledged writes), 1 follows
 * store.sync_updates (writes whose loss at a power cut is harmless). */
sgw_err sgw_store_write_(sgw_store *s, rocksdb_writebatch_t *wb, int records, int update);

/* ---- store/ledger.c (the lead's; tenants' quota and wallet) ---- */
#include <pthread.h>

#define SGW_LEDGER_STRIPES 64
/* Add new records (and their index and schedule entries) to wb. */
sgw_err sgw_store_put_new_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_sms *const *v, int n);
/* The ledger lock of a stripe (a hash of the tenant id). Taken after any
 * record stripes, never before them. */
pthread_mutex_t *sgw_store_ledger_lock_(sgw_store *s, unsigned stripe);
unsigned sgw_ledger_stripe_(const char *tenant);
/* Add a document put to wb. */
void sgw_store_doc_put_wb_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_doc_kind kind,
                           const char *id, const char *json);

/* 1 if m was charged, has failed or been rejected, and is not refunded. */
int sgw_ledger_refund_due_(const sgw_sms *m);
/* Refunds of an update batch: for the records marked (state[i] & 8), begin
 * locks their tenants' ledger stripes and adds the credits to wb; end
 * (after the write) unlocks. */
typedef struct sgw_ledger_refunds {
    unsigned locked[SGW_LEDGER_STRIPES];
    int nlocked;
    int n;
} sgw_ledger_refunds;
sgw_err sgw_ledger_refunds_begin_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_sms *recs,
                                  const int *state, int n, sgw_ledger_refunds *ref);
void sgw_ledger_refunds_end_(sgw_store *s, sgw_ledger_refunds *ref);

#endif
