/*
 * tests/fuzz/ws_auth_fuzz.c — a WebSocket session's first frame
 * (ws/auth_frame.c, what http/h_ws.c's data handler decides before it
 * checks a credential): any bytes must get exactly one of the seed's
 * answers, and a credential only from an object with type "auth".
 */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "ws/auth_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *frame;
    const char *cred;
    sgw_ws_frame_kind k = sgw_ws_auth_frame((const char *)data, size, &frame, &cred);
    const char *err = sgw_ws_auth_frame_error(k);
    switch (k) {
    case SGW_WS_FRAME_BAD_JSON:
    case SGW_WS_FRAME_NOT_AUTH:
    case SGW_WS_FRAME_NO_KEY:
        FUZZ_CHECK(!frame && !cred && err);
        /* the auth_error frame h_ws.c writes must stay within its buffer */
        FUZZ_CHECK(strlen(err) + sizeof "{\"type\":\"auth_error\",\"error\":\"\"}" <= 128);
        break;
    case SGW_WS_FRAME_TOKEN:
    case SGW_WS_FRAME_API_KEY: {
        FUZZ_CHECK(frame && cred && !err);
        FUZZ_CHECK(json_is_object(frame));
        const char *type = json_string_value(json_object_get(frame, "type"));
        FUZZ_CHECK(type && strcmp(type, "auth") == 0);
        json_t *tok = json_object_get(frame, "token");
        if (k == SGW_WS_FRAME_TOKEN) {
            FUZZ_CHECK(json_is_string(tok) && cred == json_string_value(tok));
        } else {
            FUZZ_CHECK(!json_is_string(tok) && strlen(cred) <= 64);
            FUZZ_CHECK(cred == json_string_value(json_object_get(frame, "apiKey")));
        }
        json_decref(frame);
        break;
    }
    default:
        FUZZ_CHECK(!"unknown kind");
    }
    return 0;
}
