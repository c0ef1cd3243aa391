"""Administration (admin role): local accounts, the audit log, agreements. The audit log can be
read and exported here, never edited."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import queries
from borderwatch import access, audit, auth
from borderwatch.views import signin, ui
from borderwatch.store import default_store

ui.page_filter()  # the frame must have run (see ui.page_filter)
me = signin.require("admin")
store = default_store()
st.title("Administration")
users_tab, audit_tab, agreements_tab = st.tabs(["Accounts", "Audit log", "Agreements"])

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
