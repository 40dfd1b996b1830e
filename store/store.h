/*
 * store/store.h — smsgw's durable state, in RocksDB. The only module that
 * knows RocksDB; everything else calls this API.
 *
 * Column families (keyspaces):
 *   sms       msg id -> message record (store/sms.h)
 *   sms_idx   tenant "/" be64(~created_ms) msg id -> "" : newest-first lists
 *   sched     be64(due_ms) msg id -> kind byte : the time-ordered schedule,
 *             kept equal to each record's (due_ms, due_kind) by this module
 *   tenants, apps, keys   id -> JSON document (keys: sha256(api key) hex)
 *   conns     tenant "/" provider -> connection document, secrets sealed
 *   templates, sender_ids   tenant "/" id -> JSON document
 *   idem      Idempotency-Key records (store/idem.c)
 *   outbox    app webhook deliveries, per app in order (store/outbox.c)
 *   provid    provider "/" provider message id -> msg id (store/provid.c)
 *   batches   batch uploads, documents, counters, members (store/batch.c)
 *
 * Durability: with sync "always" every insert and document write returns
 * after its WAL fsync (RocksDB joins concurrent writers into one group
 * commit); updates of existing records (status changes) are fsynced too
 * only with store.sync_updates, else written to the WAL at once and synced
 * every store.sync_interval_ms. "batch" syncs the WAL every
 * sync_interval_ms from a background thread; "none" leaves it to the OS.
 * Every write reaches the WAL before it returns, so all survive kill -9.
 *
 * Thread-safety: every function may be called from any thread. Updates of
 * existing records take striped locks (ordered, so batches never deadlock)
 * around read-modify-write; inserts of new records take none.
 */
#ifndef SGW_STORE_H
#define SGW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "bus/cfg.h"
#include "bus/err.h"
#include "store/sms.h"

typedef struct sgw_store sgw_store;

/* Open (creating if needed) the store in dir. why gets RocksDB's reason. */
sgw_err sgw_store_open(const char *dir, const sgw_cfg *cfg, sgw_store **out, char *why,
                       size_t whysz);
/* Sync the WAL and close. NULL-safe. */
void sgw_store_close(sgw_store **s);
/* Sync the WAL now (drain, and the "batch" policy's thread). */
sgw_err sgw_store_sync(sgw_store *s);

/* ---------------------------------------------------------------- messages */

/* Store n new records (and their index and schedule entries) in one write.
 * SGW_EEXIST (nothing written) if any id is already stored. */
sgw_err sgw_store_sms_insert(sgw_store *s, sgw_sms *const *v, int n);
/* SGW_ENOENT if absent. out must be cleared by the caller after use. */
sgw_err sgw_store_sms_get(sgw_store *s, const char *id, sgw_sms *out);
int sgw_store_sms_exists(sgw_store *s, const char *id);

/* Read-modify-write of n records in one write: fn is called for each
 * stored record (under its lock) with i its index in ids; it returns 1 to
 * write the changed record, 0 to leave it. Absent ids are skipped, with
 * SGW_ENOENT in found[i] (found may be NULL). The schedule entry follows
 * the record's (due_ms, due_kind). */
typedef int (*sgw_sms_mutate_fn)(sgw_sms *sms, void *ctx, int i);
sgw_err sgw_store_sms_update(sgw_store *s, const char *const *ids, int n, sgw_sms_mutate_fn fn,
                             void *ctx, sgw_err *found);

typedef struct sgw_sms_query {
    const char *tenant;   /* required */
    const char *app;      /* only this app's outbound messages; NULL: all */
    int direction;        /* SGW_DIR_*, or -1 for both */
    int status;           /* sgw_status or -1 */
    const char *user_id, *from, *to; /* NULL: any */
    const char *cursor;   /* from a previous answer, or NULL */
    int limit;            /* 1..1000 */
} sgw_sms_query;

#define SGW_CURSOR_LEN 48
/* Newest first. *out is an array of *n records (free each with
 * sgw_sms_clear, then free the array). next gets the cursor of the next
 * page, or "" when there is none. SGW_EINVAL for a malformed cursor. */
sgw_err sgw_store_sms_list(sgw_store *s, const sgw_sms_query *q, sgw_sms **out, int *n,
                           char next[SGW_CURSOR_LEN + 1]);

/* ---------------------------------------------------------------- schedule */

/* Call fn for schedule entries with due_ms <= upto, in (due, id) order,
 * starting after position (after_due, after_id) when after_id is not NULL,
 * at most max of them. Returns how many. */
