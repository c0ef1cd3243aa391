"""Alerts: rules a nation's admins and analysts set, their firings, and what people do about them.

- **Rules** (``alert_rules``) belong to a nation and are one of ``rules.KINDS``. They are evaluated
  as that nation sees the store (every query through the gateway for a viewer of that nation),
  so an alert is derived only from rows the nation may see, and only viewers of that nation see
  it (docs/alerts.md says why).
- **Evaluation** (``evaluate``) runs after the feed service's commits, after imports and with
  ``borderwatch alerts evaluate``: each cause is stored once (``alerts``), not again while an
  alert for it is open or within the rule's hold-off.
- **State**: new → acknowledged (who, when) → closed, with an assignee and comments. Every change
  is a row of ``alert_events`` (who, when) and an audit-log entry.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from typing import Any

import pandas as pd

import queries
from borderwatch import access, audit
from borderwatch.alerts import rules
from borderwatch.filters import utcnow
from borderwatch.store import Store, default_store

log = logging.getLogger("borderwatch.alerts")

STATES = ("new", "acknowledged", "closed")
FAR_PAST, FAR_FUTURE = dt.datetime(1900, 1, 1), dt.datetime(2999, 1, 1)
MAX_NOTE = 2000


class AlertError(ValueError):
    """A request about rules or alerts that cannot be done, in one sentence."""


# -- who may do what ----------------------------------------------------------------------------
def may_edit_rules(viewer: access.Viewer) -> bool:
    """Rules are set by analysts and admins (and the unrestricted command line)."""
    return viewer.unrestricted or viewer.can("analysis")


def may_handle(viewer: access.Viewer) -> bool:
    """Acknowledging, assigning, commenting, closing: anyone signed in who sees the live map."""
    return viewer.unrestricted or viewer.can("live_map")


def _scope(viewer: access.Viewer) -> dict[str, Any]:
    return {"all": viewer.unrestricted, "nation": viewer.nation or ""}


# -- rules --------------------------------------------------------------------------------------
def _known(store: Store) -> tuple[set[str], set[str]]:
    return ({c for c, _ in queries.rows("nation_names", store=store)},
            {c for c, _ in queries.rows("agreement_names", store=store)})


def rules_frame(viewer: access.Viewer | None = None, store: Store | None = None, rule_id: str = "") -> pd.DataFrame:
    viewer = viewer or access.current()
    df = queries.df("alert_rules_list", store=store or default_store(), rule_id=rule_id, **_scope(viewer))
    df["rule"] = [rules.describe(k, json.loads(p)) for k, p in zip(df.kind, df.params)]
    return df


def add_rule(kind: str, params: dict | None = None, *, name: str = "", nation: str | None = None,
             hold_off_min: int = rules.DEFAULT_HOLD_OFF_MIN, viewer: access.Viewer | None = None,
             store: Store | None = None) -> str:
    """Add a rule owned by ``nation`` (default: the viewer's); returns its id."""
    viewer, store = viewer or access.current(), store or default_store()
    if not may_edit_rules(viewer):
        raise AlertError(f"{viewer.name} ({viewer.role}) may not set alert rules: that needs the analyst role or above")
    nation = (nation or viewer.nation or "").strip().upper()
    nations, agreements = _known(store)
    if nation not in nations:
        raise AlertError(f"a rule belongs to a nation in the store (ISO3, e.g. USA), not {nation or 'none'!r}")
    if not viewer.unrestricted and nation != viewer.nation:
        raise AlertError(f"{viewer.name} may set rules for {viewer.nation} only, not {nation}")
    try:
        p = rules.check(kind, params, nations=nations, agreements=agreements)
    except ValueError as exc:
        raise AlertError(str(exc)) from None
    hold = _hold_off(hold_off_min)
    rule_id = "R-" + secrets.token_hex(3)
    name = (name or "").strip()[:120] or rules.describe(kind, p)
    at = utcnow()
    with store.transaction() as cur:
        queries.execute("alert_rule_insert", store=store, rule_id=rule_id, nation=nation, kind=kind, rule_name=name,
                        params=json.dumps(p, sort_keys=True), hold_off_min=hold, enabled=True, by=viewer.name, at=at)
        audit.record("alert-rule-added", viewer=viewer, detail=f"{rule_id} ({nation}) {kind}: {name}",
                     store=store, cur=cur)
    return rule_id


def _hold_off(value) -> int:
    try:
        hold = int(value)
    except (TypeError, ValueError):
        raise AlertError(f"hold-off must be a whole number of minutes, not {value!r}") from None
    if not 1 <= hold <= 7 * 1440:
        raise AlertError(f"hold-off must be between 1 minute and 7 days (10080 min), not {hold}")
    return hold


def _rule(rule_id: str, viewer: access.Viewer, store: Store) -> dict:
    df = queries.df("alert_rules_list", store=store, rule_id=rule_id, **_scope(viewer))
    if not len(df):
        raise AlertError(f"no alert rule {rule_id!r} that you may see")
    return df.iloc[0].to_dict()


def change_rule(rule_id: str, *, name: str | None = None, params: dict | None = None, hold_off_min=None,
                enabled: bool | None = None, viewer: access.Viewer | None = None, store: Store | None = None) -> None:
    viewer, store = viewer or access.current(), store or default_store()
    if not may_edit_rules(viewer):
        raise AlertError(f"{viewer.name} ({viewer.role}) may not change alert rules: that needs the analyst role or above")
    rule = _rule(rule_id, viewer, store)
    merged = {**json.loads(rule["params"]), **(params or {})}
    nations, agreements = _known(store)
    try:
        p = rules.check(rule["kind"], merged, nations=nations, agreements=agreements)
    except ValueError as exc:
        raise AlertError(str(exc)) from None
    hold = _hold_off(hold_off_min if hold_off_min is not None else rule["hold_off_min"])
    with store.transaction() as cur:
        queries.execute("alert_rule_update", store=store, rule_id=rule_id, rule_name=(name or rule["name"]).strip()[:120],
                        params=json.dumps(p, sort_keys=True), hold_off_min=hold,
                        enabled=bool(rule["enabled"]) if enabled is None else bool(enabled), by=viewer.name,
                        at=utcnow())
        audit.record("alert-rule-changed", viewer=viewer, store=store, cur=cur,
                     detail=f"{rule_id}: {json.dumps(p, sort_keys=True)}, hold-off {hold} min"
                            + ("" if enabled is None else f", {'enabled' if enabled else 'disabled'}"))


def remove_rule(rule_id: str, *, viewer: access.Viewer | None = None, store: Store | None = None) -> None:
    viewer, store = viewer or access.current(), store or default_store()
    if not may_edit_rules(viewer):
        raise AlertError(f"{viewer.name} ({viewer.role}) may not remove alert rules: that needs the analyst role or above")
    rule = _rule(rule_id, viewer, store)
    with store.transaction() as cur:
        queries.execute("alert_rule_delete", store=store, rule_id=rule_id)
        audit.record("alert-rule-removed", viewer=viewer, store=store, cur=cur,
                     detail=f"{rule_id} ({rule['nation']}) {rule['kind']}: {rule['name']}")


# -- evaluation ---------------------------------------------------------------------------------
def evaluate(store: Store | None = None, now: dt.datetime | None = None, rule_id: str = "") -> list[dict]:
    """Evaluate every enabled rule (or one) and store new alerts; returns them. A rule that fails
    is logged and skipped, so one bad rule does not stop the others."""
    store, now = store or default_store(), now or utcnow()
    with access.viewing_as(access.SYSTEM):
        table = queries.df("alert_rules_list", store=store, rule_id=rule_id, all=True, nation="")
    if not len(table):
        return []
    memberships = access.Memberships.load(store)
    found = []
    for rule in table[table.enabled.fillna(False)].to_dict("records"):
        viewer = access.viewer_for(f"rule {rule['rule_id']}", rule["nation"], "viewer", memberships=memberships)
        hold = dt.timedelta(minutes=int(rule["hold_off_min"]))
        try:
            with access.viewing_as(viewer):
                causes = rules.evaluate(rule["kind"], json.loads(rule["params"]), now, store, hold)
        except Exception as exc:  # noqa: BLE001 - reported, the other rules still run
            log.error("alert rule %s could not be evaluated: %s", rule["rule_id"], exc)
            continue
        found.extend((rule, cause, hold) for cause in causes)
    if not found:
        return []
    raised = []
    with store.transaction() as cur:  # under the write lock: the check and the insert are one step
        for rule, cause, hold in found:
            if queries.scalar("alert_recent_cause", store=store, rule_id=rule["rule_id"], cause=cause.key,
                              since=now - hold):
                continue
            alert = {"alert_id": f"A-{now:%Y%m%d%H%M}-{secrets.token_hex(3)}", "rule_id": rule["rule_id"],
                     "rule_name": rule["name"], "nation": rule["nation"], "kind": rule["kind"], "cause": cause.key,
                     "segment_id": cause.segment_id, "title": cause.title[:300], "detail": cause.detail[:2000],
                     "evidence": json.dumps(list(cause.evidence)), "raised_at": now}
            queries.execute("alert_insert", store=store, **alert)
            queries.execute("alert_event_insert", store=store, alert_id=alert["alert_id"], at=now, actor="system",
                            action="raised", state="new", note=cause.detail[:MAX_NOTE])
            audit.record("alert-raised", actor="system", nation=rule["nation"], store=store, cur=cur,
                         detail=f"{alert['alert_id']} by rule {rule['rule_id']}: {cause.title}")
            raised.append(alert)
    return raised


def evaluate_quietly(store: Store, why: str) -> int:
    """Evaluate after new data arrived (feed commit, import): never raises, logs what it raised."""
    try:
        raised = evaluate(store)
    except Exception as exc:  # noqa: BLE001 - the data is stored; alerts catch up on the next run
        log.error("alerts not evaluated after %s: %s", why, exc)
        return 0
    if raised:
        log.info("%d alert(s) raised after %s", len(raised), why)
    return len(raised)


# -- the alert list and what people do about alerts ---------------------------------------------
def alerts_frame(viewer: access.Viewer | None = None, store: Store | None = None, *, state: str = "",
                 since: dt.datetime | None = None, until: dt.datetime | None = None, alert_id: str = "",
                 limit: int = 500) -> pd.DataFrame:
    if state and state not in STATES:
        raise AlertError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    viewer = viewer or access.current()
    return queries.df("alert_list", store=store or default_store(), cache=True, state=state, alert_id=alert_id,
                      since=since or FAR_PAST, until=until or FAR_FUTURE, max_rows=limit, **_scope(viewer))


def unacknowledged(viewer: access.Viewer | None = None, store: Store | None = None) -> tuple[int, list[str]]:
    """(alerts nobody has acknowledged yet, the segments they concern) for the viewer."""
    row = queries.rows("alert_counts", store=store or default_store(), **_scope(viewer or access.current()))[0]
    return int(row[0] or 0), sorted(row[1] or [])


def history(alert_id: str, viewer: access.Viewer | None = None, store: Store | None = None) -> pd.DataFrame:
    store = store or default_store()
    _alert(alert_id, viewer or access.current(), store)
    return queries.df("alert_events", store=store, alert_id=alert_id)


def _alert(alert_id: str, viewer: access.Viewer, store: Store) -> dict:
    df = alerts_frame(viewer, store, alert_id=str(alert_id).strip(), limit=1)
    if not len(df):
        raise AlertError(f"no alert {alert_id!r} that you may see")
    return {k: (None if pd.isna(v) else v) if not isinstance(v, (list, tuple)) else v
            for k, v in df.iloc[0].to_dict().items()}


ACTIONS = {"acknowledge": "alert-acknowledged", "assign": "alert-assigned", "comment": "alert-commented",
           "close": "alert-closed"}


def act(alert_id: str, action: str, *, note: str = "", assignee: str | None = None,
        viewer: access.Viewer | None = None, store: Store | None = None) -> dict:
    """Acknowledge, assign, comment on or close an alert; the change is kept and audited."""
    viewer, store = viewer or access.current(), store or default_store()
    if action not in ACTIONS:
        raise AlertError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if not may_handle(viewer):
        raise AlertError(f"{viewer.name} ({viewer.role}) may not handle alerts")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise AlertError(f"a comment may be at most {MAX_NOTE} characters, not {len(note)}")
    with store.transaction() as cur:  # read and change under the write lock: two clicks cannot race
        alert = _alert(alert_id, viewer, store)
        at = utcnow()
        state, who = alert["state"], viewer.name
        if action == "acknowledge":
            if state != "new":
                raise AlertError(f"alert {alert_id} is {state}, not new: only a new alert can be acknowledged")
            alert.update(state="acknowledged", acked_by=who, acked_at=at)
        elif action == "close":
            if state == "closed":
                raise AlertError(f"alert {alert_id} is already closed")
            alert.update(state="closed", closed_by=who, closed_at=at)
            if alert["acked_by"] is None:
                alert.update(acked_by=who, acked_at=at)
        elif action == "assign":
            assignee = (assignee or "").strip()
            if not assignee or len(assignee) > 120:
                raise AlertError("assign to whom? give an account or a team name (up to 120 characters)")
            alert["assignee"] = assignee
            note = f"assigned to {assignee}" + (f": {note}" if note else "")
        elif not note:
            raise AlertError("a comment cannot be empty")
        queries.execute("alert_update", store=store, alert_id=alert["alert_id"], state=alert["state"],
                        assignee=alert["assignee"], acked_by=alert["acked_by"], acked_at=alert["acked_at"],
                        closed_by=alert["closed_by"], closed_at=alert["closed_at"], at=at)
        queries.execute("alert_event_insert", store=store, alert_id=alert["alert_id"], at=at, actor=who,
                        action=action, state=alert["state"], note=note)
        audit.record(ACTIONS[action], viewer=viewer, store=store, cur=cur,
                     detail=f"{alert['alert_id']} ({alert['title']})" + (f": {note[:200]}" if note else ""))
    return alert
