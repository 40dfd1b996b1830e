/*
 * bus/msg.h — the envelope every bus message carries.
 *
 * On the wire a message is a msgpack map with short snake_case keys:
 *   v (1), type, id, created_ms            required
 *   tenant, app, attempt, sent_ms, due_ms, code, flags, reply, body   optional
 * Unknown keys are ignored; a missing required key, a wrong type or an
 * unknown type name rejects the message (SGW_EPROTO). The body is opaque
 * bytes whose meaning depends on the type; the bus knows no business.
 *
 * Ownership: sgw_msg_decode() points reply/body into the caller's buffer,
 * so a decoded message lives as long as that buffer (the runtime frees it
 * after the handler returns). sgw_msg_encode() copies everything.
 */
#ifndef SGW_MSG_H
#define SGW_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "bus/err.h"

typedef enum {
#define SGW_MSG(e, name) SGW_MSG_##e,
#include "bus/msg_types.def"
#undef SGW_MSG
    SGW_MSG_TYPE_MAX
} sgw_msg_type;

#define SGW_MSG_VERSION 1

typedef struct sgw_msg {
    sgw_msg_type type;
    char id[40];          /* the message (or request) it is about; may be "" */
    char tenant[32];
    char app[32];
    int32_t attempt;
    int32_t code;         /* HTTP status of a REPLY; outcome of a RESULT */
    uint32_t flags;
    int64_t created_ms;   /* when the envelope was made */
    int64_t sent_ms;      /* when it was put on the bus (set by sgw_bus_send) */
    int64_t due_ms;
    const void *reply;    /* opaque routing bytes for a request's answer */
    size_t reply_len;
    const void *body;
    size_t body_len;
    /* set by the runtime on receive, never encoded: */
    int input;            /* which of the actor's inputs it came from */
    const void *route;    /* a raw socket's header (rep0 raw), else NULL */
    size_t route_len;
} sgw_msg;

/* "sms_submit" etc.; "?" when out of range. */
const char *sgw_msg_type_name(sgw_msg_type t);

/* Initialise m as a new message of type t about id (may be NULL). */
void sgw_msg_init(sgw_msg *m, sgw_msg_type t, const char *id);

/* Encode m into a new heap buffer (*out, *outlen; free() it). */
sgw_err sgw_msg_encode(const sgw_msg *m, void **out, size_t *outlen);

/* Decode buf into m. SGW_EPROTO for anything malformed. m's reply and
 * body point into buf. */
sgw_err sgw_msg_decode(const void *buf, size_t len, sgw_msg *m);

/* Can the len bytes at buf start with one whole msgpack object, each of
 * its arrays and maps announcing no more elements than bytes follow?
 * msgpack-c allocates a container's elements before it reads them, so
 * every decoder asks this first: 5 bytes (dd ff ff ff ff) would otherwise
 * ask for 128 GiB. Checks framing only, not types. */
int sgw_msgpack_plausible(const void *buf, size_t len);

#endif
