"""Browser test harness: run a Streamlit script and drive it with Debian's chromium.

Used by the fixtures in ``conftest.py``; importable on its own for ad-hoc runs.

* :func:`start_streamlit` runs ``python -m streamlit run`` on a free port and
  yields the base URL once ``/_stcore/health`` answers.
* :func:`browser_page` opens chromium (never a Playwright-downloaded browser)
  with every request that does not go to localhost aborted and recorded.
* :func:`wait_for_app` / :func:`map_frame` wait, with bounded timeouts, for the
  app to settle and for Leaflet to draw inside streamlit-folium's iframe.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parents[1]

from borderwatch.exports.render import CHROMIUM_ARGS, CHROMIUM_ENV, DEFAULT_CHROMIUM  # noqa: E402

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Schemes that never touch the network.
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "file", "chrome-error"})

STARTUP_TIMEOUT_S = 60.0
DEFAULT_TIMEOUT_MS = 30_000

FOLIUM_IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
APP_ROOT = '[data-testid="stApp"]'


# --------------------------------------------------------------------------- #
# chromium
# --------------------------------------------------------------------------- #


def chromium_path() -> str | None:
    """Path of the chromium executable to use, or None if it is not installed.

    ``$BORDERWATCH_CHROMIUM`` overrides the Debian default ``/usr/bin/chromium``.
    """
    return shutil.which(os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM)


def chromium_missing_reason() -> str:
    wanted = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    return (
        f"chromium not found at {wanted!r}: install Debian's package "
        f"(`make browser`, i.e. apt-get install chromium) or set ${CHROMIUM_ENV}"
    )


# --------------------------------------------------------------------------- #
# Streamlit server
# --------------------------------------------------------------------------- #


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitURL(str):
    """The server's base URL (a plain ``str``) with the process and its log."""

    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