typedef void (*sgw_due_fn)(void *ctx, const char *id, int64_t due_ms, int kind);
int sgw_store_sched_scan(sgw_store *s, int64_t after_due, const char *after_id, int64_t upto,
                         int max, sgw_due_fn fn, void *ctx);
/* The earliest due time, or -1 when the schedule is empty. */
int64_t sgw_store_sched_next(sgw_store *s);

/* ---------------------------------------------------------------- documents */

typedef enum {
    SGW_DOC_TENANT = 0,
    SGW_DOC_APP,
    SGW_DOC_KEY,
    SGW_DOC_META,
    SGW_DOC_CONN,   /* provider connections: see sgw_store_conn_put */
    SGW_DOC_TEMPLATE,  /* tenant "/" template id -> template (http/h_templates.c) */
    SGW_DOC_SENDER_ID, /* tenant "/" sender-id id -> sender ID (http/h_senderids.c) */
    SGW_DOC_MAX
} sgw_doc_kind;

/* One put (json != NULL) or delete (json == NULL) of a write. */
typedef struct sgw_doc_op {
    sgw_doc_kind kind;
    const char *id;
    const char *json;
} sgw_doc_op;

/* Apply the n operations atomically, durably. */
sgw_err sgw_store_docs_write(sgw_store *s, const sgw_doc_op *ops, int n);
/* A number that changes after every sgw_store_docs_write of a document of
 * this kind (in this process): a cache of documents read after seeing
 * generation g is stale once this differs from g. (The ledger's own tenant
 * and usage writes do not count: do not cache those kinds with it.) */
uint64_t sgw_store_doc_gen(sgw_store *s, sgw_doc_kind kind);
/* *json is a heap string (free it). SGW_ENOENT if absent. */
sgw_err sgw_store_doc_get(sgw_store *s, sgw_doc_kind kind, const char *id, char **json);
/* Every document of a kind in id order; fn returns 0 to stop. */
typedef int (*sgw_doc_fn)(void *ctx, const char *id, const char *json, size_t len);
sgw_err sgw_store_doc_scan(sgw_store *s, sgw_doc_kind kind, sgw_doc_fn fn, void *ctx);
/* Only the documents whose id starts with prefix (e.g. "tenant_…/"). */
sgw_err sgw_store_doc_scan_prefix(sgw_store *s, sgw_doc_kind kind, const char *prefix,
                                  sgw_doc_fn fn, void *ctx);

/* Store write latency and batch sizes, for /metrics: totals, and per kind
 * of write and whether it was fsynced, a histogram of its time (seconds,
 * upper bounds sgw_store_lat_le) and one of its records per write (upper
 * bounds sgw_store_size_le; the last bucket of each is +Inf). */
/* sms_new: accepted messages (and their charge); sms_update: status changes;
 * doc: tenants, apps, keys...; idem: idempotency claims and answers; outbox:
 * webhook deliveries; batch_stage: a batch's upload (not fsynced; the commit
 * covers it); batch_commit: a batch's acceptance; batch_progress: its
 * release and list index; other: the rest. */
enum { SGW_SW_OTHER = 0, SGW_SW_SMS_NEW, SGW_SW_SMS_UPDATE, SGW_SW_DOC, SGW_SW_IDEM,
       SGW_SW_OUTBOX, SGW_SW_BATCH_STAGE, SGW_SW_BATCH_COMMIT, SGW_SW_BATCH_PROGRESS,
       SGW_SW_MAX };
#define SGW_STORE_LAT_BUCKETS 13
#define SGW_STORE_SIZE_BUCKETS 14
extern const char *const sgw_store_lat_le[SGW_STORE_LAT_BUCKETS];
extern const char *const sgw_store_size_le[SGW_STORE_SIZE_BUCKETS];
const char *sgw_store_wkind_name(int kind);
typedef struct sgw_store_wstats {
    uint64_t writes, us_sum, records;
    uint64_t lat[SGW_STORE_LAT_BUCKETS];   /* not cumulative */
    uint64_t size[SGW_STORE_SIZE_BUCKETS]; /* not cumulative */
} sgw_store_wstats;
typedef struct sgw_store_stats {
    uint64_t writes, write_us_sum, records_written;
    sgw_store_wstats by[SGW_SW_MAX][2]; /* [kind][fsynced] */
} sgw_store_stats;
void sgw_store_get_stats(sgw_store *s, sgw_store_stats *out);


