#!/usr/bin/env python3
"""check_overlap.py -- the external overlap checker of the concurrency soak.

Reads the logs bench/soak_clients writes (one file per client, or a
directory of them) and checks, from what the clients were told and when
(CLOCK_MONOTONIC, system-wide, so the processes' times compare):

1. No overlap. A hold is [GRANT t, end], per (client, name, mode); its end
   is the client's RELEASE t, or the moment the client stopped believing it
   held the lock for another reason (LOST, ERROR, see below). Two holds of
   different clients on related names (the same name, or one an ancestor of
   the other: ^soak conflicts with ^soak(3), ^soak(3) with ^soak(3,1)) of
   which at least one is exclusive must not overlap in time. The client
   takes GRANT t after the answer arrived and RELEASE t before it sends the
   unlock, so a logged hold lies inside the server's own hold of that lock:
   logged holds that overlap are holds that overlapped, never a false alarm
   from the clients' scheduling.

2. Tokens only rise.
   a. Every grant (one GRANT event: one line per name of a multi-name grant,
      all with the same token and times) has a token of its own: no two
      grant events share a token.
   b. Causality: a grant whose answer arrived (t) before another request was
      even sent (t_req) was made by the server first, so it has the smaller
      token.
   c. Per lock: of two conflicting holds where the first ended before the
      second began, the first has the smaller token (as a server that
      serialises them must have handed them out).

   d. Across leaders (server epochs: an HA failover, or a restart): when the
      GRANT lines carry the granting server's epoch, the grants of each
      epoch form one period of time (sorted by the first grant answered in
      each): no grant of an earlier epoch is answered after the first grant
      of a later one (two leaders granting at once: split brain), epochs rise
      from one period to the next, and every token of a later epoch is above
      every token of every earlier one (a new leader reserves its tokens
      above all its predecessors handed out).

3. Reclaims keep their tokens: a CHECK line (the client compared what it
   holds with the server's SHOW after a reclaim) marked MISMATCH fails.

LOST -- the rule. The library reports a loss through nslock_on_lost, and the
client logs LOST at the callback's time t_lost: from then on it knows. So a
hold that was open at t_lost ends at t_lost, and a RELEASE the client logs
for it later is ignored. A hold cannot, however, end at some earlier moment
of the checker's choosing (e.g. when the server restarted, or when its grace
ran out): until t_lost the client still believed it held the lock, and that
belief is exactly what the soak checks. So every overlap that involves a
lost hold is a *lost overlap*: the server gave the lock to someone else
before the first client was told it had lost it. This is the window no
lease-less lock service can close (the library gives up at the server's
grace plus a second after it saw the connection drop; the server re-grants
when its grace ends; and a client that does not run -- stopped, paged out,
partitioned -- cannot be told anything); fencing tokens exist for it. Lost
overlaps are therefore reported separately, with how long the client went
on believing, and:
  - without --allow-lost (the soak's normal mode: the server is restarted
    well within its grace, so nothing may be lost at all) every LOST is a
    failure, and so is every lost overlap;
  - with --allow-lost, LOSTs are counted, and a lost overlap is accepted
    only when the lost hold is the older grant (the smaller token) -- its
    loss is what let the other grant happen, and storage fenced with the
    tokens rejects the older writer. An overlap in which the newer grant is
    the one that was later lost, and the older holder was never told
    anything, is a double grant all the same and fails.
A GRANT whose answer arrived after a LOST of the same client although its
request was sent before it (a race of the call with the keeper thread) is
reported as a warning and ended at once.

ERROR lines (a call failed with IO, TIMEOUT, PROTOCOL, ...: the library
closed the connection) end the client's open holds there too: the client
believes it holds nothing after them. They are failures of the soak on
their own (soak_clients exits 1), and counted here.

Holds still open at the end of a log (a client killed, a log cut off) last
forever here, and are reported.

Usage: check_overlap.py [--allow-lost] [--restarts FILE] [--max-report N] LOG|DIR...
       check_overlap.py --self-test
Exit status: 0 no violation, 1 violations (a report on stdout), 2 usage or
unreadable/malformed logs. The last line of the output is a machine-readable
SUMMARY key=value ... line.
"""

