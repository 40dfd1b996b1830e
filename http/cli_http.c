/*
 * http/cli_http.c — the client commands' HTTP: the gateway's URL and the
 * API key, requests with libcurl's easy interface (the batch fallback
 * drives the same handles with a multi handle), and what an answer means
 * as an exit code. See http/cli.h.
 *
 * The key goes only into the Authorization header: it is never printed,
 * and the buffer holding it is wiped when the command ends. SIGINT and
 * SIGTERM set a flag; a transfer under way is aborted by its progress
 * callback and the command exits 130.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/cli.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define CLI_MAX_BODY (64L << 20) /* a longer answer is cut off: an error */

static volatile sig_atomic_t cli_stop; /* the one global: set by signals */

static void on_signal(int sig)
{
    cli_stop = sig;
}

void sgw_cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int sgw_cli_interrupted(void)
{
    return cli_stop != 0;
}

int sgw_cli_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    return !sgw_cli_interrupted() && nanosleep(&ts, NULL) == 0 && !sgw_cli_interrupted();
}

/* ----------------------------------------------------------- setup */

static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 200)
        return 0;
    for (; *k; k++)
        if (!isgraph((unsigned char)*k))
            return 0;
    return 1;
}

static int read_key_file(sgw_cli *c, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f)
        return sgw_cli_usage_error(c, "cannot read --key-file %s: %s", path, strerror(errno));
    char line[512] = "";
    int got = fgets(line, sizeof line, f) != NULL;
    if (f != stdin)
        fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!got || strlen(line) >= sizeof c->key) {
        memset(line, 0, sizeof line);
        return sgw_cli_usage_error(c, "--key-file %s holds no API key on its first line", path);
    }
    snprintf(c->key, sizeof c->key, "%s", line);
    memset(line, 0, sizeof line);
    return SGW_CLI_OK;
}

static int load_key(sgw_cli *c)
{
    const char *file = sgw_cli_opt(c, "key-file"), *k = sgw_cli_opt(c, "key"), *from = "--key";
    if (file) {
        int rc = read_key_file(c, file);
        if (rc != SGW_CLI_OK)
            return rc;
        from = "--key-file";
    } else {
        const char *admin = c->cmd->admin ? getenv("SMSGW_ADMIN_KEY") : NULL;
        if (!k && admin && *admin) {
            k = admin;
            from = "$SMSGW_ADMIN_KEY";
        } else if (!k) {
            k = getenv("SMSGW_API_KEY");
            from = "$SMSGW_API_KEY";
        }
        if (!k || !*k)
            return sgw_cli_usage_error(c, "no API key: set %s or use --key-file FILE",
                                       c->cmd->admin ? "$SMSGW_ADMIN_KEY" : "$SMSGW_API_KEY");
        if (strlen(k) >= sizeof c->key)
            return sgw_cli_usage_error(c, "the API key from %s is too long", from);
        snprintf(c->key, sizeof c->key, "%s", k);
    }
    if (!key_ok(c->key))
        return sgw_cli_usage_error(c, "the API key from %s is not a key (empty, too long, or "
                                   "with spaces or control characters)", from);
    return SGW_CLI_OK;
}

int sgw_cli_connect_setup(sgw_cli *c)
{
    const char *url = sgw_cli_opt(c, "url");
    if (!url)
        url = getenv("SMSGW_URL");
    if (!url || !*url)
        url = CLI_DEFAULT_URL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return sgw_cli_usage_error(c, "the gateway URL must start with http:// or https://, "
                                   "not '%s'", url);
    if (strlen(url) >= sizeof c->url)
        return sgw_cli_usage_error(c, "the gateway URL is too long");
    snprintf(c->url, sizeof c->url, "%s", url);
    size_t n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    c->json = sgw_cli_has(c, "json");
    long t = sgw_cli_opt_long(c, "timeout", 30, 1, 86400);
    if (t < 0)
        return SGW_CLI_USAGE;
    c->timeout_ms = t * 1000;
    return load_key(c);
}

/* ----------------------------------------------------------- paths */

static void escape(char *out, size_t outsz, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < outsz; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
}

int sgw_cli_path(char *out, size_t outsz, const char *prefix, const char *segment,
                 const char *suffix)
{
    char esc[1024];
    if (strlen(segment) * 3 + 5 > sizeof esc)
        return 0;
    escape(esc, sizeof esc, segment);
    int n = snprintf(out, outsz, "%s/%s%s", prefix, esc, suffix ? suffix : "");
    return n > 0 && (size_t)n < outsz;
}

void sgw_cli_query(char *path, size_t pathsz, const char *name, const char *value)
{
    if (!value)
        return;
    char esc[1024];
    escape(esc, sizeof esc, value);
    size_t n = strlen(path);
    snprintf(path + n, pathsz - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, esc);
}

