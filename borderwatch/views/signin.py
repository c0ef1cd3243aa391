"""Sign-in and access control in the app: the gate every run passes, pages by role, audited downloads.

``app.py`` calls :func:`gate` first (it shows the sign-in form and stops the run until someone is
signed in), builds its pages with :func:`page` (a page the role lacks is hidden from the menu and
its address answers with a refusal, never the page), and pages wrap download callbacks in
:func:`download` (run for the signed-in viewer, audited). Everything else — what rows a viewer
sees — is enforced in the query gateway (``borderwatch/access.py``).
"""
from __future__ import annotations

import re
from typing import Callable

import streamlit as st

from borderwatch import access, audit, auth
from borderwatch.filters import utcnow

SESSION = "bw_signed_in"  # {"name", "since", "last"} of a local / header / OIDC sign-in
OFF_BANNER = ("**Access control is off** (`BORDERWATCH_AUTH=off`): everything in the store is visible to "
              "whoever opens this page. For a single-user laptop only.")
PAGE_CAPABILITY = {"analysis": "analysis", "briefing": "briefing", "data": "import", "admin": "admin"}


def _md(text: str) -> str:
    """Text shown literally inside Markdown (account names, identities)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$])", r"\\\1", str(text))


def address() -> str:
    try:
        value = st.context.ip_address
    except Exception:  # no browser connection
        return ""
    return value if isinstance(value, str) else ""  # (AppTest has no real connection)


def _viewer_now(name: str) -> access.Viewer | None:
    return auth.current_viewer(name)


def _set(viewer: access.Viewer) -> access.Viewer:
    st.session_state[access.SESSION_KEY] = viewer
    return viewer


def sign_out(reason: str = "sign-out") -> None:
    info = st.session_state.pop(SESSION, None)
    viewer = st.session_state.pop(access.SESSION_KEY, None)
    if info:
        audit.record(reason, viewer=viewer if isinstance(viewer, access.Viewer) else None, actor=info["name"],
                     address=address())


def gate() -> access.Viewer:
    """The viewer of this run; draws the sign-in form and stops the run when nobody is signed in."""
    mode = auth.mode()
    if mode == "off":
        st.warning(OFF_BANNER, icon=":material/lock_open:")
        return _set(access.Viewer("local user", None, "admin", unrestricted=True))
    if mode == "header":
        result = auth.from_header(st.context.headers, address())
        if result.viewer is None:
            _refuse_run(result.message)
        viewer = _set(result.viewer)
    elif mode == "oidc":
        viewer = _oidc()
    else:
        viewer = _local()
    _signed_in_box(viewer, mode)
    return viewer


def _local() -> access.Viewer:
    info = st.session_state.get(SESSION)
    now = utcnow()
    if info:
        idle, lifetime = auth.session_limits()
        viewer = _viewer_now(info["name"])
        if viewer is None or now - info["last"] > idle or now - info["since"] > lifetime:
            sign_out("session-expired")
            st.session_state["bw_signin_note"] = ("Your session has expired; please sign in again."
                                                  if viewer is not None else "Your account was disabled.")
        elif info.get("must_change"):
            _at_any_address(lambda: _change_password_form(info["name"]))
        else:
            info["last"] = now
            return _set(viewer)
    _at_any_address(_sign_in_form)


def _at_any_address(form: Callable[[], None]) -> None:
    """Show ``form`` at whatever page address was asked for, then stop: the address survives the
    sign-in, so a deep link opens its page once signed in (or that page's refusal)."""
    from borderwatch import app_setup

    def page_for(slug: str) -> st.Page:
        def show() -> None:
            form()
        show.__name__ = f"sign_in_{slug or 'home'}"
        return st.Page(show, title="Sign in", url_path=slug or None, default=not slug,
                       visibility="visible" if not slug else "hidden")

    slugs = ["", *(slug for *_, slug in app_setup.OPTIONAL_PAGES)]
    st.navigation([page_for(s) for s in slugs], position="hidden").run()
    st.stop()


def _sign_in_form() -> None:
    st.title("Borderwatch — sign in")
    note = st.session_state.pop("bw_signin_note", "")
    if note:
        st.info(note)
    with st.form("bw_signin"):
        name = st.text_input("Account name", key="bw_signin_name")
        password = st.text_input("Password", type="password", key="bw_signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    st.caption("Accounts are created by an administrator (`borderwatch users add`). A new or reset account "
               "signs in with its one-time password once and then chooses its own.")
    if submitted:
        result = auth.authenticate(name, password, address())
        if result.viewer is None:
            st.error(result.message)
            return
        now = utcnow()
        st.session_state[SESSION] = {"name": result.viewer.name, "since": now, "last": now,
                                     "must_change": result.must_change}
        st.rerun()
    st.stop()


def _change_password_form(name: str) -> None:
    st.title("Borderwatch — choose your password")
    st.info(f"**{_md(name)}** signed in with a one-time password: choose your own password to continue "
            f"(at least {auth.MIN_PASSWORD} characters).")
    with st.form("bw_new_password"):
        first = st.text_input("New password", type="password", key="bw_new_pw1")
        second = st.text_input("New password again", type="password", key="bw_new_pw2")
        submitted = st.form_submit_button("Set password", type="primary")
    if submitted:
        if first != second:
            st.error("The two passwords differ.")
        else:
            try:
                auth.change_password(name, first, address=address())
            except auth.AuthError as exc:
                st.error(str(exc))
            else:
                st.session_state[SESSION]["must_change"] = False
                st.rerun()


def _oidc() -> access.Viewer:
    if not st.user.is_logged_in:
        st.title("Borderwatch — sign in")
        st.button("Sign in with your organisation's identity provider", on_click=st.login, type="primary")
        st.stop()
    name = str(st.user.get("email") or st.user.get("sub") or "")
    info = st.session_state.get(SESSION)
    viewer = _viewer_now(name) if auth.NAME_RE.match(name) else None
    if viewer is None:
        audit.record("sign-in", "refused", actor=name, address=address(), detail="OIDC identity has no enabled account")
        _refuse_run(f"No enabled Borderwatch account for {name or 'this identity'}: ask an administrator.")
    if not info or info.get("name") != name:
        audit.record("sign-in", viewer=viewer, address=address(), detail="oidc")
        st.session_state[SESSION] = {"name": name, "since": utcnow(), "last": utcnow()}
    return _set(viewer)


def _refuse_run(message: str) -> None:
    st.session_state.pop(access.SESSION_KEY, None)
    st.error(_md(message), icon=":material/block:")  # it may quote a header or identity
    st.stop()


def _signed_in_box(viewer: access.Viewer, mode: str) -> None:
    sb = st.sidebar
    sb.caption(f"Signed in as **{_md(viewer.name)}** · {viewer.nation} · {viewer.role}")
    if mode == "local" and sb.button("Sign out", key="bw_sign_out", icon=":material/logout:"):
        sign_out()
        st.rerun()
    if mode == "oidc" and sb.button("Sign out", key="bw_sign_out", icon=":material/logout:"):
        sign_out()
        st.logout()


# -- pages and buttons by role ------------------------------------------------------------------------
def viewer() -> access.Viewer:
    return access.current()


def allowed(capability: str) -> bool:
    return access.current().can(capability)


def page(path: str, *, title: str, icon: str, url_path: str, **kw) -> st.Page:
    """The page if the viewer's role allows it; else a hidden page at the same address that refuses."""
    capability = PAGE_CAPABILITY.get(url_path, "live_map")
    if allowed(capability):
        return st.Page(path, title=title, icon=icon, url_path=url_path, **kw)

    def refused() -> None:
        v = access.current()
        audit.record("refused", viewer=v, address=address(), detail=f"page {url_path}")
        st.title(title)
        st.error(f"Access refused: your role ({v.role}) does not include {access.CAPABILITY_LABELS[capability]}; "
                 f"it needs the {access.CAPABILITIES[capability]} role or above. Ask an administrator.",
                 icon=":material/block:")

    refused.__name__ = f"refused_{url_path}"
    return st.Page(refused, title=title, icon=icon, url_path=url_path, visibility="hidden")


def require(capability: str) -> access.Viewer:
    """At the top of a page: stop with a refusal unless the viewer may use ``capability``."""
    v = access.current()
    if not v.can(capability):
        audit.record("refused", viewer=v, address=address(), detail=capability)
        st.error(f"Access refused: {access.CAPABILITY_LABELS[capability]} needs the "
                 f"{access.CAPABILITIES[capability]} role or above.", icon=":material/block:")
        st.stop()
    return v


def download(action: str, make: Callable[[], object], *, flt=None, detail: str = "",
             rows: Callable[[object], int | None] | None = None) -> Callable[[], object]:
    """A download callback that runs for the signed-in viewer (Streamlit calls it outside the
    script) and audits what it produced."""
    v, where = access.current(), address()
    capability = "briefing" if action == "briefing" else "data_export"
    v.require(capability)

    def run():
        with access.viewing_as(v):
            result = make()
            audit.record(action, viewer=v, address=where, flt=flt, rows=rows(result) if rows else None,
                         detail=detail)
        return result

    return run

