/*
 * actors/sms/template.h — message templates: `{{name}}` placeholders
 * (spaces inside the braces allowed; a name is a letter or _, then
 * letters, digits, _ . or -, at most 64). Single braces are plain text.
 * Pure functions, thread-safe.
 */
#ifndef SGW_SMS_TEMPLATE_H
#define SGW_SMS_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "bus/err.h"

#define SGW_TEMPLATE_NAME_MAX 64

/* The placeholder names of body, each once, in order of appearance, as a
 * new JSON array. SGW_EINVAL for a malformed placeholder (why says which). */
sgw_err sgw_template_variables(const char *body, json_t **names, char *why, size_t whysz);

/* body with every placeholder replaced by vars[name] (a string, or a
 * number written out); *out is a heap string. SGW_ENOENT when a variable
 * is missing, SGW_EINVAL when one is not a string or number: its name in
 * bad. */
sgw_err sgw_template_render(const char *body, json_t *vars, char **out,
                            char bad[SGW_TEMPLATE_NAME_MAX + 1]);

#endif
