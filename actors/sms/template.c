#include "actors/sms/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At s (just after "{{"): a placeholder's name and where it ends (after
 * "}}"). 0 if malformed. */
static int placeholder(const char *s, char name[SGW_TEMPLATE_NAME_MAX + 1], const char **end)
{
    while (*s == ' ')
        s++;
    size_t n = 0;
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
           (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '.' || s[n] == '-') {
        if (n == SGW_TEMPLATE_NAME_MAX)
            return 0;
        name[n] = s[n];
        n++;
    }
    name[n] = '\0';
    s += n;
    while (*s == ' ')
        s++;
    if (s[0] != '}' || s[1] != '}')
        return 0;
    *end = s + 2;
    return 1;
}

sgw_err sgw_template_variables(const char *body, json_t **names, char *why, size_t whysz)
{
    json_t *arr = json_array();
    if (!arr)
        return SGW_ENOMEM;
    for (const char *p = body; (p = strstr(p, "{{"));) {
        char name[SGW_TEMPLATE_NAME_MAX + 1];
        const char *end;
        if (!placeholder(p + 2, name, &end)) {
            snprintf(why, whysz, "Invalid placeholder at character %zu: use {{name}}",
                     (size_t)(p - body) + 1);
            json_decref(arr);
            return SGW_EINVAL;
        }
        size_t i;
        json_t *v;
        int seen = 0;
        json_array_foreach(arr, i, v) seen |= strcmp(json_string_value(v), name) == 0;
        if (!seen)
            json_array_append_new(arr, json_string(name));
        p = end;
    }
    *names = arr;
    return SGW_OK;
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 1;
}

sgw_err sgw_template_render(const char *body, json_t *vars, char **out,
                            char bad[SGW_TEMPLATE_NAME_MAX + 1])
{
    buf b = { 0 };
    const char *p = body;
    sgw_err rv = SGW_OK;
    if (!buf_add(&b, "", 0))
        return SGW_ENOMEM;
    for (const char *q; (q = strstr(p, "{{"));) {
        char name[SGW_TEMPLATE_NAME_MAX + 1], num[64];
        const char *end;
        if (!placeholder(q + 2, name, &end)) { /* stored bodies are checked: keep as text */
            if (!buf_add(&b, p, (size_t)(q + 2 - p)))
                goto nomem;
            p = q + 2;
            continue;
        }
        json_t *v = json_object_get(vars, name);
        const char *val = NULL;
        if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
            val = json_string_value(v); /* (a NUL inside would cut the text short) */
        else if (json_is_integer(v))
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)), val = num;
        else if (json_is_real(v))
            snprintf(num, sizeof num, "%.15g", json_real_value(v)), val = num;
        if (!val) {
            snprintf(bad, SGW_TEMPLATE_NAME_MAX + 1, "%s", name);
            rv = v ? SGW_EINVAL : SGW_ENOENT;
            free(b.p);
            return rv;
        }
        if (!buf_add(&b, p, (size_t)(q - p)) || !buf_add(&b, val, strlen(val)))
            goto nomem;
        p = end;
    }
    if (!buf_add(&b, p, strlen(p)))
        goto nomem;
    *out = b.p;
    return SGW_OK;
nomem:
    free(b.p);
    return SGW_ENOMEM;
}
