/* cmd_validate.c — `nslock validate [--format F] [-q] FILE...`.
 *
 * Each file goes through every stage that can find a problem: the loader
 * (YAML and schema), the registry (names, directories, references) and the
 * resolver (mapping rules). A stage runs whenever the one before produced
 * something to work on, so one run reports as much as it can. Everything
 * goes to stdout: the diagnostics are this command's output, not a
 * complaint about how it was run; usage errors go to stderr.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/connect.h"
#include "cli/validate_server.h"
#include "mapping/mapping.h"

static void usage(FILE *out)
{
    fputs("Usage: nslock validate [OPTIONS] FILE...\n"
          "\n"
          "Check nslock configuration files (FILE - reads standard input). Every\n"
          "problem is reported, sorted by position, compiler-style:\n"
          "  FILE:LINE:COL: error: MESSAGE      (or warning:)\n"
          "      LINE | the source line\n"
          "           |     ^\n"
          "then one summary line per file, and a total when there are several.\n"
          "\n"
          "Options:\n"
          "      --format FORMAT  text (the default), json, sarif (SARIF 2.1.0, for\n"
          "                       code scanning) or github (GitHub Actions annotations)\n"
          "  -J, --json           the same as --format=json: one JSON array of\n"
          "                       {file, line, column, severity, rule, message}\n"
          "      --no-source      text: leave out the source lines and carets\n"
          "  -q, --quiet          leave out warnings and summary lines\n"
          "      --against-server also list the locks held or awaited on the running\n"
          "                       server that would land in other databases under FILE\n"
          "                       (one FILE; exit 1 if any): the check before a new map\n"
          "                       is rolled out\n"
          "  -h, --help           print this help and exit\n",
          out);
    nsl_cli_socket_usage(out);
    fputs("\n"
          "Every diagnostic has a stable rule id (the `rule` of JSON, SARIF's ruleId).\n"
          "\n"
          "Exit status: 0 no errors (warnings allowed), 1 errors found (or, with\n"
          "--against-server, locks that would move), 2 a file unreadable or not YAML,\n"
          "a usage error, or no server to ask.\n",
          out);
}

static int usage_error(const char *fmt, const char *arg)
    __attribute__((format(printf, 1, 0)));

static int usage_error(const char *fmt, const char *arg)
{
    fputs("nslock validate: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'nslock validate --help'.\n", stderr);
    return NSL_EXIT_USAGE;
}

/* Runs every stage on one text; returns its exit status. */
static int validate_text(const char *name, const char *text, size_t len, nsl_diags *diags)
{
    nsl_config *cfg;
    size_t errors_before = nsl_diags_count(diags, NSL_DIAG_ERROR);
    nsl_config_status status = nsl_config_load_buffer(name, text, len, &cfg, diags);
    bool failed = status != NSL_CONFIG_OK;

    if (cfg) {
        /* Every stage runs as far as the file allows, so that one run
         * reports every problem. */
        nsl_registry *reg = nsl_registry_build_partial(cfg, diags);
        if (reg) {
            nsl_resolver *resolver = nsl_resolver_new(reg, diags);
            if (resolver)
                nsl_resolver_free(resolver);
            nsl_registry_free(reg);
        }
        nsl_config_free(cfg);
    }
    failed |= nsl_diags_count(diags, NSL_DIAG_ERROR) > errors_before;
    if (status == NSL_CONFIG_UNREADABLE)
        return NSL_EXIT_USAGE;
    return failed || nsl_diags_count(diags, NSL_DIAG_ERROR) ? NSL_EXIT_FAIL : NSL_EXIT_OK;
}

static void drop_warnings(nsl_diags *d)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->count; i++) {
        if (d->items[i].level == NSL_DIAG_WARNING) {
            free(d->items[i].file);
            free(d->items[i].message);
        } else {
            d->items[kept++] = d->items[i];
        }
    }
    d->count = kept;
}

