/*
 * http/cli.c — the client commands' front: which command argv names, its
 * options, --help, and the human output helpers. The commands themselves
 * are in cli_sms.c, cli_batch.c, cli_tail.c and cli_admin.c; HTTP in
 * cli_http.c. See http/cli.h.
 *
 * Options are long only: `--name VALUE` or `--name=VALUE`; a value may not
 * start with "--" (write `--body=--x`); `--` ends the options. An unknown
 * option, a missing value or a wrong number of arguments is a usage error:
 * the reason and the command's usage on stderr, exit 2, nothing sent.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "http/cli.h"

static const sgw_cli_flag common_flags[] = {
    { "url", "URL", "the gateway (default $SMSGW_URL, else http://127.0.0.1:8080)" },
    { "key-file", "FILE", "read the API key from FILE (its first line)" },
    { "key", "KEY", "the API key; shows in ps, so prefer the environment or --key-file" },
    { "json", NULL, "print the server's JSON answer as it came, on stdout" },
    { "timeout", "SECONDS", "give up a request after this long (default 30)" },
    { "help", NULL, "show this help" },
    { NULL, NULL, NULL },
};

static const char exit_codes_text[] =
    "exit codes: 0 ok; 1 the server refused (4xx: its error is printed); 2 bad\n"
    "  usage; 3 could not reach the server, 5xx or timeout; 4 some batch rows\n"
    "  were rejected; 130 interrupted\n";

static const char *const roots[] = { "send", "status", "list", "batch", "tail", "admin", NULL };

/* Every command, in the order --help lists them. */
static const sgw_cli_cmd *const cmd_tables[] = { sgw_cli_sms_cmds, sgw_cli_batch_cmds,
                                             sgw_cli_tail_cmds, sgw_cli_admin_cmds };

static const sgw_cli_cmd *cmd_at(int k)
{
    for (size_t t = 0; t < sizeof cmd_tables / sizeof cmd_tables[0]; t++)
        for (const sgw_cli_cmd *c = cmd_tables[t]; c->path; c++)
            if (k-- == 0)
                return c;
    return NULL;
}

#define FOR_EACH_CMD(c) for (int k_ = 0; ((c) = cmd_at(k_)) != NULL; k_++)

/* How many of argv[from..] (words, no options) equal path's words; the
 * count if all of path matched, else -(matched words) - 1. */
static int match_words(const char *path, int argc, char **argv, int from)
{
    int n = 0;
    const char *p = path;
    while (*p) {
        size_t wl = strcspn(p, " ");
        int i = from + n;
        if (i >= argc || strlen(argv[i]) != wl || strncmp(argv[i], p, wl) != 0)
            return -n - 1;
        n++;
        p += wl;
        p += *p == ' ';
    }
    return n;
}

/* "  head  summary", the summary on the next line when head is wide. */
static void print_entry(FILE *f, const char *head, int width, const char *summary)
{
    if ((int)strlen(head) > width)
        fprintf(f, "  %s\n  %-*s %s\n", head, width, "", summary);
    else
        fprintf(f, "  %-*s %s\n", width, head, summary);
}

void sgw_cli_usage(FILE *f)
{
    fprintf(f, "\nclient commands (against a running gateway; smsgw COMMAND --help):\n");
    const sgw_cli_cmd *c;
    FOR_EACH_CMD(c)
    {
        char head[96];
        snprintf(head, sizeof head, "%s%s%s", c->path, c->args[0] ? " " : "", c->args);
        print_entry(f, head, 34, c->summary);
    }
    fprintf(f, "\n  API key: $SMSGW_API_KEY (admin commands: $SMSGW_ADMIN_KEY first) or\n"
               "  --key-file FILE; the gateway: --url or $SMSGW_URL.\n%s", exit_codes_text);
}

/* "smsgw PATH ARGS REQUIRED-OPTIONS [options]" */
static void print_synopsis(FILE *f, const sgw_cli_cmd *cmd)
{
    fprintf(f, "smsgw %s%s%s%s%s [options]", cmd->path, cmd->args[0] ? " " : "", cmd->args,
            cmd->synopsis ? " " : "", cmd->synopsis ? cmd->synopsis : "");
}

static void print_flags(FILE *f, const sgw_cli_flag *flags)
{
    for (const sgw_cli_flag *fl = flags; fl && fl->name; fl++) {
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", fl->name, fl->arg ? " " : "",
                 fl->arg ? fl->arg : "");
        fprintf(f, "  %-24s %s\n", head, fl->help);
    }
}