/* -------------------------------------------------------- requests */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    sgw_cli_resp *r = ud;
    size_t n = size * nmemb;
    if (r->len + n > (size_t)CLI_MAX_BODY)
        return 0; /* curl fails the transfer */
    char *b = realloc(r->body, r->len + n + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, data, n);
    r->body = b;
    r->len += n;
    b[r->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    sgw_cli_resp *r = ud;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
        r->retry_after_s = strtol(data + 12, NULL, 10);
    return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return sgw_cli_interrupted(); /* non-zero aborts the transfer */
}

CURL *sgw_cli_easy(const sgw_cli *c, const char *method, const char *path, const char *body,
                   const char *idem_key, sgw_cli_resp *out, struct curl_slist **hdrs)
{
    memset(out, 0, sizeof *out);
    out->retry_after_s = -1;
    *hdrs = NULL;
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    char url[4096], line[512];
    snprintf(url, sizeof url, "%s%s", c->url, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, "");
    }
    snprintf(line, sizeof line, "Authorization: Bearer %s", c->key);
    *hdrs = curl_slist_append(*hdrs, line);
    memset(line, 0, sizeof line);
    *hdrs = curl_slist_append(*hdrs, "Accept: application/json");
    if (idem_key) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", idem_key);
        *hdrs = curl_slist_append(*hdrs, line);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "smsgw-cli");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, out->err);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return e;
}

void sgw_cli_easy_done(CURL *easy, CURLcode rc, sgw_cli_resp *out)
{
    if (rc != CURLE_OK) {
        out->status = 0;
        out->interrupted = rc == CURLE_ABORTED_BY_CALLBACK;
        if (!out->err[0])
            snprintf(out->err, sizeof out->err, "%s", curl_easy_strerror(rc));
        out->err[strcspn(out->err, "\n")] = '\0';
        return;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->body)
        out->json = json_loadb(out->body, out->len, 0, NULL);
}

void sgw_cli_http(const sgw_cli *c, const char *method, const char *path, const json_t *body,
                  const char *idem_key, sgw_cli_resp *out)
{
    struct curl_slist *hdrs;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    CURL *e = sgw_cli_easy(c, method, path, text, idem_key, out, &hdrs);
    free(text);
    if (!e) {
        snprintf(out->err, sizeof out->err, "out of memory");
        return;
    }
    sgw_cli_easy_done(e, curl_easy_perform(e), out);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
}

void sgw_cli_resp_fini(sgw_cli_resp *r)
{
    free(r->body);
    json_decref(r->json);
    r->body = NULL;
    r->json = NULL;
}

int sgw_cli_outcome(const sgw_cli *c, const sgw_cli_resp *r)
{
    const char *cmd = c->cmd->path;
    if (r->interrupted || (r->status == 0 && sgw_cli_interrupted())) {
        fprintf(stderr, "smsgw %s: interrupted\n", cmd);
        return SGW_CLI_INTERRUPTED;
    }
    if (r->status == 0) {
        fprintf(stderr, "smsgw %s: cannot reach the gateway at %s: %s (is it running? see "
                "--url, $SMSGW_URL)\n", cmd, c->url, r->err);
        return SGW_CLI_UNREACHABLE;
    }
    if (r->status >= 200 && r->status < 300)
        return SGW_CLI_OK;
    const char *err = sgw_cli_str(r->json, "error"), *code = sgw_cli_str(r->json, "code");
    char why[600];
    if (*err)
        snprintf(why, sizeof why, "%s (HTTP %ld%s%s)", err, r->status, *code ? ", " : "", code);
    else
        snprintf(why, sizeof why, "HTTP %ld: %.200s", r->status, r->body ? r->body : "");
    why[strcspn(why, "\r\n")] = '\0';
    if (r->status >= 400 && r->status < 500) {
        fprintf(stderr, "smsgw %s: %s", cmd, why);
        if (r->status == 429 && r->retry_after_s >= 0)
            fprintf(stderr, "; retry in %ld s", r->retry_after_s);
        fprintf(stderr, "\n");
        return SGW_CLI_REFUSED;
    }
    fprintf(stderr, "smsgw %s: the gateway failed: %s\n", cmd, why);
    return SGW_CLI_UNREACHABLE;
}

int sgw_cli_finish(const sgw_cli *c, sgw_cli_resp *r, void (*human)(const json_t *))
{
    int rc = sgw_cli_outcome(c, r);
    if (c->json && r->body && r->status) {
        fwrite(r->body, 1, r->len, stdout);
        if (r->len && r->body[r->len - 1] != '\n')
            putchar('\n');
    } else if (rc == SGW_CLI_OK && human && r->json) {
        human(r->json);
    }
    sgw_cli_resp_fini(r);
    return rc;
}
