/*
 * actors/sms/accept.c — the acceptance rules of an outbound message
 * (see accept.h): one implementation for single sends and batches.
 */
#include "actors/sms/accept.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/sms/phone.h"
#include "bus/log.h"
#include "bus/util.h"

int sgw_refuse(sgw_verdict *v, int status, const char *code, const char *fmt, const char *arg)
{
    v->status = status;
    v->code = code;
    snprintf(v->error, sizeof v->error, fmt, arg ? arg : "");
    return 0;
}

sgw_err sgw_accept_rules_load(const sgw_cfg *cfg, sgw_accept_rules *r)
{
    memset(r, 0, sizeof *r);
    const config_setting_t *route = sgw_cfg_setting(cfg, "transport.default_route");
    const char *first = route ? config_setting_get_string_elem(route, 0) : NULL;
    snprintf(r->live_route, sizeof r->live_route, "%s", first ? first : "sim");
    r->default_price = sgw_cfg_int(cfg, "pricing.default_per_segment");
    snprintf(r->currency, sizeof r->currency, "%s", sgw_cfg_str(cfg, "pricing.currency"));
    const config_setting_t *pl = sgw_cfg_setting(cfg, "pricing.per_segment");
    int np = pl ? config_setting_length(pl) : 0;
    r->prices = calloc((size_t)(np ? np : 1), sizeof *r->prices);
    if (!r->prices)
        return SGW_ENOMEM;
    for (int i = 0; i < np; i++) {
        const char *e = config_setting_get_string_elem(pl, i);
        char *end = NULL;
        long long val = e && strlen(e) > 3 && e[2] == '=' ? strtoll(e + 3, &end, 10) : -1;
        char cc[3] = { e ? e[0] : 0, e && e[0] ? e[1] : 0, 0 };
        if (val < 0 || !end || *end || !sgw_country_valid(cc)) {
            sgw_log(SGW_LOG_ERROR, "validator", "pricing.per_segment: \"%s\" is not "
                    "\"CC=minor units\" (e.g. \"US=79\")", e ? e : "?");
            return SGW_ECONFIG;
        }
        memcpy(r->prices[i].cc, cc, 3);
        r->prices[i].minor = val;
    }
    r->nprices = np;
    if (r->default_price < 0 || strlen(r->currency) != 3) {
        sgw_log(SGW_LOG_ERROR, "validator", "pricing: currency must be 3 letters and prices "
                "not negative");
        return SGW_ECONFIG;
    }
    return SGW_OK;
}

void sgw_accept_rules_fini(sgw_accept_rules *r)
{
    free(r->prices);
    r->prices = NULL;
    r->nprices = 0;
}

int64_t sgw_accept_unit_price(const sgw_accept_rules *r, const char *country)
{
    for (int i = 0; i < r->nprices; i++)
        if (strcmp(r->prices[i].cc, country) == 0)
            return r->prices[i].minor;
    return r->default_price;
}

/* An alphanumeric from: a sender ID of the tenant that this send may use. */
static int accept_sender_id(const sgw_accept_rules *r, sgw_store *st, const char *tenant,
                            int test, const char *from, sgw_verdict *v)
{
    char *doc = NULL;
    if (sgw_store_sender_id_find(st, tenant, from, &doc) != SGW_OK)
        return sgw_refuse(v, 400, "sender_id_invalid", "Sender ID %s is not registered", from);
    json_t *o = json_loads(doc, 0, NULL);
    free(doc);
    const char *status = json_string_value(json_object_get(o, "status"));
    int ok = 1;
    if (!status || strcmp(status, "rejected") == 0)
        ok = sgw_refuse(v, 400, "sender_id_invalid", "Sender ID %s was rejected", from);
    else if (strcmp(status, "approved") != 0 && !test)
        ok = sgw_refuse(v, 400, "sender_id_invalid", "Sender ID %s is not approved yet", from);
    else if (!test && strcmp(r->live_route, "ringcentral") == 0)
        ok = sgw_refuse(v, 400, "sender_id_invalid",
                        "Sender ID %s cannot be used on this route: RingCentral sends only "
                        "from phone numbers", from);
    json_decref(o);
    return ok;
}