static void cmd_help(FILE *f, const sgw_cli_cmd *cmd)
{
    fprintf(f, "usage: ");
    print_synopsis(f, cmd);
    fprintf(f, "\n\n%s\n", cmd->summary);
    if (cmd->details)
        fprintf(f, "\n%s", cmd->details);
    if (cmd->flags && cmd->flags[0].name) {
        fprintf(f, "\noptions:\n");
        print_flags(f, cmd->flags);
    }
    fprintf(f, "\ncommon options:\n");
    print_flags(f, common_flags);
    fprintf(f, "\nThe API key comes from --key-file FILE, --key KEY, or the environment:\n"
               "%s. It is never printed.\n\n%s",
            cmd->admin ? "$SMSGW_ADMIN_KEY, else $SMSGW_API_KEY (an admin key)" : "$SMSGW_API_KEY",
            exit_codes_text);
}

/* The commands under a group ("admin", "admin tenants"). */
static void group_help(FILE *f, int argc, char **argv, int nwords)
{
    fprintf(f, "usage: smsgw");
    for (int i = 1; i <= nwords; i++)
        fprintf(f, " %s", argv[i]);
    fprintf(f, " COMMAND [options]\n\ncommands:\n");
    const sgw_cli_cmd *c;
    FOR_EACH_CMD(c)
    {
        int m = match_words(c->path, argc, argv, 1);
        if ((m >= 0 ? m : -m - 1) < nwords)
            continue;
        char head[96];
        snprintf(head, sizeof head, "smsgw %s%s%s", c->path, c->args[0] ? " " : "", c->args);
        print_entry(f, head, 44, c->summary);
    }
    if (nwords == 1 && strcmp(argv[1], "admin") == 0)
        print_entry(f, "smsgw admin create-key", 44,
                    "offline: store a new admin key in a stopped gateway's data folder");
    fprintf(f, "\nEach takes --help.\n\n%s", exit_codes_text);
}

const char *sgw_cli_opt(const sgw_cli *c, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < c->nopt; i++)
        if (strcmp(c->opt[i].name, name) == 0)
            v = c->opt[i].val;
    return v;
}

int sgw_cli_has(const sgw_cli *c, const char *name)
{
    return sgw_cli_opt(c, name) != NULL;
}

int sgw_cli_usage_error(const sgw_cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "smsgw %s: ", c->cmd->path);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: ");
    print_synopsis(stderr, c->cmd);
    fprintf(stderr, "\n  (see smsgw %s --help)\n", c->cmd->path);
    return SGW_CLI_USAGE;
}

long sgw_cli_opt_long(const sgw_cli *c, const char *name, long dflt, long min, long max)
{
    const char *v = sgw_cli_opt(c, name);
    if (!v)
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        sgw_cli_usage_error(c, "--%s must be a whole number from %ld to %ld, not '%s'", name,
                            min, max, v);
        return -1;
    }
    return n;
}

static const sgw_cli_flag *find_flag(const sgw_cli_cmd *cmd, const char *name, size_t len)
{
    const sgw_cli_flag *tables[2] = { cmd->flags, common_flags };
    for (int t = 0; t < 2; t++)
        for (const sgw_cli_flag *f = tables[t]; f && f->name; f++)
            if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
                return f;
    return NULL;
}

