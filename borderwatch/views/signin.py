"""Sign-in and access control in the app: the gate every run passes, pages by role, audited downloads.

``app.py`` calls :func:`gate` first (it shows the sign-in form and stops the run until someone is
signed in), builds its pages with :func:`page` (a page the role lacks is hidden from the menu and
its address answers with a refusal, never the page), and pages wrap download callbacks in
:func:`download` (run for the signed-in viewer, audited). Everything else — what rows a viewer
sees — is enforced in the query gateway (``borderwatch/access.py``).
"""
from __future__ import annotations

import json
import re
from typing import Callable

import streamlit as st

from borderwatch import access, audit, auth, sessions

SESSION = "bw_signed_in"  # local: {"name", "sid"[, "cookie"]}; header / OIDC: {"name"}
COOKIE_TRIED = "bw_cookie_tried"  # this browser session already looked at its session cookie
COOKIE_CLEAR = "bw_cookie_clear"  # the browser's session cookie must go (signed out, refused)
OFF_BANNER = ("**Access control is off** (`BORDERWATCH_AUTH=off`): everything in the store is visible to "
              "whoever opens this page. For a single-user laptop only.")
PAGE_CAPABILITY = {"analysis": "analysis", "briefing": "briefing", "data": "import", "admin": "admin"}
ENDED = {"idle": "Your session has expired after a time without activity; please sign in again.",
         "expired": "Your session has reached its time limit; please sign in again.",
         "revoked": "You were signed out (in another tab, or by an administrator); please sign in again.",
         "unknown": "Your session is no longer known to the server; please sign in again.",
         "disabled": "Your account was disabled."}


def _md(text: str) -> str:
    """Text shown literally inside Markdown (account names, identities)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>$])", r"\\\1", str(text))


def address() -> str:
    """The address the browser's connection comes from: the TCP peer, which a reverse proxy on the
    same host makes 127.0.0.1 or ::1. (``st.context.ip_address`` answers None for those two, which
    would refuse every sign-in through a proxy on the same host: the peer is read from the
    session's client context, as Streamlit itself does for its own checks.)"""
    try:
        from streamlit.runtime.context import _get_client_context

        client = _get_client_context()
        peer = getattr(client, "remote_ip", None) if client is not None else None
        if isinstance(peer, str) and peer:
            return peer
    except Exception:  # another Streamlit version, or no browser connection
        pass
    try:
        value = st.context.ip_address
    except Exception:  # no browser connection
        return ""
    return value if isinstance(value, str) else ""  # (AppTest has no real connection)


def _set(viewer: access.Viewer) -> access.Viewer:
    st.session_state[access.SESSION_KEY] = viewer
    return viewer


# -- the session cookie -------------------------------------------------------------------------------
def cookie_script(value: str, max_age: int) -> str:
    """A script that sets (``max_age`` > 0) or deletes (0) the session cookie in the app's own
    document: strict same-site, whole site, Secure when the page came over https."""
    attrs = f"; Path=/; Max-Age={int(max_age)}; SameSite=Strict"
    return ("<script>document.cookie = " + json.dumps(f"{sessions.COOKIE}={value}{attrs}")
            + " + (window.location.protocol === 'https:' ? '; Secure' : '');</script>")


def _cookie_value() -> str:
    try:
        value = st.context.cookies.get(sessions.COOKIE)
    except Exception:  # no browser connection
        return ""
    return value if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_-]{20,100}", value) else ""


def _resume_from_cookie() -> dict | None:
    """A new browser session (a reload, a new tab) that brings an open session's cookie is signed
    in without a password; an unknown, revoked or expired one is refused (audited) and cleared."""
    if st.session_state.get(COOKIE_TRIED):
        return None
    st.session_state[COOKIE_TRIED] = True
    sid = _cookie_value()
    if not sid:
        return None
    result = sessions.check(sid)
    account = auth.get(result.session.account) if result.session else None
    disabled = result.session is not None and (account is None or account.disabled)
    reason = "disabled" if disabled else result.reason
    if not reason:
        audit.record("sign-in", actor=account.name, nation=account.nation, role=account.role, address=address(),
                     detail="local (session resumed)")
        return {"name": account.name, "sid": sid}
    who = result.session.account if result.session else ""
    if reason in ("idle", "expired"):
        audit.record("session-expired", actor=who, address=address(), detail=f"session cookie: {reason}")
    else:
        audit.record("sign-in", "refused", actor=who, address=address(), detail=f"session cookie: {reason}")
    st.session_state[COOKIE_CLEAR] = True
    st.session_state["bw_signin_note"] = ENDED[reason]
    return None


def sign_out(reason: str = "sign-out", *, revoke: bool = True) -> None:
    info = st.session_state.pop(SESSION, None)
    viewer = st.session_state.pop(access.SESSION_KEY, None)
    st.session_state[COOKIE_TRIED] = True  # the cookie this tab arrived with is not used again
    st.session_state[COOKIE_CLEAR] = True
    if info and info.get("sid") and revoke:
        sessions.revoke(info["sid"])
    if info and reason:
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
        if (st.session_state.get(SESSION) or {}).get("name") != viewer.name:  # once per browser session
            audit.record("sign-in", viewer=viewer, address=address(), detail=f"header {auth.header_name()}")
            st.session_state[SESSION] = {"name": viewer.name}
    elif mode == "oidc":
        viewer = _oidc()
    else:
        viewer = _local()
    _signed_in_box(viewer, mode)
    return viewer


