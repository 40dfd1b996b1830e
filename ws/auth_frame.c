/*
 * ws/auth_frame.c — the first frame of a WebSocket session, classified
 * (ws/auth_frame.h). The texts are seed 003's.
 */
#include "ws/auth_frame.h"

#include <string.h>

#define API_KEY_MAX 64 /* longer is no key of ours: not looked up */

sgw_ws_frame_kind sgw_ws_auth_frame(const char *data, size_t len, json_t **frame,
                                    const char **cred)
{
    *frame = NULL;
    *cred = NULL;
    json_t *o = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    if (!o)
        return SGW_WS_FRAME_BAD_JSON;
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!json_is_object(o) || !type || strcmp(type, "auth") != 0) {
        json_decref(o);
        return SGW_WS_FRAME_NOT_AUTH;
    }
    const char *token = json_string_value(json_object_get(o, "token"));
    const char *key = json_string_value(json_object_get(o, "apiKey"));
    if (token) {
        *frame = o;
        *cred = token;
        return SGW_WS_FRAME_TOKEN;
    }
    if (key && strlen(key) <= API_KEY_MAX) {
        *frame = o;
        *cred = key;
        return SGW_WS_FRAME_API_KEY;
    }
    json_decref(o);
    return SGW_WS_FRAME_NO_KEY;
}

const char *sgw_ws_auth_frame_error(sgw_ws_frame_kind k)
{
    switch (k) {
    case SGW_WS_FRAME_BAD_JSON:
        return "Invalid JSON";
    case SGW_WS_FRAME_NOT_AUTH:
        return "Send auth first";
    case SGW_WS_FRAME_NO_KEY:
        return "Invalid API key";
    default:
        return NULL;
    }
}