_no_proxy_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(url: str) -> bool:
    try:
        with _no_proxy_opener.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    # start_new_session=True made the server its own process-group leader.
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def start_streamlit(
    script_path: str | os.PathLike[str],
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    *,
    args: tuple[str, ...] = (),
    base_url_path: str = "",
    timeout: float = STARTUP_TIMEOUT_S,
) -> Iterator[StreamlitURL]:
    """Run ``streamlit run script_path`` and yield its base URL once healthy.

    The server runs from the project root (so ``.streamlit/config.toml``
    applies) with the project root on ``PYTHONPATH``; ``env`` entries (e.g.
    ``BORDERWATCH_STORE``) are added to the inherited environment, and ``args``
    are extra ``streamlit run`` options.  ``base_url_path`` serves the app
    under a sub-path (``server.baseUrlPath``), as behind a reverse proxy; the
    yielded URL includes it.  The whole process group is killed on exit.
    """
    script = Path(script_path).resolve()
    if not script.is_file():
        raise FileNotFoundError(script)
    port = port or free_port()
    run_env = dict(os.environ)
    run_env.update(env or {})
    run_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), run_env.get("PYTHONPATH", "")) if p
    )
    run_env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    run_env.setdefault("PYTHONUNBUFFERED", "1")
    command = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    base_path = base_url_path.strip("/")
    if base_path:
        command += ["--server.baseUrlPath", base_path]
    command += list(args)
    log_fd, log_name = tempfile.mkstemp(prefix="streamlit-", suffix=".log")
    with os.fdopen(log_fd, "wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=run_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = StreamlitURL(f"http://127.0.0.1:{port}" + (f"/{base_path}" if base_path else ""))
    url.process = process
    url.log_path = Path(log_name)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(f"{url}/_stcore/health"):
            if process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {process.returncode}:\n{url.log()[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"streamlit not healthy after {timeout:.0f}s:\n{url.log()[-4000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        _stop(process)
        url.log_path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- #
# Browser
# --------------------------------------------------------------------------- #


def is_local_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname in LOCAL_HOSTS


@dataclass
class BrowserSession:
    """A page plus what it tried to do that it should not have."""

    page: object  # playwright.sync_api.Page
    blocked: list[str] = field(default_factory=list)  # off-site requests (aborted)
    failed: list[str] = field(default_factory=list)  # local requests that failed / >= 400
    console_errors: list[str] = field(default_factory=list)  # console.error + uncaught

    def problems(self) -> dict[str, list[str]]:
        return {
            k: v
            for k, v in {
                "blocked": self.blocked,
                "failed": self.failed,
                "console_errors": self.console_errors,
            }.items()
            if v
        }


@contextlib.contextmanager
def launch_chromium() -> Iterator[object]:
    """Launch Debian's chromium through Playwright (yields a ``Browser``)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError(chromium_missing_reason())
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def browser_page(
    base_url: str | None = None,
    *,
    browser=None,
    viewport: tuple[int, int] = (1280, 900),
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Iterator[BrowserSession]:
    """Open a page on ``base_url`` with off-site traffic blocked.

    Uses ``browser`` (a Playwright ``Browser``) or launches chromium for the
    duration of the block.  Every request to a host other than
    localhost/127.0.0.1 is aborted and its URL appended to ``session.blocked``
    (a WebSocket to another host is recorded there too); local requests that
    fail or answer >= 400 go to ``session.failed``; console errors and uncaught
    exceptions go to ``session.console_errors``.  Service workers are blocked
    so that no request can bypass the routing.
    """
    with contextlib.ExitStack() as stack:
        if browser is None:
            browser = stack.enter_context(launch_chromium())
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            service_workers="block",
        )
        stack.callback(context.close)
        context.set_default_timeout(timeout_ms)
        page = context.new_page()
        session = BrowserSession(page=page)

        def route(route_obj) -> None:
            url = route_obj.request.url
            if is_local_url(url):
                route_obj.continue_()
            else:
                session.blocked.append(url)
                route_obj.abort("blockedbyclient")

        def on_request_failed(request) -> None:
            if request.url not in session.blocked:
                session.failed.append(f"{request.url} ({request.failure})")

        def on_response(response) -> None:
            if response.status >= 400:
                session.failed.append(f"{response.url} (HTTP {response.status})")

        def on_console(message) -> None:
            if message.type == "error":
                where = (message.location or {}).get("url", "")
                session.console_errors.append(f"{message.text} [{where}]")

        def on_websocket(ws) -> None:
            if not is_local_url(ws.url):
                session.blocked.append(ws.url)

        context.route("**/*", route)
        page.on("requestfailed", on_request_failed)
        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", lambda exc: session.console_errors.append(f"uncaught: {exc}"))
        page.on("websocket", on_websocket)
        if base_url is not None:
            page.goto(base_url)
        yield session


def wait_for_app(page, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
    """Wait until the app is connected to its server and no script is running."""
    page.wait_for_selector(
        f"{APP_ROOT}[data-test-connection-state='CONNECTED']", timeout=timeout_ms
    )
    page.wait_for_selector(
        f"{APP_ROOT}[data-test-script-state='notRunning']", timeout=timeout_ms
    )


def app_exceptions(page) -> list[str]:
    """Texts of the exception boxes Streamlit shows (empty if none)."""
    return page.locator('[data-testid="stException"]').all_inner_texts()


# Something drawn: an SVG vector, a marker/cluster icon, or (preferCanvas maps)
# a sized canvas in the overlay pane.
_LEAFLET_DRAWN = """() => {
  const container = document.querySelector('.leaflet-container');
  if (!container) return false;
  if (container.querySelector('path.leaflet-interactive, .leaflet-marker-icon')) return true;
  const canvas = container.querySelector('.leaflet-overlay-pane canvas');
  return !!canvas && canvas.width > 0 && canvas.height > 0;
}"""


def map_frame(page, timeout_ms: int = DEFAULT_TIMEOUT_MS, index: int = 0):
    """Frame of the ``index``-th st_folium map, once Leaflet has drawn in it.

    Waits for the ``.leaflet-container``, for at least one vector path or
    marker (or a canvas, for ``preferCanvas`` maps), and for the iframe to be
    visible (non-zero size).
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        iframe = page.locator(FOLIUM_IFRAME).nth(index)
        try:
            iframe.wait_for(state="attached", timeout=timeout_ms)
            frame = iframe.element_handle(timeout=timeout_ms).content_frame()
            if frame is None:
                raise RuntimeError("streamlit-folium iframe has no content frame")
            frame.wait_for_selector(".leaflet-container", timeout=timeout_ms)
            frame.wait_for_function(_LEAFLET_DRAWN, timeout=timeout_ms)
            # streamlit-folium sizes the iframe only after its whole script ran: a JS
            # error while building the map leaves it drawn but 0 px high.
            iframe.wait_for(state="visible", timeout=timeout_ms)
            return frame
        except Exception as exc:  # a rerun replaced the map's frame while we waited: wait for the new one
            if ("detached" not in str(exc) and "no content frame" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# --------------------------------------------------------------------------- #
# acting on the app as a person does
# --------------------------------------------------------------------------- #

_COUNT_BY_COLOUR = """(colours) => {
  const wanted = colours.map(c => c.toLowerCase());
  let n = 0;
  for (const p of document.querySelectorAll('.leaflet-container path')) {
    const s = (p.getAttribute('stroke') || '').toLowerCase(), f = (p.getAttribute('fill') || '').toLowerCase();
    if (wanted.includes(s) || wanted.includes(f)) n++;
  }
  return n;
}"""


def count_by_colour(frame, colours) -> int:
    """How many map shapes in ``frame`` are stroked or filled with one of ``colours``."""
    return frame.evaluate(_COUNT_BY_COLOUR, list(colours))


def address(page) -> str:
    """The address bar as the page itself has it. The app rewrites its URL in place (the filter,
    the map view); Playwright's ``page.url`` can miss such a same-document change."""
    return page.evaluate("location.href")


def wait_until(fn, timeout: float = 90.0, every: float = 0.25, what: str = "condition"):
    """Call ``fn`` until it returns something true (returned), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} not met within {timeout:.0f} s")


def sign_in(page, name: str, password: str, timeout_ms: int = 120_000) -> None:
    """Fill the sign-in form as a person does and wait until the app says who is signed in."""
    wait_for_app(page, timeout_ms)
    page.get_by_role("heading", name="Borderwatch — sign in").wait_for(timeout=timeout_ms)
    page.get_by_role("textbox", name="Account name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_for_app(page, timeout_ms)
    page.get_by_text(f"Signed in as {name}").wait_for(timeout=timeout_ms)


def live_map(page, timeout_ms: int = 120_000):
    """The live map's frame once Leaflet and the offline basemap are drawn."""
    wait_for_app(page, timeout_ms)
    frame = map_frame(page, timeout_ms)
    wait_until(lambda: frame.evaluate("window.bwBasemapLoaded === true"), timeout=timeout_ms / 1000,
               what="basemap drawn")
    return frame


def choose_in_multiselect(page, box, typed: str, option: str, timeout_ms: int = 60_000) -> None:
    """Open a multiselect, type to narrow it, and click the option once it is listed (a busy server
    may list it late: pressing Enter before that chooses nothing)."""
    box.click()
    page.keyboard.type(typed)
    page.get_by_role("option", name=option).first.click(timeout=timeout_ms)
    page.keyboard.press("Escape")