import argparse
import bisect
import os
import sys
import tempfile

INF = float("inf")


class Hold:
    __slots__ = ("client", "session", "mode", "name", "key", "token", "start", "t_req",
                 "end", "reason", "event", "src", "epoch")

    def __init__(self, client, session, mode, name, token, start, t_req, event, src, epoch=0):
        self.client = client
        self.session = session
        self.mode = mode
        self.name = name
        self.key = name_key(name)
        self.token = token
        self.start = start
        self.t_req = t_req
        self.end = INF
        self.reason = "unreleased"
        self.event = event
        self.src = src
        self.epoch = epoch

    def describe(self, t0):
        end = "open" if self.end == INF else "%.6f" % ((self.end - t0) / 1e9)
        return ("client %s session %s %s %s token %d [%.6f, %s] (%s; %s)"
                % (self.client, self.session, self.mode, self.name, self.token,
                   (self.start - t0) / 1e9, end, self.reason, self.src))


def name_key(name):
    """'^soak(3,1)' -> ('^soak', '3', '1'): an ancestor's key is a prefix."""
    if "(" not in name:
        return (name,)
    base, _, rest = name.partition("(")
    if not rest.endswith(")"):
        raise ValueError("bad lock name %r" % name)
    return (base,) + tuple(rest[:-1].split(","))


def related(a, b):
    n = min(len(a), len(b))
    return a[:n] == b[:n]


class Logs:
    def __init__(self):
        self.holds = []
        self.events = {}            # (client, t, token) -> [hold, ...]
        self.losts = []             # (client, t, code, src)
        self.errors = []            # (client, t, code, op, src)
        self.reclaims = []          # (client, session, locks, epoch, t)
        self.checks = 0
        self.mismatches = []
        self.warnings = []
        self.ends = {}              # client -> dict of END counters
        self.clients = set()
        self.t0 = None
        self.t_last = 0


