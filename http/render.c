/*
 * http/render.c — message records as the API shows them.
 */
#include "actors/sms/text.h"
#include "bus/util.h"
#include "http/http.h"

static json_t *str_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

static json_t *time_or_null(int64_t ms)
{
    if (!ms)
        return json_null();
    char ts[32];
    sgw_time_format(ts, ms);
    return json_string(ts);
}

json_t *sgw_render_status(const sgw_sms *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "messageId", json_string(m->id));
    json_object_set_new(o, "status", json_string(sgw_status_name(m->status)));
    json_object_set_new(o, "rcMessageId", str_or_null(m->provider_msg_id));
    json_object_set_new(o, "error", str_or_null(m->error));
    json_object_set_new(o, "to", json_string(m->to));
    json_object_set_new(o, "from", json_string(m->from));
    json_object_set_new(o, "body", json_string(m->body ? m->body : ""));
    json_object_set_new(o, "createdAt", time_or_null(m->created_ms));
    json_object_set_new(o, "updatedAt", time_or_null(m->updated_ms));
    return o;
}

json_t *sgw_render_message(const sgw_sms *m)
{
    json_t *o = sgw_render_status(m);
    json_object_set_new(o, "direction",
                        json_string(m->direction == SGW_DIR_INBOUND ? "inbound" : "outbound"));
    json_object_set_new(o, "errorCode", str_or_null(m->error_code));
    json_object_set_new(o, "userId", str_or_null(m->user_id));
    json_object_set_new(o, "segments", json_integer(m->segments));
    json_object_set_new(o, "encoding", json_string(sgw_encoding_name(m->encoding)));
    json_object_set_new(o, "country", str_or_null(m->country));
    json_object_set_new(o, "sendAt", time_or_null(m->send_at_ms));
    json_object_set_new(o, "batchId", str_or_null(m->batch_id));
    json_object_set_new(o, "test", json_boolean(m->test));
    json_object_set_new(o, "cost",
                        m->currency[0]
                            ? json_pack("{s:I, s:s, s:i, s:I, s:b}", "amount",
                                        (json_int_t)m->cost_amount, "currency", m->currency,
                                        "quotaSegments", m->charge_quota, "walletDebit",
                                        (json_int_t)m->charge_wallet, "refunded", m->refunded)
                            : json_null());
    json_object_set_new(o, "provider", str_or_null(m->provider));
    json_t *atts = json_array();
    for (int i = 0; i < m->nattempts; i++) {
        const sgw_attempt *a = &m->attempts[i];
        json_array_append_new(
            atts, json_pack("{s:s, s:o, s:o, s:b, s:o, s:o, s:o}", "provider", a->provider,
                            "startedAt", time_or_null(a->started_ms), "finishedAt",
                            time_or_null(a->finished_ms), "ok", a->ok, "providerMessageId",
                            str_or_null(a->provider_msg_id), "errorCode",
                            str_or_null(a->error_code), "errorMessage",
                            str_or_null(a->error_message)));
    }
    json_object_set_new(o, "providerAttempts", atts);
    json_t *evs = json_array();
    for (int i = 0; i < m->nevents; i++)
        json_array_append_new(evs, json_pack("{s:s, s:o}", "status",
                                             sgw_status_name(m->events[i].status), "at",
                                             time_or_null(m->events[i].at_ms)));
    json_object_set_new(o, "events", evs);
    return o;
}
