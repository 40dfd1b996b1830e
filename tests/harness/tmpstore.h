/*
 * tmpstore.h — a real store in a temporary folder, for the unit tests and
 * fuzz targets that need one.
 *
 *     static char dir[64];
 *     static sgw_cfg *cfg;
 *     sgw_store *s = sgw_tmpstore_open(dir, sizeof dir, "idem", "always", &cfg);
 *     ...                                     (sgw_tmpstore_reopen: same folder)
 *     sgw_tmpstore_remove(dir, &s);           (closes it, removes the folder)
 *
 * The config (store.sync as given) is loaded once into *cfg; the caller
 * destroys it. A failure is printed and gives NULL.
 */
#ifndef SGW_TMPSTORE_H
#define SGW_TMPSTORE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bus/cfg.h"
#include "store/store.h"

/* Open the store in the folder dir names (a new one, or the one before). */
static inline sgw_store *sgw_tmpstore_reopen(const char *dir, const char *sync, sgw_cfg **cfg)
{
    char why[256] = "", text[64];
    snprintf(text, sizeof text, "store = { sync = \"%s\"; };", sync);
    if (!*cfg && sgw_cfg_load_string(text, "tmpstore", cfg, why, sizeof why) != SGW_OK) {
        fprintf(stderr, "tmpstore config: %s\n", why);
        return NULL;
    }
    sgw_store *s = NULL;
    if (sgw_store_open(dir, *cfg, &s, why, sizeof why) != SGW_OK)
        fprintf(stderr, "tmpstore open %s: %s\n", dir, why);
    return s;
}

/* A new folder /tmp/sgw_<who>.XXXXXX (its name into dir) and a store in it. */
static inline sgw_store *sgw_tmpstore_open(char *dir, size_t dirsz, const char *who,
                                           const char *sync, sgw_cfg **cfg)
{
    snprintf(dir, dirsz, "/tmp/sgw_%s.XXXXXX", who);
    if (!mkdtemp(dir)) {
        perror("tmpstore mkdtemp");
        return NULL;
    }
    return sgw_tmpstore_reopen(dir, sync, cfg);
}

/* Remove the folder (after closing *s, if open). */
static inline void sgw_tmpstore_remove(const char *dir, sgw_store **s)
{
    if (s)
        sgw_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#endif
