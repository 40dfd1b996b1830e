#include "bus/err.h"

const char *sgw_err_name(sgw_err e)
{
    switch (e) {
    case SGW_OK: return "OK";
#define SGW_ERR(name, text) case SGW_##name: return #name;
#include "bus/err.def"
#undef SGW_ERR
    default: return "UNKNOWN";
    }
}

const char *sgw_strerror(sgw_err e)
{
    switch (e) {
    case SGW_OK: return "ok";
#define SGW_ERR(name, text) case SGW_##name: return text;
#include "bus/err.def"
#undef SGW_ERR
    default: return "unknown error";
    }
}