/* Moves every diagnostic of from to the end of into; from ends empty. */
static void move_diags(nsl_diags *into, nsl_diags *from)
{
    if (into->count + from->count > into->capacity) {
        size_t cap = into->count + from->count;
        nsl_diag *items = realloc(into->items, cap * sizeof *items);
        if (!items) {
            fputs("nslock: out of memory\n", stderr);
            abort();
        }
        into->items = items;
        into->capacity = cap;
    }
    if (from->count)
        memcpy(into->items + into->count, from->items, from->count * sizeof *from->items);
    into->count += from->count;
    free(from->items);
    nsl_diags_init(from);
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* The file is valid: compile it again and compare the server's table. */
static int check_against_server(const char *name, const char *text, size_t len,
                                const char *socket_path)
{
    nsl_diags diags;
    nsl_diags_init(&diags);
    nsl_config *cfg = NULL;
    nsl_registry *reg = NULL;
    nsl_resolver *res = NULL;
    int status = NSL_EXIT_USAGE;
    if (nsl_config_load_buffer(name, text, len, &cfg, &diags) == NSL_CONFIG_OK
        && (reg = nsl_registry_build(cfg, &diags)) != NULL
        && (res = nsl_resolver_new(reg, &diags)) != NULL)
        status = nsl_validate_against_server(name, res, socket_path);
    nsl_resolver_free(res);
    nsl_registry_free(reg);
    nsl_config_free(cfg);
    nsl_diags_free(&diags);
    return status;
}

typedef enum output_format { FORMAT_TEXT, FORMAT_JSON, FORMAT_SARIF, FORMAT_GITHUB } output_format;

static bool parse_format(const char *arg, output_format *f)
{
    static const char *const names[] = {"text", "json", "sarif", "github"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(arg, names[i])) {
            *f = (output_format)i;
            return true;
        }
    return false;
}

int nsl_cmd_validate(int argc, char **argv)
{
    enum { OPT_FORMAT = 512, OPT_NO_SOURCE, OPT_AGAINST_SERVER };
    static const struct option options[] = {
        {"against-server", no_argument, NULL, OPT_AGAINST_SERVER},
        NSL_CONNECT_LONGOPTS,
        {"format", required_argument, NULL, OPT_FORMAT},
        {"json", no_argument, NULL, 'J'},
        {"no-source", no_argument, NULL, OPT_NO_SOURCE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    output_format format = FORMAT_TEXT;
    bool quiet = false, source = true, against_server = false;
    const char *socket_path = NULL;
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "Jqh", options, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT:
            if (!parse_format(optarg, &format))
                return usage_error("unknown format '%s' (text, json, sarif or github)", optarg);
            break;
        case 'J':
            format = FORMAT_JSON;
            break;
        case OPT_NO_SOURCE:
            source = false;
            break;
        case OPT_AGAINST_SERVER:
            against_server = true;
            break;
        case NSL_OPT_SOCKET:
            socket_path = optarg;
            break;
        case NSL_OPT_SERVER:
        case NSL_OPT_TOKEN_FILE:
            if (!nsl_cli_tcp_option("validate", c, optarg))
                return NSL_EXIT_USAGE;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return NSL_EXIT_OK;
        default:
            if (c == ':' || optopt == OPT_FORMAT || optopt == NSL_OPT_SOCKET
                || optopt == NSL_OPT_SERVER || optopt == NSL_OPT_TOKEN_FILE)
                return usage_error("missing argument for '%s'", argv[optind - 1]);
            if (optopt > 0 && optopt < 256) {
                char opt[2] = {(char)optopt, '\0'};
                return usage_error("unknown option '-%s'", opt);
            }
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("%s", "no file given");
    if (against_server && argc - optind != 1)
        return usage_error("%s", "--against-server checks one file");
    if (against_server && format != FORMAT_TEXT)
        return usage_error("%s", "--against-server prints text only");

    int worst = NSL_EXIT_OK, stdin_uses = 0;
    size_t total_errors = 0, total_warnings = 0;
    nsl_diags all;
    nsl_diags_init(&all);
    for (int i = optind; i < argc; i++)
        stdin_uses += !strcmp(argv[i], "-");
    if (stdin_uses > 1)
        return usage_error("%s", "standard input (-) given more than once");
    for (int i = optind; i < argc; i++) {
        const char *name = strcmp(argv[i], "-") ? argv[i] : NSL_CONFIG_STDIN;
        nsl_diags diags;
        nsl_diags_init(&diags);
        size_t len;
        char *text = nsl_config_read(argv[i], &len, &diags);
        int status = text ? validate_text(name, text, len, &diags) : NSL_EXIT_USAGE;
        if (status > worst)
            worst = status;
        nsl_diags_sort(&diags);
        if (quiet)
            drop_warnings(&diags);
        size_t errors = nsl_diags_count(&diags, NSL_DIAG_ERROR);
        size_t warnings = nsl_diags_count(&diags, NSL_DIAG_WARNING);
        total_errors += errors;
        total_warnings += warnings;
        if (format != FORMAT_TEXT) {
            move_diags(&all, &diags);
            free(text);
            continue;
        }
        if (source)
            nsl_diags_print_source(&diags, stdout, name, text, len);
        else
            nsl_diags_print(&diags, stdout);
        if (!quiet)
            printf("%s: %zu error%s, %zu warning%s\n", name, errors, plural(errors),
                   warnings, plural(warnings));
        nsl_diags_free(&diags);
        if (against_server && status == NSL_EXIT_OK)
            worst = check_against_server(name, text, len, socket_path);
        else if (against_server)
            printf("%s: not checked against the server: fix the errors first\n", name);
        free(text);
    }
    int files = argc - optind;
    if (format == FORMAT_TEXT && !quiet && files > 1)
        printf("%d files: %zu error%s, %zu warning%s\n", files, total_errors,
               plural(total_errors), total_warnings, plural(total_warnings));
    if (format == FORMAT_JSON)
        nsl_diags_print_json(&all, stdout);
    else if (format == FORMAT_SARIF)
        nsl_diags_print_sarif(&all, stdout, NSL_VERSION);
    else if (format == FORMAT_GITHUB)
        nsl_diags_print_github(&all, stdout);
    nsl_diags_free(&all);
    return worst;
}
