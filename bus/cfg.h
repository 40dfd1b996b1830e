/*
 * bus/cfg.h — configuration: libconfig, with embedded defaults.
 *
 * Every setting has a default in the embedded text (bus/cfg_defaults.h,
 * the same content as etc/smsgw.cfg). A user file, if given, is checked
 * against it: an unknown setting, a wrong type or a bad value is refused
 * with the file, line and reason. Environment variables override both:
 * SMSGW_LISTEN, SMSGW_DATA_DIR, SMSGW_ADMIN_KEY.
 *
 * Paths are dotted: "actors.sender.threads". Getters fall back to the
 * default, so a missing user setting is never an error. A loaded sgw_cfg is
 * read-only and may be shared between threads.
 */
#ifndef SGW_CFG_H
#define SGW_CFG_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/err.h"

typedef struct sgw_cfg sgw_cfg;

/* Load: defaults, then the file at path (NULL: none), then the environment.
 * On failure returns SGW_ECONFIG and writes "file:line: reason" into why. */
sgw_err sgw_cfg_load(const char *path, sgw_cfg **out, char *why, size_t whysz);
/* Load from a string instead of a file (tests). name is used in messages. */
sgw_err sgw_cfg_load_string(const char *text, const char *name, sgw_cfg **out,
                            char *why, size_t whysz);
void sgw_cfg_destroy(sgw_cfg **cfg);

int64_t sgw_cfg_int(const sgw_cfg *cfg, const char *path);
double sgw_cfg_float(const sgw_cfg *cfg, const char *path);
int sgw_cfg_bool(const sgw_cfg *cfg, const char *path);
/* Borrowed; lives as long as cfg. "" when the setting is an empty string. */
const char *sgw_cfg_str(const sgw_cfg *cfg, const char *path);
/* The effective setting (user's, else default), or NULL. Borrowed. */
const config_setting_t *sgw_cfg_setting(const sgw_cfg *cfg, const char *path);

/* The embedded defaults, as text (what `smsgw config defaults` prints). */
const char *sgw_cfg_defaults_text(void);

#endif