/* ---------------------------------------------------------------- tenants */

/* 1 if the tenant exists and its status is "active", 0 if it exists and is
 * not, -1 if there is no such tenant. */
int sgw_store_tenant_active(sgw_store *s, const char *tenant_id);
/* The same, and the tenant's own provider route (its document's "route",
 * PUT /v1/tenants/:id/route): up to max names of at most 23 characters in
 * names[], *n = 0 when the tenant has none (the configured default). */
int sgw_store_tenant_route(sgw_store *s, const char *tenant_id, char (*names)[24], int max,
                           int *n);

/* ---------------------------------------------------------------- the ledger (store/ledger.c) */

/* Store n new records in one write, charging each live record's tenant:
 * its segments from the month's quota while it lasts, the rest at
 * unit_price[i] minor units each from the wallet (the charge is kept on
 * the record). paid[i] = 0 for a record neither covers: it is not stored.
 * Test records are never charged. */
sgw_err sgw_store_sms_insert_charged(sgw_store *s, sgw_sms *const *v, const int64_t *unit_price,
                                     int n, int *paid);
/* Read-modify-write of a tenant document under the tenant's ledger lock:
 * fn gets the stored JSON and returns the new one (heap) or NULL to leave
 * it (then SGW_EINVAL). *json_out (if not NULL) gets the written text. */
typedef char *(*sgw_tenant_fn)(void *ctx, const char *json);
sgw_err sgw_store_tenant_update(sgw_store *s, const char *tenant, sgw_tenant_fn fn, void *ctx,
                                char **json_out);
/* The month (yyyymm, UTC) and the quota segments used in it. */
sgw_err sgw_store_tenant_usage(sgw_store *s, const char *tenant, int *month, int *quota_used);
/* yyyymm (UTC) of a wall time in ms. */
int sgw_ledger_month(int64_t ms);
/* One message's charge: its segments from *quota_left while it lasts, the
 * rest at unit minor units each from *wallet; both are decreased and the
 * split returned in *q and *w. 0 (nothing changed) when they cannot cover
 * it. Pure. */
int sgw_ledger_charge_one(int64_t *quota_left, int64_t *wallet, int segments, int64_t unit,
                          int *q, int64_t *w);
/* A tenant's month (yyyymm, UTC), quota segments left in it and wallet,
 * as they are now. */
sgw_err sgw_store_tenant_balance(sgw_store *s, const char *tenant, int *month,
                                 int64_t *quota_left, int64_t *wallet);

/* ---------------------------------------------------------------- templates, sender IDs */

/* A tenant's template by id (tpl_…) or slug: *json a heap string.
 * SGW_ENOENT if there is none. */
sgw_err sgw_store_template_find(sgw_store *s, const char *tenant, const char *id_or_slug,
                                char **json);
/* A tenant's sender ID by its text (e.g. "ACME"), exact match. */
sgw_err sgw_store_sender_id_find(sgw_store *s, const char *tenant, const char *sender_id,
                                 char **json);

/* ---------------------------------------------------------------- connections */

/* A tenant's connection to a provider (SPEC section 10): a public JSON
 * object (shown to admins: server URL, client id, account id, ...) and a
 * secret JSON object (client secret, JWT, tokens) sealed with AES-256-GCM
 * under the store's key (store/secret.h), bound to (tenant, provider).
 * Stored as {"tenantId", "provider", "public", "sealed", "version"}, where
 * version is the wall ms of the write: it changes whenever the connection
 * is replaced, so caches know to drop what they derived from it. */
sgw_err sgw_store_conn_put(sgw_store *s, const char *tenant, const char *provider,
                           const char *public_json, const char *secret_json);
/* Heap strings into the non-NULL out pointers. SGW_ENOENT if absent,
 * SGW_EPROTO if the secret does not open (another key). */
sgw_err sgw_store_conn_get(sgw_store *s, const char *tenant, const char *provider,
                           char **public_json, char **secret_json, int64_t *version);
sgw_err sgw_store_conn_delete(sgw_store *s, const char *tenant, const char *provider);
/* Merge patch's fields into the connection's secret part (a provider's
 * rotated refresh token), keeping its version: what was derived from the
 * connection stays valid. SGW_ENOENT if it is gone (disconnected). */
sgw_err sgw_store_conn_patch_secret(sgw_store *s, const char *tenant, const char *provider,
                                    const char *patch_json);
/* The same, and the version changes: for a secret rotated by someone that
 * others hold a copy of (an OAuth refresh token used by the RingCentral
 * webhook keeper, actors/rcwebhook.c): their caches reload it. */
