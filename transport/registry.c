/*
 * transport/registry.c — the table of providers. Only this file, the sender
 * actor, the connection handlers (verify) and (later) the webhook receiver
 * call provider ops.
 */
#include <string.h>

#include "transport/transport.h"

extern const struct sgw_transport_ops sgw_transport_sim;
extern const struct sgw_transport_ops sgw_transport_sim_b;
extern const struct sgw_transport_ops sgw_transport_ringcentral;
extern const struct sgw_transport_ops sgw_transport_twilio;

static const struct sgw_transport_ops *const providers[] = {
    &sgw_transport_sim,
    &sgw_transport_sim_b,
    &sgw_transport_ringcentral,
    &sgw_transport_twilio,
    NULL,
};

const struct sgw_transport_ops *sgw_transport_find(const char *name)
{
    for (int i = 0; providers[i]; i++)
        if (strcmp(providers[i]->name, name) == 0)
            return providers[i];
    return NULL;
}

const struct sgw_transport_ops *const *sgw_transport_all(void) { return providers; }
