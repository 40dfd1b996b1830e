/*
 * http/h_console.c — the web console: GET / (index.html) and
 * GET /console/<name> (its scripts and styles), no key needed: the pages
 * hold no data; they call the API with the key the user types, kept in the
 * browser's sessionStorage.
 *
 * The files are those in http/console/, embedded at build time by
 * http/console.cmake (gen/console_files.h), so the installed binary needs
 * no source tree. Each answer has its Content-Type (by extension), an ETag
 * (SHA-256 of the bytes; If-None-Match gives 304), Cache-Control: no-cache
 * (the browser revalidates, so a new binary's files are used at once) and
 * the security headers: a Content-Security-Policy that allows scripts,
 * styles and connections (fetch, the WebSocket) from this origin only, no
 * inline script or style element, no framing; nosniff; no referrer.
 * An unknown name is 404.
 */
#include <stdio.h>
#include <string.h>

#include "http/http.h"

typedef struct sgw_console_file {
    const char *name;
    const char *etag;     /* quoted */
    const unsigned char *data;
    size_t len;
} sgw_console_file;

#include "console_files.h"

#define CONSOLE_CSP                                                                      \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "   \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const char *console_type(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".json", "application/json" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const sgw_console_file *console_find(const char *name)
{
    for (const sgw_console_file *f = sgw_console_files_; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

/* 1 if the request's If-None-Match names etag (or is "*"). */
static int console_not_modified(sgw_req *r, const char *etag)
{
    const char *inm = mg_get_header(r->conn, "If-None-Match");
    if (!inm)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    size_t el = strlen(etag);
    for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += el) {
        char after = p[el];
        if ((p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/') &&
            (after == '\0' || after == ',' || after == ' '))
            return 1;
    }
    return 0;
}

static void console_serve(sgw_req *r, const sgw_console_file *f)
{
    int head = strcmp(r->method, "HEAD") == 0;
    if (console_not_modified(r, f->etag)) {
        r->status = 304;
        mg_printf(r->conn,
                  "HTTP/1.1 304 Not Modified\r\nETag: %s\r\nCache-Control: no-cache\r\n"
                  "Content-Security-Policy: " CONSOLE_CSP "\r\n"
                  "X-Content-Type-Options: nosniff\r\n%s\r\n",
                  f->etag, r->extra_headers);
        return;
    }
    r->status = 200;
    mg_printf(r->conn,
              "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\nETag: %s\r\n"
              "Cache-Control: no-cache\r\n"
              "Content-Security-Policy: " CONSOLE_CSP "\r\n"
              "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n"
              "Referrer-Policy: no-referrer\r\n%s\r\n",
              console_type(f->name), f->len, f->etag, r->extra_headers);
    if (!head)
        mg_write(r->conn, f->data, f->len);
}

void h_console_index(sgw_req *r)
{
    const sgw_console_file *f = console_find("index.html");
    if (!f) {
        sgw_reply_error(r, 404, "not_found", "Not found");
        return;
    }
    console_serve(r, f);
}

void h_console_asset(sgw_req *r)
{
    /* param[0] is one path segment (no '/'); the table's names are plain */
    const sgw_console_file *f = console_find(r->param[0]);
    if (!f) {
        sgw_reply_error(r, 404, "not_found", "Not found");
        return;
    }
    console_serve(r, f);
}
