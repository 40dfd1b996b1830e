#include "bus/cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_defaults.h"

struct sgw_cfg {
    config_t defaults;
    config_t user;
};

const char *sgw_cfg_defaults_text(void) { return sgw_cfg_defaults_; }

static int cfg_type_compatible(int user_type, int def_type)
{
    if (user_type == def_type)
        return 1;
    /* an integer where a float is expected is fine; int vs int64 too */
    if (def_type == CONFIG_TYPE_FLOAT &&
        (user_type == CONFIG_TYPE_INT || user_type == CONFIG_TYPE_INT64))
        return 1;
    if ((def_type == CONFIG_TYPE_INT || def_type == CONFIG_TYPE_INT64) &&
        (user_type == CONFIG_TYPE_INT || user_type == CONFIG_TYPE_INT64))
        return 1;
    return 0;
}

static const char *cfg_type_name(int t)
{
    switch (t) {
    case CONFIG_TYPE_GROUP: return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a number";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "true or false";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    default: return "unknown";
    }
}

static void cfg_path(const config_setting_t *s, char *out, size_t outsz)
{
    const config_setting_t *chain[32];
    int n = 0;
    for (; s && config_setting_name(s) && n < 32; s = config_setting_parent(s))
        chain[n++] = s;
    out[0] = '\0';
    size_t len = 0;
    while (n-- > 0 && len < outsz) {
        len += (size_t)snprintf(out + len, outsz - len, "%s%s", len ? "." : "",
                                config_setting_name(chain[n]));
    }
}

/* Walk the user's tree; every setting must exist in the defaults with a
 * compatible type. Arrays' elements must match the default's element type. */
static sgw_err cfg_check_tree(const config_setting_t *user, const config_setting_t *def,
                              const char *file, char *why, size_t whysz)
{
    int n = config_setting_length(user);
    for (int i = 0; i < n; i++) {
        config_setting_t *u = config_setting_get_elem(user, (unsigned)i);
        const char *name = config_setting_name(u);
        char path[256];
        cfg_path(u, path, sizeof path);
        config_setting_t *d = name ? config_setting_get_member(def, name) : NULL;
        if (!d) {
            snprintf(why, whysz, "%s:%d: unknown setting '%s'", file,
                     config_setting_source_line(u), path);
            return SGW_ECONFIG;
        }
        if (!cfg_type_compatible(config_setting_type(u), config_setting_type(d))) {
            snprintf(why, whysz, "%s:%d: '%s' must be %s", file, config_setting_source_line(u),
                     path, cfg_type_name(config_setting_type(d)));
            return SGW_ECONFIG;
        }
        if (config_setting_is_group(u)) {
            sgw_err rv = cfg_check_tree(u, d, file, why, whysz);
            if (rv != SGW_OK)
                return rv;
        } else if (config_setting_is_aggregate(u) && config_setting_length(d) > 0) {
            int want = config_setting_type(config_setting_get_elem(d, 0));
            for (int j = 0; j < config_setting_length(u); j++) {
                int got = config_setting_type(config_setting_get_elem(u, (unsigned)j));
                if (!cfg_type_compatible(got, want)) {
                    snprintf(why, whysz, "%s:%d: every element of '%s' must be %s", file,
                             config_setting_source_line(u), path, cfg_type_name(want));
                    return SGW_ECONFIG;
                }
            }
        }
    }
    return SGW_OK;
}

/* Value rules that types alone do not express. */
static sgw_err cfg_check_values(const sgw_cfg *cfg, const char *file, char *why, size_t whysz)
{
    static const struct { const char *path; const char *const choices[5]; } enums[] = {
        { "store.sync", { "always", "batch", "none", NULL } },
        { "log.level", { "error", "warn", "info", "debug", NULL } },
        { "log.format", { "text", "json", NULL } },
    };
    for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
        const char *v = sgw_cfg_str(cfg, enums[i].path);
        int ok = 0;
        for (int j = 0; enums[i].choices[j]; j++)
            ok |= strcmp(v, enums[i].choices[j]) == 0;
        if (!ok) {
            const config_setting_t *s = config_lookup(&cfg->user, enums[i].path);
            snprintf(why, whysz, "%s:%d: '%s' must be one of %s, %s%s%s (got \"%s\")", file,
                     s ? config_setting_source_line(s) : 0, enums[i].path,
                     enums[i].choices[0], enums[i].choices[1],
                     enums[i].choices[2] ? ", ..." : "", "", v);
            return SGW_ECONFIG;
        }
    }
    /* every integer setting is a count, size or duration: none may be
     * negative, and thread counts and queue bounds must be positive */
    static const char *const positive[] = { "http.threads", "http.max_body_bytes",
        "http.request_timeout_ms", "actors.ingress.threads", "actors.validator.threads",
        "actors.scheduler.threads", "actors.ratelimit.threads", "actors.sender.threads",
        "actors.status.threads", "limits.key_window_s", "limits.from_window_s",
        "limits.from_per_window", "actors.scheduler.tick_ms", NULL };
    for (int i = 0; positive[i]; i++) {
        if (sgw_cfg_int(cfg, positive[i]) <= 0) {
            const config_setting_t *s = config_lookup(&cfg->user, positive[i]);
            snprintf(why, whysz, "%s:%d: '%s' must be greater than 0", file,
                     s ? config_setting_source_line(s) : 0, positive[i]);
            return SGW_ECONFIG;
        }
    }
    const char *listen = sgw_cfg_str(cfg, "listen");
    const char *colon = strrchr(listen, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (!colon || colon == listen || port <= 0 || port > 65535) {
        snprintf(why, whysz, "%s: 'listen' must be host:port (got \"%s\")", file, listen);
        return SGW_ECONFIG;
    }
    return SGW_OK;
}

