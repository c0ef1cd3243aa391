"""Administration (admin role): local accounts, feed sources, the audit log, agreements. The audit
log can be read and exported here, never edited."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import queries
from borderwatch import access, audit, auth
from borderwatch.feeds import read_status, sources
from borderwatch.feeds.status import folder_words
from borderwatch.views import signin, ui
from borderwatch.store import default_store

ui.page_filter()  # the frame must have run (see ui.page_filter)
me = signin.require("admin")
store = default_store()
st.title("Administration")
users_tab, sources_tab, audit_tab, agreements_tab = st.tabs(["Accounts", "Feed sources", "Audit log", "Agreements"])

with users_tab:
    st.dataframe(auth.list_users(store), hide_index=True, width="stretch")
    with st.form("adm_add"):
        c = st.columns(3)
        name = c[0].text_input("New account name", key="adm_name")
        nation = c[1].text_input("Nation (ISO3)", key="adm_nation", max_chars=3)
        role = c[2].selectbox("Role", access.ROLES, key="adm_role")
        if st.form_submit_button("Add account", icon=":material/person_add:"):
            try:
                password = auth.add_user(name, nation, role, by=me.name, store=store, address=signin.address())
                st.success(f"Added {name}. One-time password (shown once): `{password}`")
            except auth.AuthError as exc:
                st.error(str(exc))
    names = list(auth.list_users(store).name)
    if names:
        c = st.columns([2, 1, 1, 1, 1])
        who = c[0].selectbox("Account", names, key="adm_who")
        new_role = c[1].selectbox("Role", access.ROLES, key="adm_new_role")
        try:
            if c[2].button("Set role", key="adm_set_role"):
                auth.set_role(who, new_role, by=me.name, store=store, address=signin.address())
                st.success(f"{who} is now {new_role}.")
            if c[3].button("Disable / enable", key="adm_toggle"):
                account = auth.get(who, store)
                auth.set_disabled(who, not account.disabled, by=me.name, store=store, address=signin.address())
                st.success(f"{who} {'enabled' if account.disabled else 'disabled'}.")
            if c[4].button("Reset password", key="adm_reset"):
                st.success(f"New one-time password for {who} (shown once): "
                           f"`{auth.reset_password(who, by=me.name, store=store, address=signin.address())}`")
        except auth.AuthError as exc:
            st.error(str(exc))

with sources_tab:
    st.caption("Who may send to the feed service: a JSON lines connection starts with its source's token, a CoT "
               "over TLS client shows its source's certificate. What a source sends is owned by its nation and "
               "released as set here; tokens are shown once, when made, and stored only as hashes.")
    if (note := st.session_state.pop("adm_src_note", None)) is not None:
        st.success(note)

    def source_action(action, *args) -> None:
        """Run a source change; its outcome is shown above the refreshed table (the page reruns)."""
        try:
            st.session_state["adm_src_note"] = action(*args)
        except sources.SourceError as exc:
            st.error(ui.md(str(exc)))
            return
        st.rerun()

    with st.form("adm_src_add"):
        c = st.columns(3)
        src_name = c[0].text_input("New source name", key="adm_src_name", help="lower-case letters, digits, _")
        src_nation = c[1].text_input("Nation (ISO3)", key="adm_src_nation", max_chars=3)
        src_release = c[2].text_input("Release to", value="owner", key="adm_src_release",
                                      help="public, owner, or nations and agreements, e.g. MEX,schengen")
        if st.form_submit_button("Add source", icon=":material/sensors:"):
            source_action(lambda: f"Added {ui.md(src_name)}. Token (shown once): `" + sources.add(
                src_name, src_nation, src_release, by=me.name, store=store, address=signin.address()) + "`")
    registered = sources.list_sources(store)
    st.dataframe(registered, hide_index=True, width="stretch")
    active = list(registered[registered.state == "active"].name)
    if active:
        c = st.columns([2, 1, 1])
        which = c[0].selectbox("Source", active, key="adm_src_which")
        if c[1].button("Revoke", key="adm_src_revoke", icon=":material/block:"):
            source_action(lambda: sources.revoke(which, by=me.name, store=store, address=signin.address())
                          or f"{ui.md(which)} revoked: its token and certificate are refused from now on.")
        if c[2].button("New token", key="adm_src_rotate"):
            source_action(lambda: f"New token for {ui.md(which)} (shown once; the old one stops working): `"
                          + sources.rotate(which, by=me.name, store=store, address=signin.address()) + "`")
    feed = read_status(store)
    listeners = [l for l in feed.get("listeners", []) if l.get("protocol") != "folder"] if feed["running"] else []
    folder = next((l for l in feed.get("listeners", []) if l.get("protocol") == "folder"), None)
    if listeners:
        st.dataframe(pd.DataFrame(listeners).reindex(columns=["name", "bind", "port", "authentication"]),
                     hide_index=True)
        plain = [l["name"] for l in listeners if l.get("authentication") == "none"]
        st.caption(ui.md(f"Without authentication: {', '.join(plain)}; they listen on the addresses shown "
                         "(loopback unless the service runs with --open-remote).") if plain else
                   "Every listener authenticates its senders.")
    if not feed["running"]:
        st.caption("The feed service is not running (borderwatch feeds).")
    elif folder:
        st.caption(ui.md(folder_words(folder)))

with audit_tab:
    action = st.selectbox("Action", ["", *audit.ACTIONS], format_func=lambda a: a or "all", key="adm_action")
    log = audit.entries(store, action=action, limit=5000)
    st.dataframe(log.drop(columns=["prev_hash", "hash"]), hide_index=True, width="stretch")
    problems = audit.verify(store)
    (st.error if problems else st.caption)("; ".join(problems) if problems else
                                            "Hash chain intact: no entry was changed or removed.")
    st.download_button("Export the audit log (CSV)",
                       signin.download("export", lambda: audit.to_csv(log.drop(columns=["prev_hash"])),
                                       rows=lambda _: len(log), detail="audit log"),
                       file_name="borderwatch_audit.csv", mime="text/csv", on_click="ignore", key="adm_audit_csv")

with agreements_tab:
    st.caption("Agreements and their members (with the dates access rules use) come from "
               "data/reference/agreements.json; edit that file and reload the reference data to change them.")
    st.dataframe(pd.DataFrame(queries.rows("agreement_memberships", store=store), columns=["agreement", "nation", "joined"]),
                 hide_index=True, width="stretch")
