/* cmd_validate.c — `nslock validate [--json] [-q] FILE...` (SPEC 2.1).
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
#include "mapping/mapping.h"

static void usage(FILE *out)
{
    fputs("Usage: nslock validate [OPTIONS] FILE...\n"
          "\n"
          "Check nslock configuration files. Every problem is reported, one per line,\n"
          "  FILE:LINE:COL: error: MESSAGE      (or warning:)\n"
          "sorted by position, then one summary line per file:\n"
          "  FILE: 2 errors, 1 warning\n"
          "\n"
          "Options:\n"
          "  -J, --json    print the diagnostics of all files as one JSON array of\n"
          "                {file, line, column, severity, message}; no summary lines\n"
          "  -q, --quiet   leave out warnings and summary lines\n"
          "  -h, --help    print this help and exit\n"
          "\n"
          "Exit status: 0 no errors (warnings allowed), 1 errors found,\n"
          "2 a file unreadable or not YAML, or a usage error.\n",
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

/* Runs every stage on one file; returns its exit status. */
static int validate_file(const char *path, nsl_diags *diags)
{
    nsl_config *cfg;
    size_t errors_before = nsl_diags_count(diags, NSL_DIAG_ERROR);
    nsl_config_status status = nsl_config_load_file(path, &cfg, diags);
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

int nsl_cmd_validate(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'J'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, quiet = false;
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "Jqh", options, NULL)) != -1) {
        switch (c) {
        case 'J':
            json = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return NSL_EXIT_OK;
        default:
            if (optopt) {
                char opt[2] = {(char)optopt, '\0'};
                return usage_error("unknown option '-%s'", opt);
            }
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("%s", "no file given");

    int worst = NSL_EXIT_OK;
    nsl_diags all;
    nsl_diags_init(&all);
    for (int i = optind; i < argc; i++) {
        nsl_diags diags;
        nsl_diags_init(&diags);
        int status = validate_file(argv[i], &diags);
        if (status > worst)
            worst = status;
        nsl_diags_sort(&diags);
        if (quiet)
            drop_warnings(&diags);
        if (json) {
            move_diags(&all, &diags);
            continue;
        }
        nsl_diags_print(&diags, stdout);
        if (!quiet) {
            size_t errors = nsl_diags_count(&diags, NSL_DIAG_ERROR);
            size_t warnings = nsl_diags_count(&diags, NSL_DIAG_WARNING);
            printf("%s: %zu error%s, %zu warning%s\n", argv[i], errors, plural(errors),
                   warnings, plural(warnings));
        }
        nsl_diags_free(&diags);
    }
    if (json)
        nsl_diags_print_json(&all, stdout);
    nsl_diags_free(&all);
    return worst;
}