static void cfg_env_override(config_t *user, const char *path, const char *env)
{
    const char *v = getenv(env);
    if (!v || !*v)
        return;
    config_setting_t *s = config_lookup(user, path);
    if (!s)
        s = config_setting_add(config_root_setting(user), path, CONFIG_TYPE_STRING);
    if (s)
        config_setting_set_string(s, v);
}

static sgw_err cfg_finish(sgw_cfg *cfg, const char *file, char *why, size_t whysz)
{
    sgw_err rv = cfg_check_tree(config_root_setting(&cfg->user),
                                config_root_setting(&cfg->defaults), file, why, whysz);
    if (rv != SGW_OK)
        return rv;
    cfg_env_override(&cfg->user, "listen", "SMSGW_LISTEN");
    cfg_env_override(&cfg->user, "data_dir", "SMSGW_DATA_DIR");
    cfg_env_override(&cfg->user, "admin_key", "SMSGW_ADMIN_KEY");
    cfg_env_override(&cfg->user, "secret_key", "SMSGW_SECRET_KEY");
    return cfg_check_values(cfg, file, why, whysz);
}

static sgw_cfg *cfg_new(char *why, size_t whysz)
{
    sgw_cfg *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        snprintf(why, whysz, "out of memory");
        return NULL;
    }
    config_init(&cfg->defaults);
    config_init(&cfg->user);
    if (config_read_string(&cfg->defaults, sgw_cfg_defaults_) != CONFIG_TRUE) {
        /* the build embeds etc/smsgw.cfg; this cannot fail unless it is broken */
        snprintf(why, whysz, "embedded defaults:%d: %s", config_error_line(&cfg->defaults),
                 config_error_text(&cfg->defaults));
        sgw_cfg_destroy(&cfg);
    }
    return cfg;
}

sgw_err sgw_cfg_load(const char *path, sgw_cfg **out, char *why, size_t whysz)
{
    sgw_cfg *cfg = cfg_new(why, whysz);
    if (!cfg)
        return SGW_ECONFIG;
    if (path && *path) {
        if (config_read_file(&cfg->user, path) != CONFIG_TRUE) {
            if (config_error_type(&cfg->user) == CONFIG_ERR_FILE_IO)
                snprintf(why, whysz, "%s: cannot read the file", path);
            else
                snprintf(why, whysz, "%s:%d: %s", path, config_error_line(&cfg->user),
                         config_error_text(&cfg->user));
            sgw_cfg_destroy(&cfg);
            return SGW_ECONFIG;
        }
    }
    sgw_err rv = cfg_finish(cfg, path && *path ? path : "(defaults)", why, whysz);
    if (rv != SGW_OK) {
        sgw_cfg_destroy(&cfg);
        return rv;
    }
    *out = cfg;
    return SGW_OK;
}

sgw_err sgw_cfg_load_string(const char *text, const char *name, sgw_cfg **out, char *why,
                            size_t whysz)
{
    sgw_cfg *cfg = cfg_new(why, whysz);
    if (!cfg)
        return SGW_ECONFIG;
    if (config_read_string(&cfg->user, text) != CONFIG_TRUE) {
        snprintf(why, whysz, "%s:%d: %s", name, config_error_line(&cfg->user),
                 config_error_text(&cfg->user));
        sgw_cfg_destroy(&cfg);
        return SGW_ECONFIG;
    }
    sgw_err rv = cfg_finish(cfg, name, why, whysz);
    if (rv != SGW_OK) {
        sgw_cfg_destroy(&cfg);
        return rv;
    }
    *out = cfg;
    return SGW_OK;
}

void sgw_cfg_destroy(sgw_cfg **cfg)
{
    if (!cfg || !*cfg)
        return;
    config_destroy(&(*cfg)->defaults);
    config_destroy(&(*cfg)->user);
    free(*cfg);
    *cfg = NULL;
}

const config_setting_t *sgw_cfg_setting(const sgw_cfg *cfg, const char *path)
{
    const config_setting_t *s = config_lookup(&cfg->user, path);
    return s ? s : config_lookup(&cfg->defaults, path);
}

int64_t sgw_cfg_int(const sgw_cfg *cfg, const char *path)
{
    const config_setting_t *s = sgw_cfg_setting(cfg, path);
    if (!s)
        return 0;
    if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
        return (int64_t)config_setting_get_float(s);
    return config_setting_get_int64(s);
}

double sgw_cfg_float(const sgw_cfg *cfg, const char *path)
{
    const config_setting_t *s = sgw_cfg_setting(cfg, path);
    if (!s)
        return 0;
    if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
        return config_setting_get_float(s);
    return (double)config_setting_get_int64(s);
}

int sgw_cfg_bool(const sgw_cfg *cfg, const char *path)
{
    const config_setting_t *s = sgw_cfg_setting(cfg, path);
    return s ? config_setting_get_bool(s) : 0;
}

const char *sgw_cfg_str(const sgw_cfg *cfg, const char *path)
{
    const config_setting_t *s = sgw_cfg_setting(cfg, path);
    const char *v = s ? config_setting_get_string(s) : NULL;
    return v ? v : "";
}
