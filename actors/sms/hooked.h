/*
 * actors/sms/hooked.h — whether an app has a webhook (SPEC section 9), for
 * the actors that hand events on: the status actor sends the webhooks
 * actor only the sms_status events of apps with one, and the webhooks
 * actor reads the URL and secret of the apps it delivers to.
 *
 * sgw_app_webhook reads the app document; sgw_hooked keeps its answer per
 * app (one store read and JSON parse per app, not per event) and forgets
 * them all when any app document changes (the store's document
 * generation). One sgw_hooked per thread: it takes no lock.
 */
#ifndef SGW_SMS_HOOKED_H
#define SGW_SMS_HOOKED_H

#include <stdint.h>

#include "store/store.h"

/* The app's webhook URL and secret (heap, the caller frees both), or 0 if
 * it has none (no document, no webhookUrl, or no webhookSecret). */
int sgw_app_webhook(sgw_store *st, const char *app, char **url, char **secret);

#define SGW_HOOKED_SLOTS 1024 /* direct-mapped by a hash of the app id */

struct sgw_hooked_slot {
    char id[48];
    int has;
};

typedef struct sgw_hooked {
    struct sgw_hooked_slot slot[SGW_HOOKED_SLOTS];
    uint64_t gen; /* the app documents' generation the slots hold */
} sgw_hooked;

/* Whether app has a webhook (sgw_app_webhook), cached in c (zeroed first). */
int sgw_hooked_has(sgw_hooked *c, sgw_store *st, const char *app);

#endif
