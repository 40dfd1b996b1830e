/*
 * ws/auth_frame.h — what a WebSocket session's first frame asks for (SPEC
 * section 8): a credential to check, or the auth_error it gets at once.
 * Pure (no hub, no store, no civetweb), so tests/fuzz/ws_auth_fuzz.c can
 * drive it with anything; http/h_ws.c checks the credential it returns.
 */
#ifndef SGW_WS_AUTH_FRAME_H
#define SGW_WS_AUTH_FRAME_H

#include <jansson.h>
#include <stddef.h>

typedef enum {
    SGW_WS_FRAME_BAD_JSON = 0, /* not JSON: "Invalid JSON" */
    SGW_WS_FRAME_NOT_AUTH,     /* not an object with type "auth": "Send auth first" */
    SGW_WS_FRAME_NO_KEY,       /* no token and no apiKey string of at most 64
                                  bytes: "Invalid API key" */
    SGW_WS_FRAME_TOKEN,        /* redeem *cred as a token (wins over apiKey) */
    SGW_WS_FRAME_API_KEY,      /* look *cred up as an API key */
} sgw_ws_frame_kind;

/* Classify the len bytes of a first frame. For TOKEN and API_KEY, *cred
 * points into *frame, which the caller json_decref()s once done with cred;
 * otherwise *frame and *cred are NULL. */
sgw_ws_frame_kind sgw_ws_auth_frame(const char *data, size_t len, json_t **frame,
                                    const char **cred);

/* The auth_error text of BAD_JSON, NOT_AUTH and NO_KEY; NULL otherwise. */
const char *sgw_ws_auth_frame_error(sgw_ws_frame_kind k);

#endif
