#!/usr/bin/env python3
"""Checks a SARIF 2.1.0 log for the properties its schema requires, and
that each result's rule index and location agree with the log itself.
Usage: check_sarif.py FILE EXPECTED_RESULTS"""
import json
import sys


def fail(msg):
    print("check_sarif: " + msg, file=sys.stderr)
    sys.exit(1)


def need(obj, key, kind, where):
    if key not in obj:
        fail("%s: missing required `%s`" % (where, key))
    if not isinstance(obj[key], kind):
        fail("%s: `%s` is not a %s" % (where, key, kind.__name__))
    return obj[key]


log = json.load(open(sys.argv[1]))
if need(log, "version", str, "sarifLog") != "2.1.0":
    fail("version is not 2.1.0")
runs = need(log, "runs", list, "sarifLog")
if len(runs) != 1:
    fail("expected one run, found %d" % len(runs))
run = runs[0]
driver = need(need(run, "tool", dict, "run"), "driver", dict, "tool")
if need(driver, "name", str, "driver") != "nslock":
    fail("tool name is not nslock")
rules = driver.get("rules", [])
ids = [need(r, "id", str, "rule") for r in rules]
if len(set(ids)) != len(ids):
    fail("duplicate rule ids")
for r in rules:
    need(need(r, "shortDescription", dict, "rule"), "text", str, "shortDescription")
results = need(run, "results", list, "run")
for i, res in enumerate(results):
    where = "result %d" % i
    need(need(res, "message", dict, where), "text", str, where + ".message")
    rule_id = need(res, "ruleId", str, where)
    index = need(res, "ruleIndex", int, where)
    if not 0 <= index < len(ids) or ids[index] != rule_id:
        fail("%s: ruleIndex %d does not name rule %s" % (where, index, rule_id))
    if res.get("level") not in ("error", "warning", "note", "none"):
        fail("%s: bad level %r" % (where, res.get("level")))
    for loc in need(res, "locations", list, where):
        phys = need(loc, "physicalLocation", dict, where + ".location")
        uri = need(need(phys, "artifactLocation", dict, where), "uri", str, where)
        if any(c in uri for c in " <>\"{}|\\^`"):
            fail("%s: uri %r is not a URI reference" % (where, uri))
        region = phys.get("region")
        if region is not None:
            if need(region, "startLine", int, where + ".region") < 1:
                fail(where + ": startLine < 1")
            if region.get("startColumn", 1) < 1:
                fail(where + ": startColumn < 1")
if len(results) != int(sys.argv[2]):
    fail("expected %s results, found %d" % (sys.argv[2], len(results)))