sgw_err sgw_store_conn_rotate_secret(sgw_store *s, const char *tenant, const char *provider,
                                     const char *patch_json);
/* The connection's version only (cheap: nothing is opened). SGW_ENOENT if
 * there is none. */
sgw_err sgw_store_conn_version(sgw_store *s, const char *tenant, const char *provider,
                               int64_t *version);
/* The public and secret parts merged into one object: what an adapter is
 * given (transport/transport.h's account). */
sgw_err sgw_store_conn_account(sgw_store *s, const char *tenant, const char *provider,
                               char **account_json, int64_t *version);
/* The key secrets are sealed with (borrowed). */
const struct sgw_secret_key *sgw_store_secret_key(sgw_store *s);


/* ======================================================== idempotency (store/idem.c)
 * Idempotency-Key records (SPEC section 4), in the column family "idem":
 *   "K" id                  -> the record (JSON)
 *   "E" be64(expires_ms) id -> "" : expiry order, for the bounded purge
 * id is opaque to the store (the HTTP side passes a hex SHA-256 of scope,
 * endpoint and key; at most 128 bytes). A record is either a claim
 * (PENDING: a request with this key is, or was when the process died,
 * under way) or the answer to replay (DONE). Puts and deletes follow
 * store.sync like every acknowledged write: a put has reached the disk
 * when it returns. Expired records are never returned (lazy expiry);
 * sgw_store_idem_purge deletes them in bounded steps. */

enum { SGW_IDEM_PENDING = 1, SGW_IDEM_DONE = 2 };

typedef struct sgw_idem_rec {
    int state;               /* SGW_IDEM_PENDING or SGW_IDEM_DONE */
    char req_hash[65];       /* SHA-256 hex of the request body */
    char tenant[32], app[32];/* who claimed it (for crash recovery) */
    int64_t created_ms;      /* wall ms of the claim */
    int64_t expires_ms;      /* not returned from this wall ms on */
    int status;              /* DONE: the answer's HTTP status */
    char *body;              /* DONE: the answer's body (heap), else NULL */
    size_t body_len;
    char *headers;           /* DONE: extra header lines to replay (heap) or NULL */
    char ref[48];            /* what the request makes, named before it does
                                (a batch id), for crash recovery; "" if none */
} sgw_idem_rec;

/* Free the heap parts and zero the record. NULL-safe. */
void sgw_idem_rec_clear(sgw_idem_rec *r);
/* The live record of id into out (clear it after use): SGW_ENOENT if
 * absent or expired at now_ms. */
sgw_err sgw_store_idem_get(sgw_store *s, const char *id, int64_t now_ms, sgw_idem_rec *out);
/* Store (create or replace) the record of id, durably. Replacing keeps
 * expiry entries consistent when expires_ms is unchanged; a replaced
 * record with another expires_ms leaves a stale expiry entry the purge
 * skips. */
sgw_err sgw_store_idem_put(sgw_store *s, const char *id, const sgw_idem_rec *r);
/* Delete the record of id (and its expiry entry at expires_ms). */
sgw_err sgw_store_idem_delete(sgw_store *s, const char *id, int64_t expires_ms);
/* Delete at most max records expired at now_ms, oldest first. Returns how
 * many expiry entries were removed (< max: nothing more to purge now). */
int sgw_store_idem_purge(sgw_store *s, int64_t now_ms, int max);
/* ======================================================== end idempotency */

/* ======================================================== provider ids (store/provid.c)
 * Our outbound message that a provider's message id names (written with
 * the record change that sets it: sgw_store_sms_update). SGW_ENOENT if
 * none. */
sgw_err sgw_store_provid_get(sgw_store *s, const char *provider, const char *pmid,
                             char id[24]);
/* ======================================================== end provider ids */

/* ======================================================== webhook outbox (store/outbox.c)
 * App webhook deliveries (SPEC section 9), in the column family "outbox":
 *   "S" app                 -> be64 the app's last sequence number
 *   "E" app "/" be64(seq)   -> a pending delivery (JSON): per app, in order
 *   "D" app "/" id          -> a dead-lettered delivery (JSON)
 * Adds follow store.sync (fsynced); progress (attempts, delivered, dead)
 * follows store.sync_updates: a power cut may repeat a delivery, never
 * lose one. Sequence numbers are taken under one process-wide lock. */
