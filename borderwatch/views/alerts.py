"""The Alerts page: the alert list with what people do about an alert, and the rules.

Any signed-in role that sees the live map may acknowledge, assign, comment on and close its
nation's alerts; analysts and admins also add, change and remove rules (see docs/alerts.md)."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

import borderwatch.alerts as alerts
from borderwatch import access
from borderwatch.views import ui
from borderwatch.alerts import rules
from borderwatch.domain import THREAT_LABELS, THREAT_TYPES
from borderwatch.filters import WINDOW_LABELS, WINDOWS
from borderwatch.store import default_store

STATE_CHOICES = {"open (new or acknowledged)": "open", "new": "new", "acknowledged": "acknowledged",
                 "closed": "closed", "all": ""}
COLUMNS = {"alert_id": "Alert", "raised_at": "Raised (UTC)", "state": "State", "title": "What", "segment_id": "Segment",
           "assignee": "Assigned to", "acked_by": "Acknowledged by", "rule_name": "Rule"}


def alert_list(viewer: access.Viewer) -> None:
    store = default_store()
    n_new, _ = alerts.unacknowledged(viewer, store)
    st.markdown(f"**{n_new:,} unacknowledged** alert{'s' if n_new != 1 else ''} for "
                f"{ui.md(viewer.nation or 'every nation')}.")
    label = st.selectbox("Show", list(STATE_CHOICES), key="al_state")
    state = STATE_CHOICES[label]
    frame = alerts.alerts_frame(viewer, store, state="" if state == "open" else state, limit=1000)
    if state == "open":
        frame = frame[frame.state != "closed"]
    if not len(frame):
        st.info("No alerts to show." if state else "No alerts yet: rules raise them as data arrives.")
        return
    st.dataframe(frame[list(COLUMNS)].rename(columns=COLUMNS), hide_index=True, width="stretch")
    picked = st.selectbox("Alert", list(frame.alert_id), key="al_pick",
                          format_func=lambda a: f"{a} · {frame.set_index('alert_id').title[a]}")
    alert_detail(frame.set_index("alert_id").loc[picked], picked, viewer)


def alert_detail(row: pd.Series, alert_id: str, viewer: access.Viewer) -> None:
    store = default_store()
    st.subheader(ui.md(row.title))
    st.markdown(ui.md(row.detail))
    facts = [f"state **{row.state}**", f"raised {row.raised_at:%Y-%m-%d %H:%M} UTC by rule {ui.md(row.rule_name)}"]
    if isinstance(row.acked_by, str):
        facts.append(f"acknowledged by {ui.md(row.acked_by)} at {row.acked_at:%Y-%m-%d %H:%M} UTC")
    if isinstance(row.assignee, str):
        facts.append(f"assigned to {ui.md(row.assignee)}")
    if isinstance(row.closed_by, str):
        facts.append(f"closed by {ui.md(row.closed_by)} at {row.closed_at:%Y-%m-%d %H:%M} UTC")
    st.caption(" · ".join(facts))
    evidence = json.loads(row.evidence or "[]")
    if evidence:
        st.caption("Evidence: " + ui.md(", ".join(evidence)))
    if alerts.may_handle(viewer):
        actions(row, alert_id, viewer)
    st.markdown("**History**")
    st.dataframe(alerts.history(alert_id, viewer, store), hide_index=True, width="stretch")


def actions(row: pd.Series, alert_id: str, viewer: access.Viewer) -> None:
    with st.form("al_act", border=True):
        note = st.text_area("Comment (kept with the change)", key="al_note", max_chars=alerts.MAX_NOTE)
        assignee = st.text_input("Assign to (account or team)", key="al_assignee")
        c = st.columns(4)
        pressed = {
            "acknowledge": c[0].form_submit_button("Acknowledge", disabled=row.state != "new", icon=":material/done:"),
            "assign": c[1].form_submit_button("Assign", disabled=row.state == "closed", icon=":material/person:"),
            "comment": c[2].form_submit_button("Comment", icon=":material/comment:"),
            "close": c[3].form_submit_button("Close", disabled=row.state == "closed", icon=":material/task_alt:"),
        }
    action = next((a for a, hit in pressed.items() if hit), None)
    if action:
        try:
            alerts.act(alert_id, action, note=note, assignee=assignee, viewer=viewer, store=default_store())
            st.session_state["al_done"] = f"Alert {alert_id}: {action} recorded."
            st.rerun()
        except alerts.AlertError as exc:
            st.error(str(exc))
    if st.session_state.get("al_done"):
        st.success(st.session_state.pop("al_done"))


def rules_tab(viewer: access.Viewer) -> None:
    store = default_store()
    frame = alerts.rules_frame(viewer, store)
    if len(frame):
        st.dataframe(frame[["rule_id", "nation", "name", "rule", "enabled", "hold_off_min", "created_by"]]
                     .rename(columns={"rule_id": "Rule", "nation": "Nation", "name": "Name", "rule": "Fires when",
                                      "enabled": "On", "hold_off_min": "Hold-off (min)", "created_by": "Set by"}),
                     hide_index=True, width="stretch")
    else:
        st.info("No alert rules for your nation yet.")
    if not alerts.may_edit_rules(viewer):
        st.caption("Rules are set by analysts and admins of your nation.")
        return
    add_rule_form(viewer)
    if len(frame):
        change_rule_form(viewer, frame)


def _param_inputs(kind: str) -> dict:
    nations = ui.choices()[0]
    p: dict = {}
    for name, default in rules.DEFAULTS[kind].items():
        key = f"al_p_{kind}_{name}"
        label = name.replace("_", " ").capitalize()
        if name == "nations":
            p[name] = st.multiselect("Only borders of (empty: all)", list(nations), key=key,
                                     format_func=lambda c: f"{nations.get(c, c)} ({c})")
        elif name == "level":
            p[name] = st.selectbox("Impact level", rules.LEVELS, key=key)
        elif name == "window":
            p[name] = st.selectbox("Window", list(WINDOWS), key=key, format_func=WINDOW_LABELS.get)
        elif name == "status":
            p[name] = st.selectbox("Sensor status", list(rules.SENSOR_STATES), index=1, key=key,
                                   format_func=lambda s: " or ".join(rules.SENSOR_STATES[s]))
        elif name == "threat_type":
            p[name] = st.selectbox("Threat type", THREAT_TYPES, key=key, format_func=THREAT_LABELS.get)
        elif name in ("area", "source"):
            p[name] = st.text_input("Area: nation (ISO3) or agreement id" if name == "area"
                                    else "Feed source (listener name; empty: any)", key=key)
        else:
            p[name] = st.number_input(label, value=default, key=key, min_value=type(default)(1))
    return p


def add_rule_form(viewer: access.Viewer) -> None:
    st.markdown("**Add a rule**")
    kind = st.selectbox("Fires when", list(rules.KINDS), key="al_kind", format_func=rules.KINDS.get)
    with st.form("al_add_rule"):
        nation = viewer.nation
        if viewer.unrestricted:
            nation = st.text_input("Nation that owns the rule (ISO3)", key="al_rule_nation", max_chars=3)
        name = st.text_input("Name (optional)", key="al_rule_name")
        params = _param_inputs(kind)
        hold = st.number_input("Hold-off (minutes before the same cause alerts again)", min_value=1,
                               max_value=7 * 1440, value=rules.DEFAULT_HOLD_OFF_MIN, key="al_hold")
        if st.form_submit_button("Add rule", icon=":material/add_alert:"):
            try:
                rid = alerts.add_rule(kind, params, name=name, nation=nation, hold_off_min=int(hold), viewer=viewer,
                                      store=default_store())
                st.success(f"Rule {rid} added; it is evaluated as data arrives.")
            except alerts.AlertError as exc:
                st.error(str(exc))


def change_rule_form(viewer: access.Viewer, frame: pd.DataFrame) -> None:
    st.markdown("**Change a rule**")
    c = st.columns([2, 1, 1, 1])
    rid = c[0].selectbox("Rule", list(frame.rule_id), key="al_rule_pick",
                         format_func=lambda r: f"{r} · {frame.set_index('rule_id').name[r]}")
    try:
        if c[1].button("Turn on", key="al_on"):
            alerts.change_rule(rid, enabled=True, viewer=viewer, store=default_store())
            st.rerun()
        if c[2].button("Turn off", key="al_off"):
            alerts.change_rule(rid, enabled=False, viewer=viewer, store=default_store())
            st.rerun()
        if c[3].button("Remove", key="al_remove", type="primary"):
            alerts.remove_rule(rid, viewer=viewer, store=default_store())
            st.rerun()
    except alerts.AlertError as exc:
        st.error(str(exc))
