#include "bus/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static sgw_log_level log_level = SGW_LOG_INFO;
static int log_json;
static const char *const level_names[] = { "error", "warn", "info", "debug" };

void sgw_log_setup(sgw_log_level level, int json)
{
    log_level = level;
    log_json = json;
}

int sgw_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int sgw_log_enabled(sgw_log_level level) { return level <= log_level; }

void sgw_log(sgw_log_level level, const char *tag, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char text[1024], ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

    if (log_json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level",
                              level_names[level], "tag", tag, "msg", text);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (line)
            fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        fprintf(stderr, "%s %-5s [%s] %s\n", ts, level_names[level], tag, text);
    }
}