int sgw_accept_from(const sgw_accept_rules *r, sgw_store *st, const char *tenant, int test,
                    const char *from, sgw_verdict *v)
{
    if (sgw_phone_is_e164(from))
        return 1;
    if (from[0] == '+' || !sgw_sender_id_valid(from))
        return sgw_refuse(v, 400, "phone_invalid", "to and from must be valid E.164 phone numbers",
                          NULL);
    return accept_sender_id(r, st, tenant, test, from, v);
}

int sgw_accept_to(const char *to, sgw_verdict *v)
{
    if (sgw_phone_is_e164(to))
        return 1;
    return sgw_refuse(v, 400, "phone_invalid", "to and from must be valid E.164 phone numbers",
                      NULL);
}

int sgw_accept_body(const char *body, size_t len, sgw_text_info *ti, sgw_verdict *v)
{
    if (sgw_text_analyze(body, len, ti) != SGW_OK || ti->code_points < 1 ||
        ti->code_points > SGW_ACCEPT_BODY_MAX)
        return sgw_refuse(v, 400, "validation_error", "body must be 1-1600 characters", NULL);
    return 1;
}

int sgw_accept_user_id(const char *user_id, sgw_verdict *v)
{
    if (user_id && strlen(user_id) > SGW_ACCEPT_USER_ID_MAX)
        return sgw_refuse(v, 400, "validation_error", "userId must be at most 128 characters",
                          NULL);
    /* a streamed body (batches) can carry escaped lone surrogates that its
     * parser lets through: it is shown as JSON later, so it must be UTF-8 */
    sgw_text_info ti;
    if (user_id && sgw_text_analyze(user_id, strlen(user_id), &ti) != SGW_OK)
        return sgw_refuse(v, 400, "validation_error", "userId must be valid UTF-8", NULL);
    return 1;
}

int sgw_accept_country(const char *country, sgw_verdict *v)
{
    if (country && !sgw_country_valid(country))
        return sgw_refuse(v, 400, "validation_error",
                          "country must be an ISO 3166-1 alpha-2 code", NULL);
    return 1;
}

int sgw_accept_send_at(const char *send_at, int64_t now, int64_t *ms, sgw_verdict *v)
{
    *ms = 0;
    if (!send_at)
        return 1;
    if (sgw_time_parse(send_at, ms) != SGW_OK || *ms <= now ||
        *ms > now + SGW_ACCEPT_AHEAD_MAX_MS) {
        *ms = 0;
        return sgw_refuse(v, 400, "validation_error",
                          "sendAt must be an RFC 3339 time in the future, at most 30 days ahead",
                          NULL);
    }
    return 1;
}

sgw_err sgw_accept_fill(const sgw_accept_rules *r, const sgw_accept_in *in, sgw_sms *rec,
                        int64_t *unit_price)
{
    memset(rec, 0, sizeof *rec);
    snprintf(rec->tenant, sizeof rec->tenant, "%s", in->tenant);
    snprintf(rec->app, sizeof rec->app, "%s", in->app);
    rec->direction = SGW_DIR_OUTBOUND;
    rec->test = in->test != 0;
    snprintf(rec->to, sizeof rec->to, "%s", in->to);
    snprintf(rec->from, sizeof rec->from, "%s", in->from);
    if (sgw_sms_set_str(&rec->body, in->body) != SGW_OK ||
        sgw_sms_set_str(&rec->user_id, in->user_id) != SGW_OK) {
        sgw_sms_clear(rec);
        return SGW_ENOMEM;
    }
    rec->encoding = in->ti->encoding;
    rec->segments = in->ti->segments;
    const char *cc = in->country ? in->country : sgw_phone_country(in->to);
    snprintf(rec->country, sizeof rec->country, "%s", cc ? cc : "");
    /* the price (charged at the write: store/ledger.c); test keys never spend */
    int64_t unit = sgw_accept_unit_price(r, rec->country);
    rec->cost_amount = rec->test ? 0 : unit * rec->segments;
    snprintf(rec->currency, sizeof rec->currency, "%s", r->currency);
    *unit_price = rec->test ? 0 : unit;
    rec->created_ms = in->now;
    rec->send_at_ms = in->send_at_ms;
    if (sgw_sms_set_status(rec, in->send_at_ms ? SGW_ST_SCHEDULED : SGW_ST_QUEUED, in->now) !=
        SGW_OK) {
        sgw_sms_clear(rec);
        return SGW_ENOMEM;
    }
    rec->due_kind = SGW_DUE_NONE;
    rec->due_ms = 0;
    return SGW_OK;
}