def _local() -> access.Viewer:
    """The signed-in viewer, checked at every run against the server's session and the account
    (a revoked or expired session, a disabled account or a new role take effect at once)."""
    info = st.session_state.get(SESSION) or _resume_from_cookie()
    if info:
        st.session_state[SESSION] = info
        result = sessions.check(info["sid"])
        account = auth.get(info["name"])
        ended = "disabled" if account is None or account.disabled else result.reason
        if ended:
            # revoked / unknown: the sign-out (or the administrator's action) was audited where it happened
            sign_out("session-expired" if ended in ("idle", "expired", "disabled") else "", revoke=ended != "revoked")
            st.session_state["bw_signin_note"] = ENDED[ended]
        elif account.must_change:
            _at_any_address(lambda: _change_password_form(info["name"]))
        else:
            return _set(auth.viewer_of(account))
    _at_any_address(_sign_in_form)


def _at_any_address(form: Callable[[], None]) -> None:
    """Show ``form`` at whatever page address was asked for, then stop: the address survives the
    sign-in, so a deep link opens its page once signed in (or that page's refusal)."""
    from borderwatch import app_setup

    def page_for(slug: str) -> st.Page:
        def show() -> None:
            _cookie_element()
            form()
        show.__name__ = f"sign_in_{slug or 'home'}"
        return st.Page(show, title="Sign in", url_path=slug or None, default=not slug,
                       visibility="visible" if not slug else "hidden")

    slugs = ["", *(slug for *_, slug in app_setup.OPTIONAL_PAGES)]
    st.navigation([page_for(s) for s in slugs], position="hidden").run()
    st.stop()


def _cookie_element(container=st) -> None:
    """Set this tab's new session cookie, or delete a cookie that must go."""
    info = st.session_state.get(SESSION) or {}
    if info.get("cookie"):
        container.html(info["cookie"], unsafe_allow_javascript=True)
    elif st.session_state.get(COOKIE_CLEAR):
        container.html(cookie_script("", 0), unsafe_allow_javascript=True)


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
        sid = sessions.create(result.viewer.name, address=address())
        _, lifetime = sessions.limits()
        st.session_state[SESSION] = {"name": result.viewer.name, "sid": sid,
                                     "cookie": cookie_script(sid, int(lifetime.total_seconds()))}
        st.session_state.pop(COOKIE_CLEAR, None)
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
                st.rerun()


def _oidc() -> access.Viewer:
    if not st.user.is_logged_in:
        st.title("Borderwatch — sign in")
        st.button("Sign in with your organisation's identity provider", on_click=st.login, type="primary")
        st.stop()
    name = str(st.user.get("email") or st.user.get("sub") or "")
    info = st.session_state.get(SESSION)
    if sessions.provider_sign_in_ended(st.user.get("iat")):
        if info is None or info.get("ended") != name:
            audit.record("session-expired", actor=name, address=address(), detail="oidc: sign-in older than the "
                         "session lifetime")
            st.session_state[SESSION] = {"name": "", "ended": name}
        st.session_state.pop(access.SESSION_KEY, None)
        st.title("Borderwatch — sign in")
        st.info(ENDED["expired"])
        st.button("Sign in with your organisation's identity provider", on_click=st.login, type="primary")
        st.stop()
    viewer = auth.current_viewer(name) if auth.NAME_RE.match(name) else None
    if viewer is None:
        if info is None or info.get("refused") != name:  # once per browser session, not at every rerun
            audit.record("sign-in", "refused", actor=name, address=address(),
                         detail="OIDC identity has no enabled account")
            st.session_state[SESSION] = {"name": "", "refused": name}
        st.session_state.pop(access.SESSION_KEY, None)
        st.error(_md(f"No enabled Borderwatch account for {name or 'this identity'}: ask an administrator."),
                 icon=":material/block:")
        # Streamlit keeps the identity in a cookie for 30 days: without this the browser stays stuck here
        st.button("Sign out and use another identity", on_click=st.logout, icon=":material/logout:")
        st.stop()
    if not info or info.get("name") != name:
        audit.record("sign-in", viewer=viewer, address=address(), detail="oidc")
        st.session_state[SESSION] = {"name": name}
    return _set(viewer)


def _refuse_run(message: str) -> None:
    st.session_state.pop(access.SESSION_KEY, None)
    st.error(_md(message), icon=":material/block:")  # it may quote a header or identity
    st.stop()


def _signed_in_box(viewer: access.Viewer, mode: str) -> None:
    sb = st.sidebar
    sb.caption(f"Signed in as **{_md(viewer.name)}** · {viewer.nation} · {viewer.role}")
    if mode == "local":
        _cookie_element(sb)
    if mode == "local" and sb.button("Sign out", key="bw_sign_out", icon=":material/logout:"):
        sign_out()
        st.rerun()
    if mode == "oidc" and sb.button("Sign out", key="bw_sign_out", icon=":material/logout:"):
        sign_out()
        st.logout()  # also ends the session at the provider when it offers an end_session_endpoint


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