/* argv[from..] into c's options and positional arguments. */
static int parse_args(sgw_cli *c, int argc, char **argv, int from)
{
    int opts_done = 0;
    for (int i = from; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && strcmp(a, "--") == 0) {
            opts_done = 1;
            continue;
        }
        if (opts_done || a[0] != '-' || a[1] == '\0') {
            if (c->npos == SGW_CLI_MAX_POS || c->npos >= c->cmd->npos_max)
                return sgw_cli_usage_error(c, "unexpected argument '%s'", a);
            c->pos[c->npos++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const sgw_cli_flag *f = a[1] == '-' ? find_flag(c->cmd, name, len) : NULL;
        if (!f)
            return sgw_cli_usage_error(c, "unknown option '%.*s'", (int)(len + 2), a);
        const char *val = "1";
        if (f->arg && eq) {
            val = eq + 1;
        } else if (f->arg) {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return sgw_cli_usage_error(c, "option --%s needs a value (%s)", f->name, f->arg);
            val = argv[++i];
        } else if (eq) {
            return sgw_cli_usage_error(c, "option --%s takes no value", f->name);
        }
        if (c->nopt == SGW_CLI_MAX_OPTS)
            return sgw_cli_usage_error(c, "too many options");
        c->opt[c->nopt].name = f->name;
        c->opt[c->nopt++].val = val;
    }
    if (c->npos < c->cmd->npos_min)
        return sgw_cli_usage_error(c, "missing %s", c->cmd->args);
    return SGW_CLI_OK;
}

static int wants_help(int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* No command matched: a group's help, or an unknown command. */
static int no_command(int argc, char **argv)
{
    int best = 0; /* words of argv that begin some command's path */
    const sgw_cli_cmd *c;
    FOR_EACH_CMD(c)
    {
        int m = match_words(c->path, argc, argv, 1);
        int n = m >= 0 ? m : -m - 1;
        if (n > best)
            best = n;
    }
    int next = 1 + best;
    if (next < argc && argv[next][0] != '-') {
        fprintf(stderr, "smsgw: unknown command '");
        for (int i = 1; i <= next; i++)
            fprintf(stderr, "%s%s", argv[i], i < next ? " " : "");
        fprintf(stderr, "' (see smsgw --help)\n\n");
        group_help(stderr, argc, argv, best);
        return SGW_CLI_USAGE;
    }
    if (wants_help(argc, argv, next)) {
        group_help(stdout, argc, argv, best);
        return SGW_CLI_OK;
    }
    fprintf(stderr, "smsgw: '");
    for (int i = 1; i <= best; i++)
        fprintf(stderr, "%s%s", argv[i], i < best ? " " : "");
    fprintf(stderr, "' needs a command (see smsgw --help)\n\n");
    group_help(stderr, argc, argv, best);
    return SGW_CLI_USAGE;
}

static int run(int argc, char **argv)
{
    const sgw_cli_cmd *cmd = NULL, *c;
    int words = 0;
    FOR_EACH_CMD(c)
    {
        int m = match_words(c->path, argc, argv, 1);
        if (m > words) {
            words = m;
            cmd = c;
        }
    }
    if (!cmd)
        return no_command(argc, argv);
    if (wants_help(argc, argv, 1 + words)) {
        cmd_help(stdout, cmd);
        return SGW_CLI_OK;
    }
    sgw_cli *cli = calloc(1, sizeof *cli);
    if (!cli)
        return SGW_CLI_UNREACHABLE;
    cli->cmd = cmd;
    int rc = parse_args(cli, argc, argv, 1 + words);
    if (rc == SGW_CLI_OK)
        rc = sgw_cli_connect_setup(cli);
    if (rc == SGW_CLI_OK) {
        sgw_cli_signals_install();
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = cmd->run(cli);
        curl_global_cleanup();
    }
    memset(cli->key, 0, sizeof cli->key);
    free(cli);
    fflush(stdout);
    return rc;
}

int sgw_cli_main(int argc, char **argv, int *rc)
{
    if (argc < 2)
        return 0;
    int claimed = 0;
    for (int i = 0; roots[i]; i++)
        claimed |= strcmp(argv[1], roots[i]) == 0;
    if (!claimed || (strcmp(argv[1], "admin") == 0 && argc > 2 &&
                     strcmp(argv[2], "create-key") == 0))
        return 0;
    *rc = run(argc, argv);
    return 1;
}

/* ------------------------------------------------------------ output */

const char *sgw_cli_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* A value as one line of text (caller frees): strings with line breaks and
 * tabs as spaces, a list of strings joined with ", ", anything else as
 * compact JSON. */
static char *cell(const json_t *v)
{
    if (!v || json_is_null(v))
        return strdup("-");
    if (json_is_string(v)) {
        char *s = strdup(json_string_value(v));
        for (char *p = s; p && *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' '; /* one line per row */
        return s;
    }
    size_t i, n = 1;
    json_t *x;
    int strings = json_is_array(v);
    json_array_foreach(v, i, x)
    {
        strings = strings && json_is_string(x);
        n += strings ? strlen(json_string_value(x)) + 2 : 0;
    }
    if (!strings)
        return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *s = calloc(1, n);
    json_array_foreach(v, i, x)
    {
        if (i)
            strcat(s, ", ");
        strcat(s, json_string_value(x));
    }
    return s;
}

void sgw_cli_print_fields(const json_t *obj)
{
    const char *k;
    json_t *v;
    int w = 0;
    json_object_foreach((json_t *)obj, k, v)
    {
        if ((int)strlen(k) > w)
            w = (int)strlen(k);
    }
    json_object_foreach((json_t *)obj, k, v)
    {
        char *s = cell(v);
        printf("%-*s  %s\n", w + 1, k, s ? s : "?");
        free(s);
    }
}

void sgw_cli_print_table(const json_t *rows, const char *const *cols)
{
    int ncol = 0, w[16];
    while (ncol < 16 && cols[ncol]) {
        w[ncol] = (int)strlen(cols[ncol]);
        ncol++;
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncol; c++) {
            char *s = cell(json_object_get(row, cols[c]));
            if (s && (int)strlen(s) > w[c])
                w[c] = (int)strlen(s);
            free(s);
        }
    }
    for (int c = 0; c < ncol; c++)
        printf("%-*s%s", c + 1 < ncol ? w[c] : 0, cols[c], c + 1 < ncol ? "  " : "\n");
    json_array_foreach(rows, i, row)
    {
        for (int c = 0; c < ncol; c++) {
            char *s = cell(json_object_get(row, cols[c]));
            printf("%-*s%s", c + 1 < ncol ? w[c] : 0, s ? s : "?", c + 1 < ncol ? "  " : "\n");
            free(s);
        }
    }
}
