/*
 * bench/cwbare.c — the ceiling: civetweb with the gateway's options and one
 * trivial handler on /v1/sms/send that reads the body and answers 202 with a
 * small JSON body. smsgw's accept rate is reported as a share of this.
 *
 *   cwbare PORT [THREADS]     prints "ready", stops on SIGTERM/SIGINT
 */
#include <civetweb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bare_send(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    char buf[4096];
    while (mg_read(conn, buf, sizeof buf) > 0)
        ;
    static const char body[] = "{\"messageId\":\"msg_000000000000\",\"status\":\"queued\"}";
    mg_printf(conn,
              "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\n\r\n%s",
              sizeof body - 1, body);
    return 202;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: cwbare PORT [THREADS]\n");
        return 2;
    }
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%s", argv[1]);
    const char *threads = argc > 2 ? argv[2] : "32";
    const char *options[] = { "listening_ports", listen, "num_threads", threads,
                              "enable_keep_alive", "yes", "keep_alive_timeout_ms", "30000",
                              "tcp_nodelay", "1", NULL };
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    mg_init_library(0);
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (!ctx) {
        fprintf(stderr, "cwbare: cannot listen on %s\n", listen);
        return 1;
    }
    mg_set_request_handler(ctx, "/v1/sms/send", bare_send, NULL);
    printf("ready\n");
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    mg_stop(ctx);
    return 0;
}
