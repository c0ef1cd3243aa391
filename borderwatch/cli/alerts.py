"""``borderwatch alerts``: list, add, remove, ack, close (and evaluate) alerts and their rules."""
from __future__ import annotations

import argparse
import json
import sys
import time

from borderwatch import access
from borderwatch.alerts import rules

USAGE = """examples:
  borderwatch alerts list                              alerts (newest first); --state new
  borderwatch alerts rules                             the rules
  borderwatch alerts add sensor_status --nation USA --param status=offline --hold-off 120
  borderwatch alerts add threat_surge --nation POL --param threat_type=illegal_crossing --param area=schengen
  borderwatch alerts remove R-1a2b3c
  borderwatch alerts ack A-202611011200-1a2b3c --note "patrol sent"
  borderwatch alerts close A-202611011200-1a2b3c --note "false alarm"
  borderwatch alerts evaluate                          once; --every 60 keeps evaluating
"""


NAME = "alerts"
HELP = "alert rules and alerts: list, add, remove, ack, close, evaluate"
DESCRIPTION = "Alert rules (set per nation) and the alerts they raise."
EPILOG = USAGE
FORMATTER = argparse.RawDescriptionHelpFormatter


def configure(p) -> None:
    p.add_argument("--as", dest="as_user", metavar="USER",
                   help="act as this account (its nation's rules and alerts, its role's rights)")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="ACTION")
    ls = verbs.add_parser("list", help="list alerts, newest first")
    ls.add_argument("--state", default="", choices=("", "new", "acknowledged", "closed"))
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    verbs.add_parser("rules", help="list alert rules")
    add = verbs.add_parser("add", help="add a rule: " + "; ".join(f"{k} ({v})" for k, v in rules.KINDS.items()))
    add.add_argument("kind", choices=tuple(rules.KINDS))
    add.add_argument("--nation", help="the nation that owns the rule (default: the --as account's)")
    add.add_argument("--name", default="", help="a name for the rule (default: the rule in words)")
    add.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="a rule parameter (repeatable); defaults: " +
                          "; ".join(f"{k}: {json.dumps(v)}" for k, v in rules.DEFAULTS.items()))
    add.add_argument("--hold-off", type=int, default=rules.DEFAULT_HOLD_OFF_MIN, metavar="MIN",
                     help=f"minutes before the same cause may raise a new alert (default {rules.DEFAULT_HOLD_OFF_MIN})")
    rm = verbs.add_parser("remove", help="remove a rule (its alerts stay)")
    rm.add_argument("rule_id")
    for verb, text in (("ack", "acknowledge an alert"), ("close", "close an alert"), ("comment", "comment on an alert")):
        v = verbs.add_parser(verb, help=text)
        v.add_argument("alert_id")
        v.add_argument("--note", default="", help="a comment kept with the change")
    assign = verbs.add_parser("assign", help="assign an alert to an account or team")
    assign.add_argument("alert_id")
    assign.add_argument("assignee")
    assign.add_argument("--note", default="")
    hist = verbs.add_parser("history", help="every state change of one alert")
    hist.add_argument("alert_id")
    ev = verbs.add_parser("evaluate", help="evaluate every rule now and store new alerts")
    ev.add_argument("--every", type=float, default=0, metavar="SECONDS", help="keep evaluating at this interval")


def _params(items: list[str]) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param {item!r}: write NAME=VALUE, e.g. status=offline")
        out[name.strip()] = value.strip()
    return out


def run(args) -> int:
    import borderwatch.alerts as alerts

    viewer = access.current()
    try:
        if args.verb == "list":
            df = alerts.alerts_frame(viewer, state=args.state, limit=args.limit)
            if args.json:
                for rec in df.to_dict("records"):
                    print(json.dumps(rec, default=str, ensure_ascii=False))
            else:
                cols = ["alert_id", "raised_at", "state", "nation", "title", "assignee", "acked_by"]
                print(df[cols].to_string(index=False) if len(df) else "no alerts")
        elif args.verb == "rules":
            df = alerts.rules_frame(viewer)
            print(df[["rule_id", "nation", "kind", "enabled", "hold_off_min", "rule"]].to_string(index=False)
                  if len(df) else "no alert rules")
        elif args.verb == "add":
            rule_id = alerts.add_rule(args.kind, _params(args.param), name=args.name, nation=args.nation,
                                      hold_off_min=args.hold_off, viewer=viewer)
            print(f"rule {rule_id} added")
        elif args.verb == "remove":
            alerts.remove_rule(args.rule_id, viewer=viewer)
            print(f"rule {args.rule_id} removed")
        elif args.verb in ("ack", "close", "comment", "assign"):
            action = {"ack": "acknowledge"}.get(args.verb, args.verb)
            alert = alerts.act(args.alert_id, action, note=args.note, assignee=getattr(args, "assignee", None),
                               viewer=viewer)
            print(f"alert {alert['alert_id']} {alert['state']}" + (f", assigned to {alert['assignee']}"
                                                                   if alert.get("assignee") else ""))
        elif args.verb == "history":
            print(alerts.history(args.alert_id, viewer).to_string(index=False))
        elif args.verb == "evaluate":
            while True:
                raised = alerts.evaluate()
                for a in raised:
                    print(f"{a['alert_id']} {a['nation']} {a['title']}")
                print(f"{len(raised)} new alert(s)", flush=True)
                if not args.every:
                    break
                time.sleep(args.every)
    except (alerts.AlertError, ValueError) as exc:
        print(f"borderwatch alerts: {exc}", file=sys.stderr)
        return 1
    return 0
