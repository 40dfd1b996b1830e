/*
 * bus/log.h — logging. One line per event to stderr, as text or JSON lines.
 *
 *     sgw_log(SGW_LOG_WARN, "sender", "sim[%s]: %s", id, why);
 *
 * The tag is the component's one name (actor, module). Never log secrets,
 * API keys or message bodies at INFO or above. Thread-safe.
 */
#ifndef SGW_LOG_H
#define SGW_LOG_H

typedef enum { SGW_LOG_ERROR = 0, SGW_LOG_WARN, SGW_LOG_INFO, SGW_LOG_DEBUG } sgw_log_level;

/* Set once at start, before threads: level, and json != 0 for JSON lines. */
void sgw_log_setup(sgw_log_level level, int json);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int sgw_log_level_parse(const char *name);
int sgw_log_enabled(sgw_log_level level);
void sgw_log(sgw_log_level level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
