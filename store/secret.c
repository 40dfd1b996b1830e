#include "store/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus/log.h"
#include "bus/util.h"

#define NONCE_LEN 12
#define TAG_LEN 16

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

sgw_err sgw_secret_key_parse(const char *hex, sgw_secret_key *key)
{
    size_t n = strlen(hex);
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
        n--;
    if (n != 64)
        return SGW_EINVAL;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return SGW_EINVAL;
        key->k[i] = (unsigned char)(hi << 4 | lo);
    }
    return SGW_OK;
}

sgw_err sgw_secret_key_load(const sgw_cfg *cfg, const char *dir, sgw_secret_key *key, char *why,
                            size_t whysz)
{
    const char *given = sgw_cfg_str(cfg, "secret_key");
    if (given && *given) {
        if (sgw_secret_key_parse(given, key) != SGW_OK) {
            snprintf(why, whysz, "secret_key (or SMSGW_SECRET_KEY) must be 64 hex digits");
            return SGW_ECONFIG;
        }
        return SGW_OK;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/secret.key", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char buf[128] = "";
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (sgw_secret_key_parse(buf, key) != SGW_OK) {
            snprintf(why, whysz, "%s: not a key (64 hex digits)", path);
            return SGW_ECONFIG;
        }
        return SGW_OK;
    }
    if (errno != ENOENT) {
        snprintf(why, whysz, "%s: %s", path, strerror(errno));
        return SGW_EIO;
    }
    if (RAND_bytes(key->k, sizeof key->k) != 1) {
        snprintf(why, whysz, "no randomness for a secret key");
        return SGW_EINTERNAL;
    }
    char hex[65];
    sgw_hex(hex, key->k, sizeof key->k);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(why, whysz, "%s: %s", path, strerror(errno));
        return SGW_EIO;
    }
    int ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        snprintf(why, whysz, "%s: cannot write", path);
        return SGW_EIO;
    }
    sgw_log(SGW_LOG_WARN, "store", "created %s: provider secrets are sealed with it; set "
            "secret_key or SMSGW_SECRET_KEY to keep the key apart from the data", path);
    return SGW_OK;
}

sgw_err sgw_secret_seal(const sgw_secret_key *key, const char *aad, const char *plain, char **out)
{
    size_t plen = strlen(plain), raw_len = NONCE_LEN + plen + TAG_LEN;
    unsigned char *raw = malloc(raw_len);
    char *b64 = malloc(4 * ((raw_len + 2) / 3) + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    sgw_err rv = SGW_EINTERNAL;
    int len = 0;
    if (!raw || !b64 || !ctx) {
        rv = SGW_ENOMEM;
        goto done;
    }
    if (RAND_bytes(raw, NONCE_LEN) != 1 ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key->k, raw) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &len, (const unsigned char *)plain, (int)plen) != 1 ||
        EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + plen) != 1)
        goto done;
    EVP_EncodeBlock((unsigned char *)b64, raw, (int)raw_len);
    *out = b64;
    b64 = NULL;
    rv = SGW_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    if (raw)
        OPENSSL_cleanse(raw, raw_len);
    free(raw);
    free(b64);
    return rv;
}

sgw_err sgw_secret_open(const sgw_secret_key *key, const char *aad, const char *sealed,
                        char **plain)
{
    size_t slen = strlen(sealed);
    if (slen == 0 || slen % 4 != 0)
        return SGW_EPROTO;
    unsigned char *raw = malloc(slen / 4 * 3 + 1);
    if (!raw)
        return SGW_ENOMEM;
    int n = EVP_DecodeBlock(raw, (const unsigned char *)sealed, (int)slen);
    /* EVP_DecodeBlock counts the padding as zero bytes */
    if (n > 0 && sealed[slen - 1] == '=')
        n--;
    if (n > 0 && sealed[slen - 2] == '=')
        n--;
    if (n < NONCE_LEN + TAG_LEN) {
        free(raw);
        return SGW_EPROTO;
    }
    int clen = n - NONCE_LEN - TAG_LEN, len = 0;
    char *out = malloc((size_t)clen + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    sgw_err rv = SGW_EPROTO;
    if (!out || !ctx) {
        rv = SGW_ENOMEM;
        goto done;
    }
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key->k, raw) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, (unsigned char *)out, &len, raw + NONCE_LEN, clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + clen) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)out + len, &len) != 1)
        goto done;
    out[clen] = '\0';
    *plain = out;
    out = NULL;
    rv = SGW_OK;
done:
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    if (out) {
        OPENSSL_cleanse(out, (size_t)clen + 1);
        free(out);
    }
    return rv;
}