def parse_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".log"))
        else:
            files.append(p)
    if not files:
        raise SystemExit("check_overlap: no logs given")
    logs = Logs()
    per_client = {}
    for path in files:
        with open(path, encoding="ascii", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                src = "%s:%d" % (os.path.basename(path), lineno)
                w = line.split()
                if not w:
                    continue
                try:
                    rec = parse_line(w, src)
                except (ValueError, IndexError) as e:
                    raise SystemExit("check_overlap: %s: malformed line %r (%s)"
                                     % (src, line.rstrip("\n"), e))
                if rec is None:
                    continue
                client = rec[1]
                logs.clients.add(client)
                per_client.setdefault(client, []).append(rec)
    for client, recs in per_client.items():
        # The keeper thread's lines (LOST, RECLAIMED) may be written out of
        # time order with the client's own: order by time, the file's order
        # breaking ties.
        recs.sort(key=lambda r: r[2])
        build_holds(logs, client, recs)
    if logs.holds:
        logs.t0 = min(h.start for h in logs.holds)
    else:
        logs.t0 = 0
    return logs, files


def parse_line(w, src):
    """(kind, client, t, fields..., src), or None for lines only counted."""
    kind = w[0]
    if kind == "GRANT":
        # GRANT client session X|S name token t [t_req [epoch]]
        if w[3] not in ("X", "S"):
            raise ValueError("mode %r" % w[3])
        t_req = int(w[7]) if len(w) > 7 else None
        epoch = int(w[8]) if len(w) > 8 else 0
        return ("GRANT", w[1], int(w[6]), w[2], w[3], w[4], int(w[5]), t_req, src, epoch)
    if kind == "RELEASE":
        return ("RELEASE", w[1], int(w[3]), w[2], src)
    if kind == "LOST":
        return ("LOST", w[1], int(w[4]), w[2], w[3], src)
    if kind == "ERROR":
        return ("ERROR", w[1], int(w[5]), w[2], w[3], w[4], src)
    if kind == "RECLAIMED":
        return ("RECLAIMED", w[1], int(w[5]), w[2], int(w[3]), int(w[4]), src)
    if kind == "CHECK":
        return ("CHECK", w[1], 0, w[7] == "ok", " ".join(w), src)
    if kind == "OPEN":
        return ("OPEN", w[1], int(w[4]), src)
    if kind == "END":
        kv = dict(x.split("=", 1) for x in w[2:])
        return ("END", w[1], int(kv.get("t", 0)), kv, src)
    raise ValueError("unknown record %r" % kind)


def build_holds(logs, client, recs):
    open_holds = {}
    last_lost = None

    def end_all(t, reason):
        for h in open_holds.values():
            h.end = t
            h.reason = reason
        open_holds.clear()

    for r in recs:
        kind = r[0]
        logs.t_last = max(logs.t_last, r[2])
        if kind == "GRANT":
            _, _, t, session, mode, name, token, t_req, src, epoch = r
            ev = (client, t, token)
            h = Hold(client, session, mode, name, token, t, t_req, ev, src, epoch)
            logs.holds.append(h)
            logs.events.setdefault(ev, []).append(h)
            if name in open_holds:
                logs.warnings.append("%s: client %s was granted %s again while it held it (%s)"
                                     % (src, client, name, open_holds[name].src))
                prev = open_holds.pop(name)
                prev.end, prev.reason = t, "granted again"
            if last_lost is not None and t_req is not None and t_req < last_lost < t:
                logs.warnings.append("%s: client %s: grant of %s answered after the LOST at %s "
                                     "although requested before it: ended at once"
                                     % (src, client, name, last_lost))
                h.end, h.reason = t, "granted across a LOST"
                continue
            open_holds[name] = h
        elif kind == "RELEASE":
            _, _, t, name, src = r
            h = open_holds.pop(name, None)
            if h is not None:
                h.end, h.reason = t, "released"
        elif kind == "LOST":
            _, _, t, session, code, src = r
            logs.losts.append((client, t, code, src))
            last_lost = t
            end_all(t, "lost (%s)" % code)
        elif kind == "ERROR":
            _, _, t, session, code, op, src = r
            logs.errors.append((client, t, code, op, src))
            end_all(t, "error (%s in %s)" % (code, op))
        elif kind == "RECLAIMED":
            _, _, t, session, locks, epoch, src = r
            logs.reclaims.append((client, session, locks, epoch, t))
        elif kind == "CHECK":
            logs.checks += 1
            if not r[3]:
                logs.mismatches.append("%s: %s" % (r[5], r[4]))
        elif kind == "END":
            logs.ends[client] = r[3]


# ---- the checks --------------------------------------------------------------

def find_overlaps(holds):
    """Every pair of conflicting holds of different clients that overlap."""
    out = []
    active = []
    for b in sorted(holds, key=lambda h: h.start):
        active = [a for a in active if a.end > b.start]
        for a in active:
            if (a.client != b.client and (a.mode == "X" or b.mode == "X")
                    and related(a.key, b.key) and b.start < a.end and a.start < b.end):
                out.append((a, b))
        if b.end > b.start:
            active.append(b)
    return out


def classify_overlap(a, b, allow_lost):
    """'double' (a failure) or 'lost-ok' / 'lost' for overlaps with a lost hold."""
    a_lost = a.reason.startswith("lost")
    b_lost = b.reason.startswith("lost")
    if not (a_lost or b_lost):
        return "double"
    older, newer = (a, b) if a.token < b.token else (b, a)
    if older.reason.startswith("lost") and allow_lost:
        return "lost-ok"
    if older.reason.startswith("lost"):
        return "lost"
    return "double"


def token_checks(logs):
    """The violations of rule 2, as (headline, witness, victim) triples: the
    report groups them by headline and witness, so that one grant with a
    wrong token reads as one problem with a count, not thousands of lines."""
    out = []
    t0 = logs.t0
    # a. one token per grant event
    by_token = {}
    for ev, hs in logs.events.items():
        by_token.setdefault(ev[2], []).append(hs[0])
    for token, hs in sorted(by_token.items()):
        for h in hs[1:]:
            out.append(("token %d was handed out by more than one grant:" % token, hs[0], h))
    # b. a grant answered before another request was sent has the smaller token
    evs = [hs[0] for hs in logs.events.values()]
    by_grant = sorted(evs, key=lambda h: h.start)
    by_req = sorted((h for h in evs if h.t_req is not None), key=lambda h: h.t_req)
    i, best = 0, None
    for b in by_req:
        while i < len(by_grant) and by_grant[i].start < b.t_req:
            if best is None or by_grant[i].token > best.token:
                best = by_grant[i]
            i += 1
        if best is not None and best.token >= b.token:
            out.append(("token went backwards: this grant was answered at %.6f, before the "
                        "requests of these later grants were sent, yet their tokens are not "
                        "larger:" % ((best.start - t0) / 1e9), best, b))
    # c. conflicting holds one after the other: the later one's token is larger
    names = {}
    for h in logs.holds:
        names.setdefault(h.key, []).append(h)
    index = {}
    for key, hs in names.items():
        for mode_set in ("all", "X"):
            sel = sorted((h for h in hs if h.end != INF and (mode_set == "all" or h.mode == "X")),
                         key=lambda h: h.end)
            ends = [h.end for h in sel]
            pmax, cur = [], None
            for h in sel:
                if cur is None or h.token > cur.token:
                    cur = h
                pmax.append(cur)
            index[(key, mode_set)] = (ends, pmax)
    keys = list(names)
    rel = {k: [o for o in keys if related(k, o)] for k in keys}
    for b in logs.holds:
        worst = None
        for other in rel[b.key]:
            ends, pmax = index[(other, "all" if b.mode == "X" else "X")]
            j = bisect.bisect_left(ends, b.start)
            if j and pmax[j - 1].token >= b.token and (worst is None
                                                       or pmax[j - 1].token > worst.token):
                worst = pmax[j - 1]
        if worst is not None:
            out.append(("token went backwards on a lock: this hold ended before these "
                        "conflicting holds began, yet their tokens are not larger:", worst, b))
    return out


def leader_periods(logs):
    """The grant events of each epoch (0, unknown, left out), as a list of
    (epoch, first answered, last answered, events) in the order of their
    first grant."""
    by_epoch = {}
    for hs in logs.events.values():
        if hs[0].epoch:
            by_epoch.setdefault(hs[0].epoch, []).append(hs[0])
    periods = []
    for epoch, hs in by_epoch.items():
        periods.append((epoch, min(h.start for h in hs), max(h.start for h in hs), hs))
    periods.sort(key=lambda p: p[1])
    return periods


def leader_checks(logs):
    """Rule 2d, as (headline, witness, victim) triples like token_checks."""
    out = []
    periods = leader_periods(logs)
    t0 = logs.t0
    top = None                     # the largest token of the earlier epochs
    for i, (epoch, first, last, hs) in enumerate(periods):
        if i:
            prev = periods[i - 1]
            if epoch <= prev[0]:
                out.append(("the epochs did not rise: epoch %d granted first at %.6f, after "
                            "epoch %d:" % (epoch, (first - t0) / 1e9, prev[0]),
                            min(prev[3], key=lambda h: h.start), min(hs, key=lambda h: h.start)))
            for p in periods[:i]:
                if p[2] > first:
                    late = [h for h in p[3] if h.start > first]
                    for h in sorted(late, key=lambda h: h.start)[:3]:
                        out.append(("two leaders granted at once: epoch %d granted this at "
                                    "%.6f, yet this grant of epoch %d was answered after it:"
                                    % (epoch, (first - t0) / 1e9, p[0]),
                                    min(hs, key=lambda h: h.start), h))
        if top is not None:
            for h in sorted((h for h in hs if h.token <= top.token), key=lambda h: h.token):
                out.append(("token went backwards across leaders: an earlier epoch handed out "
                            "this token, yet these grants of epoch %d (later) are not larger:"
                            % epoch, top, h))
        best = max(hs, key=lambda h: h.token)
        if top is None or best.token > top.token:
            top = best
    return out


def load_restarts(path):
    """RESTART k t_kill_ns t_up_ns lines written by bench/soak-restart."""
    out = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 4 and w[0] == "RESTART":
                out.append((int(w[1]), int(w[2]), int(w[3])))
    return out


def near_restart(t, restarts, t0):
    if not restarts:
        return ""
    k, kill, up = min(restarts, key=lambda r: abs(t - r[1]))
    return " [%+.3f s from the kill of restart %d]" % ((t - kill) / 1e9, k)


def check(paths, allow_lost=False, restarts_file=None, max_report=20, out=sys.stdout):
    logs, files = parse_files(paths)
    restarts = load_restarts(restarts_file) if restarts_file else []
    t0 = logs.t0

    def p(*a):
        print(*a, file=out)

    failures = 0
    overlaps = find_overlaps(logs.holds)
    kinds = {"double": [], "lost": [], "lost-ok": []}
    for a, b in overlaps:
        kinds[classify_overlap(a, b, allow_lost)].append((a, b))
    for kind, title in (("double", "OVERLAP: conflicting holds of two clients overlapped"),
                        ("lost", "LOST OVERLAP (a failure: nothing may be lost in this run)"),
                        ("lost-ok", "lost overlap (accepted: the older grant was lost, tokens rose)")):
        pairs = kinds[kind]
        if not pairs:
            continue
        p("%s: %d" % (title, len(pairs)))
        for a, b in pairs[:max_report]:
            first, second = (a, b) if a.start <= b.start else (b, a)
            lag = ""
            lost = [h for h in (a, b) if h.reason.startswith("lost")]
            if lost:
                other = b if lost[0] is a else a
                lag = "; the client was told %.3f s after the other grant" % (
                    (lost[0].end - other.start) / 1e9)
            p("  %s\n  %s\n    overlap %.6f s%s%s" % (
                first.describe(t0), second.describe(t0),
                (min(a.end, b.end) - max(a.start, b.start)) / 1e9 if min(a.end, b.end) != INF
                else INF, lag, near_restart(second.start, restarts, t0)))
        if len(pairs) > max_report:
            p("  ... %d more" % (len(pairs) - max_report))
    failures += len(kinds["double"]) + len(kinds["lost"])

    def report(title, found, requested):
        """Violations grouped by headline and witness, a few victims each."""
        groups = {}
        for headline, witness, victim in found:
            groups.setdefault((headline, id(witness)), (headline, witness, []))[2].append(victim)
        p("%s: %d violations" % (title, len(found)))
        for n, (headline, witness, victims) in enumerate(groups.values()):
            if n == max_report:
                p("  ... %d more groups" % (len(groups) - max_report))
                break
            p("  " + headline)
            p("    " + witness.describe(t0))
            for v in victims[:3]:
                p("    " + v.describe(t0)
                  + (" requested at %.6f" % ((v.t_req - t0) / 1e9)
                     if requested and v.t_req is not None else ""))
            if len(victims) > 3:
                p("    ... and %d more" % (len(victims) - 3))

    tok = token_checks(logs)
    if tok:
        report("TOKENS", tok, True)
    failures += len(tok)

    lead = leader_checks(logs)
    if lead:
        report("LEADERS", lead, False)
    failures += len(lead)
    periods = leader_periods(logs)

    if logs.mismatches:
        p("RECLAIMED TOKEN MISMATCH: %d" % len(logs.mismatches))
        for m in logs.mismatches[:max_report]:
            p("  " + m)
    failures += len(logs.mismatches)

    if logs.losts:
        p("%s: %d" % ("LOST" if not allow_lost else "lost (allowed)", len(logs.losts)))
        for client, t, code, src in logs.losts[:max_report]:
            p("  client %s told %s at %.6f (%s)%s" % (client, code, (t - t0) / 1e9, src,
                                                     near_restart(t, restarts, t0)))
        if not allow_lost:
            failures += len(logs.losts)
    if logs.errors:
        p("ERROR: %d calls failed unexpectedly" % len(logs.errors))
        for client, t, code, op, src in logs.errors[:max_report]:
            p("  client %s: %s failed with %s at %.6f (%s)%s" % (
                client, op, code, (t - t0) / 1e9, src, near_restart(t, restarts, t0)))
        failures += len(logs.errors)
    unreleased = [h for h in logs.holds if h.end == INF]
    if unreleased:
        p("UNRELEASED: %d holds still open at the end of their log" % len(unreleased))
        for h in unreleased[:max_report]:
            p("  " + h.describe(t0))
        failures += len(unreleased)
    missing_end = sorted(logs.clients - set(logs.ends))
    if missing_end:
        p("INCOMPLETE: no END line from client(s) %s" % ", ".join(missing_end))
        failures += len(missing_end)
    for w in logs.warnings[:max_report]:
        p("warning: " + w)

    epochs = sorted({r[3] for r in logs.reclaims})
    reclaimed_locks = sum(r[2] for r in logs.reclaims)
    nonempty = sum(1 for r in logs.reclaims if r[2] > 0)
    modes = {"X": 0, "S": 0}
    for h in logs.holds:
        modes[h.mode] += 1
    multi = sum(1 for hs in logs.events.values() if len(hs) > 1)

    def end_sum(k):
        return sum(int(e.get(k, 0)) for e in logs.ends.values())

    span = (logs.t_last - t0) / 1e9 if logs.holds else 0.0
    p("checked %d logs, %d clients, %.1f s: %d grants (%d holds: %d X, %d S; %d multi-name), "
      "%d timed out, %d deadlocks" % (len(files), len(logs.clients), span, len(logs.events),
                                      len(logs.holds), modes["X"], modes["S"], multi,
                                      end_sum("timeouts"), end_sum("deadlocks")))
    p("reclaims: %d (%d holding locks, %d locks reclaimed) over %d epochs; %d token checks "
      "against SHOW after a reclaim, %d mismatches"
      % (len(logs.reclaims), nonempty, reclaimed_locks, len(epochs), logs.checks,
         len(logs.mismatches)))
    if restarts:
        downs = [(up - kill) / 1e6 for _, kill, up in restarts]
        p("restarts: %d, server down (kill to first answer) %.0f ms mean, %.0f ms max"
          % (len(restarts), sum(downs) / len(downs), max(downs)))
    if periods:
        unknown = sum(1 for hs in logs.events.values() if not hs[0].epoch)
        p("leaders: %d epochs granted, one after the other (%s); tokens by epoch: %s; %d grants "
          "of unknown epoch (reclaimed during the call)"
          % (len(periods), "ok" if not lead else "NOT", ", ".join(
              "%d: %d..%d" % (e, min(h.token for h in hs), max(h.token for h in hs))
              for e, _, _, hs in periods[:12]) + (", ..." if len(periods) > 12 else ""),
             unknown))
    p("verdict: %s" % ("FAIL (%d violations)" % failures if failures else "OK"))
    p("SUMMARY clients=%d grants=%d holds=%d multi=%d restarts=%d epochs=%d reclaims=%d "
      "reclaimed_locks=%d overlaps=%d lost_overlaps=%d lost_overlaps_accepted=%d losts=%d "
      "errors=%d token_violations=%d leader_violations=%d leaders=%d mismatches=%d "
      "unreleased=%d failures=%d"
      % (len(logs.clients), len(logs.events), len(logs.holds), multi, len(restarts),
         len(epochs), len(logs.reclaims), reclaimed_locks, len(kinds["double"]),
         len(kinds["lost"]), len(kinds["lost-ok"]), len(logs.losts), len(logs.errors),
         len(tok), len(lead), len(periods), len(logs.mismatches), len(unreleased), failures))
    return 1 if failures else 0


# ---- self-test -----------------------------------------------------------------

def self_test():
    """The checker against small hand-made histories, good and broken."""
    ms = 1000000
    cases = [
        ("clean", False, 0, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms)],
            "b": ["GRANT 1 2 X ^soak(1) 2 %d %d" % (21 * ms, 12 * ms),
                  "RELEASE 1 ^soak(1) %d" % (30 * ms),
                  "GRANT 1 2 S ^soak(2,0) 3 %d %d" % (31 * ms, 30 * ms),
                  "GRANT 1 2 S ^soak(2) 3 %d %d" % (31 * ms, 30 * ms),
                  "RELEASE 1 ^soak(2,0) %d" % (40 * ms), "RELEASE 1 ^soak(2) %d" % (40 * ms)],
            "c": ["GRANT 2 3 S ^soak(2) 4 %d %d" % (35 * ms, 34 * ms),
                  "RELEASE 2 ^soak(2) %d" % (45 * ms)]}),
        ("overlap, same name", False, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms)],
            "b": ["GRANT 1 2 X ^soak(1) 2 %d %d" % (19 * ms, 12 * ms),
                  "RELEASE 1 ^soak(1) %d" % (30 * ms)]}),
        ("overlap, ancestor", False, 1, {
            "a": ["GRANT 0 1 S ^soak 1 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak %d" % (20 * ms)],
            "b": ["GRANT 1 2 X ^soak(3,1) 2 %d %d" % (15 * ms, 12 * ms),
                  "RELEASE 1 ^soak(3,1) %d" % (30 * ms)]}),
        ("shared holds overlap freely", False, 0, {
            "a": ["GRANT 0 1 S ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms)],
            "b": ["GRANT 1 2 S ^soak(1) 2 %d %d" % (11 * ms, 9 * ms),
                  "RELEASE 1 ^soak(1) %d" % (30 * ms)]}),
        ("token reused", False, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 5 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms)],
            "b": ["GRANT 1 2 X ^soak(2) 5 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 1 ^soak(2) %d" % (30 * ms)]}),
        ("token went backwards", False, 2, {
            "a": ["GRANT 0 1 X ^soak(1) 7 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms)],
            "b": ["GRANT 1 2 X ^soak(1) 6 %d %d" % (25 * ms, 21 * ms),
                  "RELEASE 1 ^soak(1) %d" % (30 * ms)]}),
        ("a LOST is a failure in the normal mode", False, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "LOST 0 1 LOST %d" % (20 * ms), "RELEASE 0 ^soak(1) %d" % (21 * ms)],
            "b": ["GRANT 1 2 X ^soak(1) 2 %d %d" % (25 * ms, 12 * ms),
                  "RELEASE 1 ^soak(1) %d" % (30 * ms)]}),
        ("told before the other grant: no overlap", True, 0, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "LOST 0 1 LOST %d" % (20 * ms), "RELEASE 0 ^soak(1) %d" % (40 * ms)],
            "b": ["GRANT 1 2 X ^soak(1) 2 %d %d" % (25 * ms, 12 * ms),
                  "RELEASE 1 ^soak(1) %d" % (30 * ms)]}),
        ("told after the other grant, older hold lost: accepted with -L", True, 0, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "LOST 0 1 LOST %d" % (28 * ms)],
            "b": ["GRANT 1 2 X ^soak(1) 2 %d %d" % (25 * ms, 12 * ms),
                  "RELEASE 1 ^soak(1) %d" % (30 * ms)]}),
        ("the newer grant lost, the older never told: a double grant", True, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (40 * ms)],
            "b": ["GRANT 1 2 X ^soak(1) 2 %d %d" % (25 * ms, 12 * ms),
                  "LOST 1 2 LOST %d" % (30 * ms)]}),
        ("two leaders, tokens rise across them", False, 0, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d 5" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms),
                  "GRANT 0 3 X ^soak(2) 100 %d %d 9" % (50 * ms, 40 * ms),
                  "RELEASE 0 ^soak(2) %d" % (60 * ms)],
            "b": ["GRANT 1 2 X ^soak(3) 2 %d %d 5" % (12 * ms, 11 * ms),
                  "RELEASE 1 ^soak(3) %d" % (30 * ms),
                  "GRANT 1 4 X ^soak(4) 101 %d %d 0" % (45 * ms, 11 * ms),
                  "RELEASE 1 ^soak(4) %d" % (70 * ms)]}),
        ("a later leader's token below an earlier one's", False, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 50 %d %d 5" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms)],
            "b": ["GRANT 1 2 X ^soak(2) 40 %d %d 9" % (12 * ms, 5 * ms),
                  "RELEASE 1 ^soak(2) %d" % (30 * ms)]}),
        ("split brain: the old leader grants after the new one did", False, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d 5" % (10 * ms, 9 * ms),
                  "RELEASE 0 ^soak(1) %d" % (20 * ms),
                  "GRANT 0 1 X ^soak(2) 2 %d %d 5" % (40 * ms, 8 * ms),
                  "RELEASE 0 ^soak(2) %d" % (41 * ms)],
            "b": ["GRANT 1 2 X ^soak(3) 100 %d %d 9" % (30 * ms, 29 * ms),
                  "RELEASE 1 ^soak(3) %d" % (35 * ms)]}),
        ("reclaimed token mismatch", False, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms),
                  "CHECK 0 1 ^soak(1) 1 9 Exclusive MISMATCH",
                  "RELEASE 0 ^soak(1) %d" % (20 * ms)]}),
        ("unreleased hold", False, 1, {
            "a": ["GRANT 0 1 X ^soak(1) 1 %d %d" % (10 * ms, 9 * ms)]}),
    ]
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for n, (title, allow_lost, want, files) in enumerate(cases):
            sub = os.path.join(d, "case%d" % n)
            os.mkdir(sub)
            for name, lines in files.items():
                with open(os.path.join(sub, name + ".log"), "w") as f:
                    f.write("\n".join(lines + ["END %s t=0" % lines[0].split()[1]]) + "\n")

            class Sink:
                text = ""

                def write(self, s):
                    Sink.text += s

            sink = Sink()
            rc = check([sub], allow_lost=allow_lost, out=sink)
            got = int(Sink.text.rsplit("failures=", 1)[1].split()[0])
            ok = (got == want) and (rc == (1 if want else 0))
            print("%s: %s (failures %d, expected %d)" % ("ok" if ok else "FAILED", title, got,
                                                         want))
            if not ok:
                bad += 1
                print(Sink.text)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description="The soak's external overlap checker "
                                 "(see the module's comment for the rules).")
    ap.add_argument("logs", nargs="*", help="client logs, or directories of *.log")
    ap.add_argument("--allow-lost", action="store_true",
                    help="LOST is not a failure; a lost overlap is accepted when the lost hold "
                         "is the older grant")
    ap.add_argument("--restarts", help="the restart times bench/soak-restart recorded")
    ap.add_argument("--max-report", type=int, default=20, help="violations shown per kind")
    ap.add_argument("--self-test", action="store_true",
                    help="run the checker against small hand-made histories")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.logs:
        ap.error("no logs given")
    return check(a.logs, a.allow_lost, a.restarts, a.max_report)


if __name__ == "__main__":
    sys.exit(main())
