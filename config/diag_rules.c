/* diag_rules.c — the catalogue of diagnostic kinds. Their ids are stable:
 * CI tools key suppressions and dashboards on them (SARIF ruleId). */
#include <string.h>

#include "config/config.h"

static const struct {
    const char *id;
    const char *text;
} rules[] = {
    /* reading the file */
    {"unreadable", "the file cannot be read"},
    {"not-yaml", "the file is not YAML text (encoding, control bytes)"},
    {"yaml-syntax", "a YAML syntax error"},
    {"yaml-documents", "more than one YAML document"},
    {"yaml-nesting", "YAML nested too deeply"},
    {"yaml-alias", "a YAML alias, which the configuration does not allow"},
    {"yaml-tag", "a YAML tag, which the configuration does not allow"},
    {"yaml-key", "a key that is not a scalar"},
    /* the schema */
    {"duplicate-key", "a key given twice in one mapping"},
    {"unknown-key", "a key the schema does not know"},
    {"missing-key", "a required key is missing"},
    {"empty-section", "databases or namespaces defines nothing"},
    {"wrong-type", "a value of the wrong type"},
    {"empty-value", "an empty value where one is required"},
    {"nul-byte", "a value containing a NUL byte"},
    {"not-a-number", "a value that must be a whole number"},
    {"out-of-range", "a number outside its allowed range"},
    {"invalid-name", "a database or namespace name that is not valid"},
    {"bad-listen", "server.listen is not HOST:PORT"},
    {"bad-http", "server.http is not HOST:PORT"},
    {"bad-io-method", "server.io_method is not auto, io_uring or epoll"},
    {"http-without-token", "server.http off the loopback without a token file"},
    {"path-too-long", "a path longer than the system allows"},
    {"missing-token-file", "TCP enabled without a token file"},
    {"bad-address", "an address that is not HOST:PORT"},
    {"bad-znode-path", "ha.path is not a ZooKeeper znode path"},
    {"ha-without-listen", "high availability without a TCP address for clients"},
    /* databases and namespaces */
    {"too-many-databases", "more databases than the server supports"},
    {"duplicate-database", "two databases with one name"},
    {"duplicate-directory", "two databases with one directory"},
    {"unknown-database", "a reference to a database that is not defined"},
    {"unused-database", "a database no namespace uses"},
    {"too-many-namespaces", "more namespaces than the server supports"},
    {"duplicate-namespace", "two namespaces with one name"},
    {"unknown-namespace", "a reference to a namespace that is not defined"},
    /* mapping rules */
    {"malformed-mapping", "a mapping rule that does not parse"},
    {"invalid-global", "a mapping rule with an invalid global name"},
    {"empty-range", "a subscript range whose bounds are equal"},
    {"reversed-range", "a subscript range whose bounds are reversed"},
    {"duplicate-mapping", "two mapping rules covering the same nodes"},
    {"overlapping-mapping", "mapping rules that overlap without nesting"},
    {"mapping-never-applies", "a mapping rule that other rules hide entirely"},
    {"redundant-mapping", "a mapping rule that changes nothing"},
    /* the tool itself */
    {"too-many-problems", "the report stopped after too many problems"},
    {"out-of-memory", "validation ran out of memory"},
    {"other", "another problem"},
};

const char *nsl_diag_rule_describe(const char *rule)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!strcmp(rules[i].id, rule))
            return rules[i].text;
    return NULL;
}
