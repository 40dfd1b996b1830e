/*
 * actors/ingress.c — where send requests enter the pipeline.
 *
 * Inputs:  a raw rep0 socket on SGW_INGRESS_REQ_URL, dialed by the HTTP
 *          side with req0 (one nng context per HTTP request).
 * Outputs: SUBMIT to the validator (with the request's routing header in
 *          `reply`). Answers go back on the rep0 socket: its own refusals
 *          from here, the validator's answers through sgw_ingress_reply()
 *          from the validator's threads (an nng socket is thread-safe), so
 *          an answer crosses one socket, not two.
 * State:   none. Admission control only: while draining, or when the
 *          validator's queue is full, a request is answered 503 at once and
 *          nothing is stored.
 * Restart: nothing to resume: a request that was not answered was not
 *          acknowledged (the HTTP side answers 503 on its timeout, and the
 *          validator refuses requests older than half that timeout).
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <string.h>

#include "actors/actors.h"
#include "bus/log.h"

typedef struct ingress {
    const sgw_actor_env *env;
    sgw_app *app;
    nng_socket rep;     /* shared by all threads (nng sockets are thread-safe) */
    nng_socket to_validator;
} ingress;

static nng_socket ingress_rep; /* set by thread 0's init before other threads start */

static sgw_err ingress_init(void *st, const sgw_actor_env *env)
{
    ingress *self = st;
    self->env = env;
    self->app = env->app;
    if (env->thread_index == 0) {
        int rv;
        if ((rv = nng_rep0_open_raw(&ingress_rep)) != 0 ||
            (rv = nng_listen(ingress_rep, SGW_INGRESS_REQ_URL, NULL, 0)) != 0) {
            sgw_log(SGW_LOG_ERROR, "ingress", "rep0 %s: %s", SGW_INGRESS_REQ_URL,
                    nng_strerror(rv));
            return SGW_EIO;
        }
        nng_socket_set_int(ingress_rep, NNG_OPT_RECVBUF, 8192);
        nng_socket_set_int(ingress_rep, NNG_OPT_SENDBUF, 8192);
        if (sgw_actor_add_input(env, ingress_rep, 1) < 0)
            return SGW_EIO;
    }
    self->rep = ingress_rep;
    return sgw_actor_connect(env, "validator", &self->to_validator);
}

static void ingress_answer(ingress *self, const sgw_msg *req, int code, const char *json)
{
    sgw_msg r;
    sgw_msg_init(&r, SGW_MSG_REPLY, req->id);
    r.code = code;
    r.body = json;
    r.body_len = strlen(json);
    sgw_bus_send_routed(self->rep, &r, req->route, req->route_len);
}

static void ingress_handle(void *st, const sgw_msg *msgs, int n)
{
    ingress *self = st;
    for (int i = 0; i < n; i++) {
        const sgw_msg *m = &msgs[i];
        if (m->input == 0) /* its pull input: nothing is sent there */
            continue;
        if (m->type != SGW_MSG_SUBMIT) {
            ingress_answer(self, m, 400, "{\"error\":\"Unsupported request\",\"code\":\"validation_error\"}");
            continue;
        }
        if (atomic_load(&self->app->draining)) {
            ingress_answer(self, m, 503, "{\"error\":\"Server is shutting down\",\"code\":\"unavailable\"}");
            continue;
        }
        sgw_msg fwd = *m;
        fwd.reply = m->route;
        fwd.reply_len = m->route_len;
        if (sgw_actor_send(self->env, self->to_validator, &fwd, 0) != SGW_OK)
            ingress_answer(self, m, 503, "{\"error\":\"Server overloaded, try again\",\"code\":\"unavailable\"}");
    }
}

sgw_err sgw_ingress_reply(const sgw_msg *r)
{
    if (r->type != SGW_MSG_REPLY || !r->reply || r->reply_len == 0)
        return SGW_EINVAL;
    return sgw_bus_send_routed(ingress_rep, r, r->reply, r->reply_len);
}

const struct sgw_actor_ops sgw_actor_ingress = {
    .name = "ingress",
    .state_size = sizeof(ingress),
    .init = ingress_init,
    .handle = ingress_handle,
};
