/*
 * bus/err.h — smsgw's error codes.
 *
 * Anything that can fail returns sgw_err: SGW_OK (0) or a positive code from
 * bus/err.def. Foreign errors (nng, RocksDB, curl) are mapped once, at the
 * module boundary that calls them, and logged there with their own text.
 */
#ifndef SGW_ERR_H
#define SGW_ERR_H

typedef enum {
    SGW_OK = 0,
#define SGW_ERR(name, text) SGW_##name,
#include "bus/err.def"
#undef SGW_ERR
    SGW_ERR_MAX
} sgw_err;

/* "EINVAL" etc.; "UNKNOWN" for a value outside the list. Never NULL. */
const char *sgw_err_name(sgw_err e);
/* The description from err.def; "ok" for SGW_OK. Never NULL. */
const char *sgw_strerror(sgw_err e);

#endif