typedef struct sgw_wh_entry {
    char id[40];             /* dlv_ + 24 hex */
    char app[32];
    uint64_t seq;            /* order within the app; set by add */
    char event[16];          /* sms_status, sms_inbound, test */
    char *body;              /* the JSON body sent (heap) */
    int attempts;
    char last_error[256];
    int64_t created_ms;      /* wall ms it was queued (again, if replayed) */
    int64_t next_ms;         /* wall ms of its next attempt (0: at once) */
    int64_t dead_ms;         /* wall ms it was dead-lettered, else 0 */
} sgw_wh_entry;
void sgw_wh_entry_clear(sgw_wh_entry *e);
/* Queue n entries (each at the end of its app's queue: seq is set) in one
 * durable write. */
sgw_err sgw_store_outbox_add(sgw_store *s, sgw_wh_entry *const *v, int n);
/* The first pending entry of app with seq >= from_seq into out (clear it):
 * SGW_ENOENT if none. from_seq: the seq of the head last read (0: unknown);
 * entries before it are gone, and seeking past their deletions keeps the
 * look-up from stepping over every entry delivered since the last
 * compaction. */
sgw_err sgw_store_outbox_head(sgw_store *s, const char *app, uint64_t from_seq,
                              sgw_wh_entry *out);
/* A failed attempt: store e's attempts, last_error and next_ms. */
sgw_err sgw_store_outbox_retry(sgw_store *s, const sgw_wh_entry *e);
/* Delivered: delete the pending entry. */
sgw_err sgw_store_outbox_done(sgw_store *s, const sgw_wh_entry *e);
/* Dead-letter: the pending entry moves to the dead list (e->dead_ms set). */
sgw_err sgw_store_outbox_kill(sgw_store *s, sgw_wh_entry *e);
/* Every app that has (or had) entries; fn returns 0 to stop. The first
 * call of the process also counts the pending entries (the depth of
 * sgw_store_outbox_stats). */
sgw_err sgw_store_outbox_apps(sgw_store *s, int (*fn)(void *ctx, const char *app), void *ctx);
/* The app's dead entries (id order), at most max; fn gets each. */
sgw_err sgw_store_outbox_dead(sgw_store *s, const char *app, int max,
                              void (*fn)(void *ctx, const sgw_wh_entry *e), void *ctx);
/* Queue a dead entry again (at the end, attempts 0, created now):
 * SGW_ENOENT if app has no dead entry id. */
sgw_err sgw_store_outbox_replay(sgw_store *s, const char *app, const char *id);
/* Process-wide counters, for /metrics. */
typedef struct sgw_outbox_stats {
    int64_t depth;           /* pending entries */
    uint64_t delivered, failed, dead;  /* failed: attempts that failed */
} sgw_outbox_stats;
void sgw_store_outbox_stats(sgw_outbox_stats *out);
/* ======================================================== end webhook outbox */

/* ======================================================== batches (store/batch.c)
 * Batches (SPEC section 5), in the column family "batches":
 *   "P" id               -> an upload under way (its tenant): removed by its
 *                           commit or abort, and at open (a crash mid-upload)
 *   "R" id               -> release cursor: next to release, size, due ms, next
 *                           to list, created ms, tenant (store/batch.c)
 *   id "/D"              -> the batch document (JSON), written by the commit
 *   id "/C"              -> counters: be64 out, processed, cost, mtime
 *   id "/M" be64(seq)    -> message id: the batch's messages, in request order
 *   id "/S" be64(seq)    -> staged recipient (upload pass 1): be32 message index + to
 *   id "/T" be64(index)  -> staged text of message index (upload pass 1)
 *
 * An upload is staged, then committed in ONE write (or removed):
 *   1. stage: every recipient as the body streams in (S and T entries, in
 *      writes of `chunk` entries; the P marker with the first);
 *   2. add: the body is whole and valid: each accepted recipient becomes a
 *      message record (CF sms, no list-index or schedule entry: nothing
 *      finds it) and an M entry, again in chunks;
 *   3. commit: one durable write: the document, counters and release
 *      cursor, the tenant's charge, and the removal of P, S and T. Only now
 *      does the batch exist.
 * Until 3, nothing of the batch is visible or scheduled; an abort (or, after
 * a crash, sgw_store_open) deletes what 1 and 2 wrote. Stage and add writes
 * are not fsynced: the commit's fsync (store.sync) covers them, as the WAL
 * is one sequence.
 *
 * Release (the scheduler): a committed batch's messages first get their
 * list-index entries (GET /v1/sms), a page at a time, at once; then, once
 * its due time (sendAt, or the commit) has come, they enter the pipeline a
 * page at a time, in order, while fewer than `window` of them are
 * released and not yet sent or finished: each page is leased (the normal
 * recovery path from then on) and handed to the scheduler.
 *
 * Counters: sgw_store_sms_update keeps each batch's counters (messages
 * sent or finished, messages finished, their cost, last change) in the
 * same write as its messages' status changes, under a per-batch lock. */
