"""Rendering a snapshot's HTML to PNG in headless Chromium, with the network switched off.

Uses Debian's chromium (``/usr/bin/chromium``, or ``$BORDERWATCH_CHROMIUM``) through Playwright;
Playwright never downloads a browser here. The snapshot is loaded from a temporary file, and
every request other than that file and ``data:``/``blob:``/``about:`` URLs is aborted, so a
render can neither reach the network nor wait on it. The capture happens when the page reports
``window.bwReady`` (the map finished drawing), not after a fixed delay.

One browser per process is kept warm on a worker thread (Playwright's sync API belongs to the
thread that started it, while Streamlit runs each script on its own thread) and closed after
``IDLE_SECONDS`` without work.
"""
from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import os
import pathlib
import queue
import shutil
import tempfile
import threading
from urllib.parse import urlsplit

CHROMIUM_ENV = "BORDERWATCH_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
IDLE_SECONDS = 300.0
TIMEOUT_SECONDS = 60.0


class RenderError(RuntimeError):
    """The browser could not render a snapshot."""


class ChromiumMissing(RenderError):
    """No chromium to render with."""


def chromium_path() -> str | None:
    return shutil.which(os.environ.get(CHROMIUM_ENV, "").strip() or DEFAULT_CHROMIUM)


def missing_message() -> str:
    wanted = os.environ.get(CHROMIUM_ENV, "").strip() or DEFAULT_CHROMIUM
    return (f"PNG and PDF exports need Debian's chromium at {wanted} (install it with `make browser` "
            f"or set {CHROMIUM_ENV}); the offline HTML export works without it.")


def available() -> bool:
    if chromium_path() is None:
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@dataclasses.dataclass
class Capture:
    image: bytes  # PNG or JPEG
    blocked: list[str]  # requests the page tried and the renderer aborted
    errors: list[str]  # uncaught page errors and console errors
    drawn_paths: int  # vector paths Leaflet drew


_COUNT_PATHS = "() => document.querySelectorAll('.leaflet-container path').length"


def _capture(browser, html: str, width: int, height: int, scale: float, timeout_ms: int,
             image_type: str, quality: int | None) -> Capture:
    blocked: list[str] = []
    errors: list[str] = []
    # loaded from a file: a multi-megabyte document goes faster through a file than the protocol
    tmpdir = tempfile.TemporaryDirectory(prefix="borderwatch-render-")
    doc = pathlib.Path(tmpdir.name) / "snapshot.html"
    doc.write_text(html, encoding="utf-8")
    doc_url = doc.as_uri()
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale,
                                  service_workers="block")
    try:
        def route(r) -> None:
            url = r.request.url
            if url == doc_url or urlsplit(url).scheme in LOCAL_SCHEMES:
                r.continue_()
            else:
                blocked.append(url)
                r.abort("blockedbyclient")

        context.route("**/*", route)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(doc_url, wait_until="load", timeout=timeout_ms)
        try:
            page.wait_for_function("() => window.bwReady === true || !!window.bwError", timeout=timeout_ms)
        except Exception as exc:  # playwright's TimeoutError
            raise RenderError(f"the map did not finish drawing within {timeout_ms / 1000:.0f} s"
                              + (f" ({'; '.join(errors[:3])})" if errors else "")) from exc
        problem = page.evaluate("() => window.bwError || null")
        if problem:
            raise RenderError(f"the map did not draw: {problem}" + (f" ({'; '.join(errors[:3])})" if errors else ""))
        drawn = int(page.evaluate(_COUNT_PATHS))
        options = {"quality": quality} if image_type == "jpeg" and quality else {}
        image = page.screenshot(type=image_type, full_page=False, animations="disabled", **options)
        return Capture(image, blocked, errors, drawn)
    finally:
        context.close()
        tmpdir.cleanup()


class _Worker:
    """A thread that owns Playwright and a warm chromium; other threads submit jobs to it."""

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="borderwatch-render", daemon=True)
                self._thread.start()
            self._jobs.put((fn, future))
        return future

    def call(self, fn, timeout: float):
        future = self.submit(fn)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise RenderError(f"rendering took longer than {timeout:.0f} s") from exc

    def stop(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._jobs.put(None)
                self._thread.join(10)
            self._thread = None

    def _loop(self) -> None:
        pw = browser = None

        def close() -> None:
            nonlocal pw, browser
            for closer in (browser and browser.close, pw and pw.stop):
                if closer:
                    try:
                        closer()
                    except Exception:
                        pass
            pw = browser = None

        try:
            while True:
                try:
                    item = self._jobs.get(timeout=IDLE_SECONDS if browser is not None else None)
                except queue.Empty:
                    close()
                    continue
                if item is None:
                    return
                fn, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    if browser is None or not browser.is_connected():
                        close()
                        pw, browser = _launch()
                    future.set_result(fn(browser))
                except BaseException as exc:
                    if browser is not None and not browser.is_connected():
                        close()
                    future.set_exception(exc)
        finally:
            close()


def _launch():
    executable = chromium_path()
    if executable is None:
        raise ChromiumMissing(missing_message())
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ChromiumMissing("PNG and PDF exports need the playwright package (see requirements.txt); "
                              "the offline HTML export works without it.") from exc
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
    except Exception as exc:
        pw.stop()
        raise RenderError(f"chromium at {executable} did not start: {str(exc).splitlines()[0]}") from exc
    return pw, browser


_worker = _Worker()
atexit.register(_worker.stop)


def render_image(html: str, width: int, height: int, *, scale: float = 1.0, image_type: str = "png",
                 quality: int | None = None, timeout_s: float = TIMEOUT_SECONDS) -> Capture:
    """Load ``html`` in headless chromium (network blocked) at ``width`` x ``height`` CSS pixels,
    wait until the map reports it has drawn, and capture the page as PNG (or JPEG: faster to
    encode and embedded as is in a PDF)."""
    if image_type not in ("png", "jpeg"):
        raise ValueError(f"image_type must be png or jpeg, not {image_type!r}")
    if chromium_path() is None:
        raise ChromiumMissing(missing_message())
    timeout_ms = int(timeout_s * 1000)
    return _worker.call(
        lambda browser: _capture(browser, html, width, height, scale, timeout_ms, image_type, quality),
        timeout_s + 30)


def warm_up() -> None:
    """Start chromium in the background (no waiting), so that it is ready by the time the first
    snapshot has been built. Does nothing when chromium is missing."""
    if available():
        _worker.submit(lambda browser: None)


def shutdown() -> None:
    """Close the warm browser (tests, end of a command)."""
    _worker.stop()
