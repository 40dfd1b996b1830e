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
rocksdb_column_family_handle_t *sgw_store_cf_provid_(sgw_store *s); /* store/provid.c */
/* store/provid.c: add m's provider-id index entry (outbound, with a
 * provider message id) to wb. */
void sgw_store_provid_put_(sgw_store *s, rocksdb_writebatch_t *wb, const sgw_sms *m);
rocksdb_readoptions_t *sgw_store_ropts_(sgw_store *s);
/* Write wb: update 0 follows store.sync (acknowledged writes), 1 follows
 * store.sync_updates (writes whose loss at a power cut is harmless). */
sgw_err sgw_store_write_(sgw_store *s, rocksdb_writebatch_t *wb, int records, int update);
/* The same, counted on /metrics as kind (SGW_SW_*; sgw_store_write_ is
 * SGW_SW_OTHER). */
sgw_err sgw_store_write_kind_(sgw_store *s, rocksdb_writebatch_t *wb, int records, int update,
                              int kind);
/* A write with the caller's own options (store/batch.c's staging), timed
 * and counted like the others. */
sgw_err sgw_store_write_opts_(sgw_store *s, rocksdb_writebatch_t *wb, rocksdb_writeoptions_t *wo,
                              int synced, int records, int kind);

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
/* A batch's charge (store/batch.c): debit quota segments and wallet minor
 * units of tenant in month, in wb. SGW_ESTATE (nothing added) when the
 * month changed or either no longer covers it. Holds the tenant's ledger
 * stripe (*stripe) until end, also on failure. */
sgw_err sgw_ledger_debit_begin_(sgw_store *s, rocksdb_writebatch_t *wb, const char *tenant,
                                int month, int64_t quota, int64_t wallet, unsigned *stripe);
void sgw_ledger_debit_end_(sgw_store *s, unsigned stripe);

/* ---- store/batch.c (batches) ---- */
rocksdb_column_family_handle_t *sgw_store_cf_batches_(sgw_store *s);
rocksdb_column_family_handle_t *sgw_store_cf_sms_(sgw_store *s);
/* Add the put of m's record, or of its list-index entry, to wb. */
sgw_err sgw_store_put_record_(sgw_store *s, rocksdb_writebatch_t *wb, const sgw_sms *m);
void sgw_store_put_idx_(sgw_store *s, rocksdb_writebatch_t *wb, const sgw_sms *m);
/* Delete the uploads that never committed (a crash mid-upload); called by
 * sgw_store_open before anything else runs. Returns how many. */
int sgw_store_batch_recover_(sgw_store *s);
/* Batch counters in an update write (sgw_store_sms_update): note each
 * changed record with its status before the change; begin (before the
 * write) locks the batches concerned and adds their new counters to wb;
 * end (after the write) unlocks and frees. Locks are taken after record
 * and ledger stripes. */
typedef struct sgw_batch_tally {
    struct sgw_batch_delta *v;
    int n, cap;
    unsigned *locked;
    int nlocked;
} sgw_batch_tally;
void sgw_batch_tally_note_(sgw_batch_tally *t, int old_status, const sgw_sms *m);
sgw_err sgw_batch_tally_begin_(sgw_store *s, rocksdb_writebatch_t *wb, sgw_batch_tally *t);
void sgw_batch_tally_end_(sgw_batch_tally *t);

#endif
