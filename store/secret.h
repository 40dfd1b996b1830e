/*
 * store/secret.h — sealing secrets at rest (provider credentials and
 * tokens) with AES-256-GCM (OpenSSL).
 *
 * The key is 32 bytes, given as 64 hex digits by the setting `secret_key`
 * or the environment variable SMSGW_SECRET_KEY; when neither is set, a
 * random key is created once in <data_dir>/secret.key (mode 0600) and used
 * from then on. A sealed value is base64 of nonce (12) | ciphertext | tag
 * (16); the associated data (aad) binds it to where it is stored, so a
 * sealed value copied to another record does not open.
 *
 * Thread-safety: a key is read-only after sgw_secret_key_load.
 */
#ifndef SGW_STORE_SECRET_H
#define SGW_STORE_SECRET_H

#include <stddef.h>

#include "bus/cfg.h"
#include "bus/err.h"

typedef struct sgw_secret_key {
    unsigned char k[32];
} sgw_secret_key;

/* From cfg secret_key, else <dir>/secret.key (created if missing). why
 * says what is wrong (a malformed key, an unreadable file). */
sgw_err sgw_secret_key_load(const sgw_cfg *cfg, const char *dir, sgw_secret_key *key, char *why,
                            size_t whysz);
/* Parse 64 hex digits. SGW_EINVAL otherwise. */
sgw_err sgw_secret_key_parse(const char *hex, sgw_secret_key *key);

/* Seal plaintext; *out is a heap base64 string. */
sgw_err sgw_secret_seal(const sgw_secret_key *key, const char *aad, const char *plain,
                        char **out);
/* Open a sealed value; *plain is a heap string. SGW_EPROTO when it does not
 * open (wrong key, wrong aad, tampered). */
sgw_err sgw_secret_open(const sgw_secret_key *key, const char *aad, const char *sealed,
                        char **plain);

#endif
