/*
 * transport/twilio.h — what the Twilio adapter (transport/twilio.c) shares
 * with the Twilio webhook receiver (http/h_twwebhook.c): the request
 * signature Twilio puts in X-Twilio-Signature, and the public address
 * Twilio calls back (transport/README.md, "Twilio").
 *
 * Pure functions; any thread.
 */
#ifndef SGW_TWILIO_H
#define SGW_TWILIO_H

#include <stddef.h>

#include "bus/cfg.h"

/* Twilio's signature of a POST: base64(HMAC-SHA1(auth token, url + each
 * parameter's name and value, sorted by name (byte order; equal names keep
 * their order))). n pairs; out gets 28 characters and a NUL. 0 ok, -1 on
 * failure (out of memory). */
int sgw_twilio_signature(const char *auth_token, const char *url, const char *const *names,
                         const char *const *values, int n, char out[64]);

/* Where Twilio reaches this gateway, without a path and without a trailing
 * slash: transport.twilio.public_url, else rc_webhook.public_url, else
 * http://<listen> when listen is a loopback address (a local fake). 1 and
 * out set, or 0 when there is none (then smsgw gives Twilio no
 * StatusCallback and accepts no Twilio webhook). */
int sgw_twilio_public_base(const sgw_cfg *cfg, char *out, size_t outsz);

/* A Twilio SID: two letters of prefix then 32 lowercase or uppercase hex
 * digits (AC..., SM..., MM..., MG...). */
int sgw_twilio_sid_ok(const char *s, const char *prefix);

#endif