#define SGW_BATCH_ID_LEN 22   /* "batch_" + 16 hex */
typedef struct sgw_batch_up sgw_batch_up;

/* A new upload for tenant (nothing written yet); id gets the batch id.
 * chunk: entries per write. */
sgw_err sgw_store_batch_up_new(sgw_store *s, const char *tenant, int chunk, sgw_batch_up **out,
                               char id[SGW_BATCH_ID_LEN + 1]);
/* Stage recipient `to` (len bytes) of message msg_index (from 1). */
sgw_err sgw_store_batch_stage(sgw_batch_up *u, uint32_t msg_index, const char *to, size_t len);
/* Stage the text of message msg_index. */
sgw_err sgw_store_batch_stage_text(sgw_batch_up *u, uint32_t msg_index, const char *text,
                                   size_t len);
/* Every staged recipient in order: seq from 1, the message's own text
 * (NULL: none; text_len bytes). fn returns 0 to stop (then SGW_ECLOSED). */
typedef int (*sgw_batch_staged_fn)(void *ctx, uint64_t seq, uint32_t msg_index, const char *to,
                                   size_t to_len, const char *text, size_t text_len);
sgw_err sgw_store_batch_staged_scan(sgw_batch_up *u, sgw_batch_staged_fn fn, void *ctx);
/* Add an accepted message: its id (unique) and batch_id are set here. */
sgw_err sgw_store_batch_add(sgw_batch_up *u, sgw_sms *rec);
/* The charge of a live batch: quota segments and wallet minor units, taken
 * in the commit write from the tenant of month (yyyymm) if both are still
 * there (else SGW_ESTATE and nothing is written). */
typedef struct sgw_batch_charge {
    int month;
    int64_t quota, wallet;
} sgw_batch_charge;
/* Commit: doc_json is the batch document; due_ms when its release may
 * begin. charge may be NULL (test keys). */
sgw_err sgw_store_batch_commit(sgw_batch_up *u, const char *doc_json, int64_t created_ms,
                               int64_t due_ms, const sgw_batch_charge *charge);
/* Free the upload; if it did not commit, delete everything it wrote.
 * NULL-safe. */
void sgw_store_batch_up_destroy(sgw_batch_up **u);

/* A committed batch: *json its document (heap). SGW_ENOENT if none. */
typedef struct sgw_batch_counts {
    int64_t out, processed, cost, mtime_ms;
} sgw_batch_counts;
sgw_err sgw_store_batch_get(sgw_store *s, const char *id, char **json, sgw_batch_counts *c);
/* The batch's messages from position `after` (0: the first), at most max:
 * fn gets each id; *next is the position after the last one given, or 0
 * when there are no more. */
/* A tenant's committed batches, newest first (of app only, unless NULL):
 * from after cursor (NULL or "": the newest), at most max; fn gets each id;
 * next is the cursor of the following page, "" when there is none.
 * SGW_EINVAL: a malformed cursor. */
#define SGW_BATCH_CURSOR_LEN (16 + SGW_BATCH_ID_LEN)
sgw_err sgw_store_batch_list(sgw_store *s, const char *tenant, const char *app,
                             const char *cursor, int max, void (*fn)(void *ctx, const char *id),
                             void *ctx, char next[SGW_BATCH_CURSOR_LEN + 1]);
sgw_err sgw_store_batch_members(sgw_store *s, const char *id, uint64_t after, int max,
                                void (*fn)(void *ctx, const char *msg_id), void *ctx,
                                uint64_t *next);
/* The scheduler's step: release at most page messages of each due batch
 * (window as above): each record released is given to fn (borrowed) after
 * the writes. Returns how many members it went past (0: nothing to do
 * now). */
typedef void (*sgw_batch_release_fn)(void *ctx, const sgw_sms *rec);
int sgw_store_batch_release(sgw_store *s, int64_t now_ms, int64_t lease_ms, int page, int window,
                            sgw_batch_release_fn fn, void *ctx);
/* ======================================================== end batches */

#endif
