"""Offline map assets: serve or inline Leaflet & co. so no browser ever needs a CDN.

folium elements declare their JavaScript/CSS dependencies as class-level
``default_js`` / ``default_css`` lists of ``(name, url)`` pairs pointing at public
CDNs.  Both folium's own HTML rendering and streamlit-folium (which collects
those lists and loads them one by one, aborting at the first failure) use them,
so on an air-gapped site a map never renders unless they are rewritten.

This module

* copies the third-party files from the installed ``xstatic-*`` packages into
  ``static/vendor/`` (:func:`install_assets`), where Streamlit's static file
  serving (``server.enableStaticServing``) publishes them under ``app/static/``;
* rewrites, in one place, the asset lists of every element class the app uses
  (:func:`use_local_assets`);
* renders a map to a self-contained HTML document with every asset inlined
  (:func:`inline_assets_html`) for offline export;
* finds external references in HTML (:func:`external_urls`) and element classes
  (:func:`scan_classes`, :func:`check_map`) so tests and the export can prove
  that nothing points off-site.

URL prefix inside streamlit-folium
----------------------------------
``st_folium`` renders in a components-v1 iframe whose document is
``<server root>/component/streamlit_folium.st_folium/index.html``; the component
appends ``<script src=...>`` / ``<link href=...>`` for each collected URL, so a
relative URL is resolved against that iframe document, *not* against the
Streamlit page.  ``app/static/vendor/x.js`` would therefore end up at
``/component/streamlit_folium.st_folium/app/static/vendor/x.js`` (a 404).
:data:`STREAMLIT_URL_PREFIX` climbs the two levels back to the server root
(``../../app/static/vendor``), which keeps working when Streamlit runs under
``server.baseUrlPath`` or behind a reverse proxy that mounts it on a sub-path.
The absolute ``/app/static/vendor`` also works, but only when the app is served
at the origin's root.

Attribution
-----------
Leaflet's default attribution prefix is a link to leafletjs.com.  A small
generated script, loaded right after Leaflet, replaces the prefix with the plain
text "Leaflet" (the attribution is a courtesy, not a licence requirement, and an
air-gapped operator cannot follow the link anyway).  In the inline export the
link is also removed from the embedded copy of Leaflet's code so that the
document contains no external reference at all.  Licence headers in the
third-party files (``/* @preserve ... */``) are kept untouched.
"""

from __future__ import annotations

import base64
import importlib
import mimetypes
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import branca.colormap
import branca.element
import folium
import folium.elements
import folium.plugins

from borderwatch.fileio import write_atomic
from layers import maptools

__all__ = [
    "ABSOLUTE_URL_PREFIX",
    "STREAMLIT_URL_PREFIX",
    "USED_CLASSES",
    "OfflineAssetError",
    "check_map",
    "external_urls",
    "inline_assets_html",
    "install_assets",
    "local_assets_prefix",
    "offline_map",
    "scan_classes",
    "use_local_assets",
]

#: Prefix that works inside streamlit-folium's iframe (see module docstring).
STREAMLIT_URL_PREFIX = "../../app/static/vendor"
#: Equivalent absolute prefix, valid only when Streamlit is served at "/".
ABSOLUTE_URL_PREFIX = "/app/static/vendor"

VENDOR_DIRNAME = "vendor"


class OfflineAssetError(RuntimeError):
    """A map would need an asset that is not available offline."""


# --------------------------------------------------------------------------- #
# Asset manifest
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Asset:
    target: str  # path below static/vendor/, also the URL path below the prefix
    package: str | None = None  # xstatic module holding the file
    source: str | None = None  # path inside the package's data directory
    text: str | None = None  # generated content (for our own small scripts)

    def read_bytes(self) -> bytes:
        if self.text is not None:
            return self.text.encode("utf-8")
        return _source_path(self).read_bytes()


_LEAFLET_DEFAULTS_JS = """\
/* Borderwatch: Leaflet defaults for air-gapped use (generated, do not edit). */
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }
  // Plain-text attribution instead of Leaflet's default link to its web site.
  L.Control.Attribution.prototype.options.prefix = "Leaflet";
})();
"""


def _xstatic_base_dir(package: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OfflineAssetError(
            f"{package} is not installed; it ships the offline map assets "
            "(see requirements.txt)"
        ) from exc
    return Path(module.BASE_DIR)


def _source_path(asset: _Asset) -> Path:
    assert asset.package is not None and asset.source is not None
    return _xstatic_base_dir(asset.package) / asset.source


def _manifest() -> tuple[_Asset, ...]:
    leaflet = "xstatic.pkg.leaflet"
    cluster = "xstatic.pkg.leaflet_markercluster"
    assets = [
        _Asset("leaflet/leaflet.js", leaflet, "leaflet.js"),
        _Asset("leaflet/leaflet.css", leaflet, "leaflet.css"),
    ]
    images = sorted(p.name for p in (_xstatic_base_dir(leaflet) / "images").glob("*.png"))
    if not images:
        raise OfflineAssetError("xstatic-leaflet ships no images/*.png")
    assets += [_Asset(f"leaflet/images/{n}", leaflet, f"images/{n}") for n in images]
    assets += [
        _Asset("jquery/jquery.min.js", "xstatic.pkg.jquery", "jquery.min.js"),
        _Asset(
            "leaflet.markercluster/leaflet.markercluster.js",
            cluster,
            "leaflet.markercluster.js",
        ),
        _Asset("leaflet.markercluster/MarkerCluster.css", cluster, "MarkerCluster.css"),
        _Asset(
            "leaflet.markercluster/MarkerCluster.Default.css",
            cluster,
            "MarkerCluster.Default.css",
        ),
        _Asset("borderwatch/leaflet-defaults.js", text=_LEAFLET_DEFAULTS_JS),
    ]
    return tuple(assets)


def _assets_by_target() -> dict[str, _Asset]:
    return {a.target: a for a in _manifest()}


# --------------------------------------------------------------------------- #
# install_assets
# --------------------------------------------------------------------------- #

_installed: set[Path] = set()


def install_assets(static_dir: Path) -> None:
    """Copy the offline map assets into ``static_dir / "vendor"``.

    Idempotent and cheap to call on every app start: a file is only rewritten
    when its content differs, and the write is atomic (temporary file + rename)
    so a concurrently served request never sees a half-written file.
    """
    vendor = Path(static_dir) / VENDOR_DIRNAME
    manifest = _manifest()
    key = vendor.resolve()
    if key in _installed and all((vendor / a.target).is_file() for a in manifest):
        return
    for asset in manifest:
        dest = vendor / asset.target
        data = asset.read_bytes()
        if dest.is_file() and dest.stat().st_size == len(data) and dest.read_bytes() == data:
            continue
        write_atomic(dest, data)
    _installed.add(key)


# --------------------------------------------------------------------------- #
# use_local_assets
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Plan:
    js: Mapping[str, str]  # folium resource name -> vendor target
    css: Mapping[str, str]
    drop: frozenset[str] = frozenset()  # resource names we deliberately do not ship
    # extra (name, target) scripts to load right after a given resource
    js_after: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)


def _plans() -> dict[type, _Plan]:
    return {
        folium.Map: _Plan(
            js={"leaflet": "leaflet/leaflet.js", "jquery": "jquery/jquery.min.js"},
            css={"leaflet_css": "leaflet/leaflet.css"},
            # Bootstrap, glyphicons, Font Awesome and awesome-markers only serve
            # folium.Icon, which the app does not use (CircleMarker/DivIcon instead).
            drop=frozenset(
                {
                    "bootstrap",
                    "awesome_markers",
                    "bootstrap_css",
                    "glyphicons_css",
                    "awesome_markers_font_css",
                    "awesome_markers_css",
                    "awesome_rotate_css",
                }
            ),
            js_after={
                "leaflet": (("borderwatch_leaflet_defaults", "borderwatch/leaflet-defaults.js"),)
            },
        ),
        # Leaflet.draw comes from npm at setup (borderwatch.npm_assets), not from an xstatic package
        maptools.Measure: _Plan(js=dict([maptools.DRAW_JS]), css=dict([maptools.DRAW_CSS])),
        maptools.AreaDraw: _Plan(js=dict([maptools.DRAW_JS]), css=dict([maptools.DRAW_CSS])),
        folium.plugins.MarkerCluster: _Plan(
            js={"markerclusterjs": "leaflet.markercluster/leaflet.markercluster.js"},
            css={
                "markerclustercss": "leaflet.markercluster/MarkerCluster.css",
                "markerclusterdefaultcss": "leaflet.markercluster/MarkerCluster.Default.css",
            },
        ),
    }


#: Every folium/branca element class the app's maps are built from.  Classes
#: without assets are listed too so that a folium upgrade adding a CDN
#: dependency to one of them is caught by :func:`scan_classes`.
USED_CLASSES: tuple[type, ...] = (
    branca.element.Figure,
    branca.element.Element,
    branca.element.MacroElement,
    folium.Map,
    folium.GeoJson,
    folium.GeoJsonTooltip,
    folium.GeoJsonPopup,
    folium.FeatureGroup,
    folium.LayerControl,
    folium.CircleMarker,
    folium.Marker,
    folium.DivIcon,
    folium.Popup,
    folium.Tooltip,
    folium.plugins.MarkerCluster,
    maptools.Measure,
    maptools.AreaDraw,
)

_originals: dict[type, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {}
_current_prefix: str | None = None


_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def _is_external(url: str) -> bool:
    """True for ``scheme://host...`` and protocol-relative ``//host...`` URLs."""
    return bool(_EXTERNAL.match(url)) and not url.strip().lower().startswith("file:")


def _join(prefix: str, target: str) -> str:
    return f"{prefix}/{target}" if prefix else target


def _rewrite(
    cls: type,
    original: list[tuple[str, str]],
    mapping: Mapping[str, str],
    drop: frozenset[str],
    after: Mapping[str, tuple[tuple[str, str], ...]],
    prefix: str,
) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for name, url in original:
        if name in mapping:
            result.append((name, _join(prefix, mapping[name])))
            for extra_name, extra_target in after.get(name, ()):
                result.append((extra_name, _join(prefix, extra_target)))
        elif name in drop:
            continue
        else:
            raise OfflineAssetError(
                f"{cls.__module__}.{cls.__qualname__} needs {name!r} ({url}), which is "
                "not shipped for offline use; add it to borderwatch.offline"
            )
    return result


def use_local_assets(url_prefix: str = STREAMLIT_URL_PREFIX) -> None:
    """Point the asset lists of the element classes we use at local copies.

    ``url_prefix`` is the URL under which ``static/vendor/`` is reachable from
    the document that loads the map: :data:`STREAMLIT_URL_PREFIX` for
    ``st_folium`` (the default), :data:`ABSOLUTE_URL_PREFIX` for a page served
    at the origin's root.  Assets the app does not need (Bootstrap, Font
    Awesome, awesome-markers) are removed.

    Idempotent: the rewrite always starts from folium's original lists, so it
    can be called on every script run, or again with another prefix.
    """
    global _current_prefix
    if _is_external(url_prefix):
        raise ValueError(f"url_prefix must be a local URL, not {url_prefix!r}")
    prefix = url_prefix.rstrip("/")
    new_lists = {}
    for cls, plan in _plans().items():
        if cls not in _originals:
            _originals[cls] = (list(cls.default_js), list(cls.default_css))
        orig_js, orig_css = _originals[cls]
        new_lists[cls] = (
            _rewrite(cls, orig_js, plan.js, plan.drop, plan.js_after, prefix),
            _rewrite(cls, orig_css, plan.css, plan.drop, {}, prefix),
        )
    # Assign only once every plan succeeded, so a failure leaves no half state.
    for cls, (js, css) in new_lists.items():
        cls.default_js = js
        cls.default_css = css
    _current_prefix = prefix


def local_assets_prefix() -> str | None:
    """The prefix set by the last :func:`use_local_assets` call (None if never)."""
    return _current_prefix


def offline_map(
    location: tuple[float, float] | list[float] | None = None,
    zoom_start: int = 6,
    *,
    min_zoom: int = 0,
    max_zoom: int = 18,
    **kwargs,
) -> folium.Map:
    """A ``folium.Map`` without CDN tiles, with its zoom range on the map itself.

    folium only forwards ``min_zoom``/``max_zoom`` to the tile layer it creates,
    so with ``tiles=None`` the Leaflet map has no maximum zoom and
    Leaflet.markercluster throws "Map has no maxZoom specified" (which also
    stops streamlit-folium from sizing its iframe: the map stays invisible).
    """
    kwargs.setdefault("tiles", None)
    m = folium.Map(
        location=location, zoom_start=zoom_start, min_zoom=min_zoom, max_zoom=max_zoom, **kwargs
    )
    m.options.setdefault("min_zoom", min_zoom)
    m.options.setdefault("max_zoom", max_zoom)
    return m


# --------------------------------------------------------------------------- #
# Finding external references
# --------------------------------------------------------------------------- #

_URL = r"(?:https?:)?//[^\s\"'`<>()\\]+"
_REFERENCE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        # HTML attributes, also when embedded in JS strings (href=\"...\").
        rf"""\b(?:src|href|srcset|poster|action|formaction)\s*=\s*\\?["']?\s*({_URL})""",
        # CSS url(...), including @import url(...).
        rf"""\burl\(\s*\\?["']?\s*({_URL})""",
        # CSS @import "..."
        rf"""@import\s+\\?["']({_URL})""",
        # JS module imports: import x from "...", import "...", import("...")
        rf"""\b(?:from|import)\s*\(?\s*["'`]({_URL})""",
        # Leaflet tile layers: the URL template is a plain string argument.
        rf"""\bL\.tileLayer(?:\.wms)?\s*\(\s*["'`]({_URL})""",
    )
)


def external_urls(html: str) -> list[str]:
    """Every off-site URL referenced by ``html``, in order of first appearance.

    Looks at ``src``/``href``/``srcset``/... attributes (also inside JS strings),
    CSS ``url(...)`` and ``@import``, JS ``import`` and Leaflet tile-layer URL
    templates, and reports ``http://``, ``https://`` and protocol-relative
    (``//host/...``) URLs.  Bare URLs in comments or text (licence headers,
    XML namespaces) are not references and are ignored.
    """
    found: dict[int, str] = {}
    for pattern in _REFERENCE_PATTERNS:
        for match in pattern.finditer(html):
            found.setdefault(match.start(1), match.group(1))
    return list(dict.fromkeys(url for _, url in sorted(found.items())))


def _class_urls(obj: object) -> list[str]:
    urls = [url for _, url in getattr(obj, "default_js", ())]
    urls += [url for _, url in getattr(obj, "default_css", ())]
    return urls


def scan_classes(classes: Iterable[type] = USED_CLASSES) -> dict[str, list[str]]:
    """Map ``module.Class`` -> external URLs still in its ``default_js/css``.

    Empty result means every given class only references local assets.
    """
    problems: dict[str, list[str]] = {}
    for cls in classes:
        bad = [u for u in _class_urls(cls) if _is_external(u)]
        if bad:
            problems[f"{cls.__module__}.{cls.__qualname__}"] = bad
    return problems


def _walk(element: branca.element.Element) -> Iterable[branca.element.Element]:
    from layers import adapter

    yield element
    for child in adapter.children(element):
        yield from _walk(child)


def check_map(m: branca.element.Element) -> list[str]:
    """Reasons why map ``m`` would not work offline (empty list: it will).

    Checks what streamlit-folium collects (the asset lists of every element in
    the tree, plus the CDN copy of d3 it adds for any branca colormap) and the
    rendered HTML (tile URLs, links in popups...).
    """
    problems: list[str] = []
    for element in _walk(m):
        name = type(element).__name__
        if isinstance(element, branca.colormap.ColorMap):
            problems.append(f"{name}: branca colormaps make streamlit-folium load d3 from a CDN")
        if isinstance(element, folium.elements.JSCSSMixin):
            # getattr on the instance: class lists or per-instance overrides
            problems += [f"{name}: asset {u}" for u in _class_urls(element) if _is_external(u)]
    root = m.get_root()
    problems += [f"rendered HTML: {u}" for u in external_urls(root.render())]
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------- #
# Inline export
# --------------------------------------------------------------------------- #

_SCRIPT_TAG = re.compile(
    r"""<script\b[^>]*?\bsrc\s*=\s*(["'])(?P<url>.*?)\1[^>]*>\s*</script\s*>""",
    re.IGNORECASE | re.DOTALL,
)
_LINK_TAG = re.compile(r"""<link\b[^>]*>""", re.IGNORECASE)
_ATTR = re.compile(r"""\b(?P<name>rel|href)\s*=\s*(["'])(?P<value>.*?)\2""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(["']?)(?P<url>[^"')]+)\1\s*\)""", re.IGNORECASE)
_SOURCE_MAP = re.compile(r"^[ \t]*//[#@] sourceMappingURL=.*$", re.MULTILINE)
_LEAFLET_SITE_LINK = re.compile(r"""\s+href=(["'])https?://leafletjs\.com/?\1""")


def _data_uri(asset: _Asset) -> str:
    mime = mimetypes.guess_type(asset.target)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(asset.read_bytes()).decode('ascii')}"


def _asset_for_url(url: str, prefix: str, assets: Mapping[str, _Asset]) -> _Asset:
    target = None
    if prefix and url.startswith(prefix + "/"):
        target = url[len(prefix) + 1 :]
    elif not prefix:
        target = url
    if target is None or target not in assets:
        raise OfflineAssetError(f"cannot inline {url!r}: not a shipped offline asset")
    return assets[target]


def _inline_css(asset: _Asset, assets: Mapping[str, _Asset]) -> str:
    css = asset.read_bytes().decode("utf-8")
    base = posixpath.dirname(asset.target)

    def replace(match: re.Match[str]) -> str:
        ref = match.group("url").strip()
        if ref.startswith(("data:", "#")):
            return match.group(0)
        if _is_external(ref):
            raise OfflineAssetError(f"{asset.target} references {ref}")
        target = posixpath.normpath(posixpath.join(base, ref.split("?")[0].split("#")[0]))
        if target not in assets:
            raise OfflineAssetError(f"{asset.target} references {ref}, which is not shipped")
        return f'url("{_data_uri(assets[target])}")'

    return _CSS_URL.sub(replace, css)


def _inline_js(asset: _Asset) -> str:
    js = asset.read_bytes().decode("utf-8")
    js = _SOURCE_MAP.sub("", js)
    if asset.target == "leaflet/leaflet.js":
        js = _LEAFLET_SITE_LINK.sub("", js)
    return re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)


def _default_icon_js(assets: Mapping[str, _Asset]) -> str:
    # With leaflet.css inlined, Leaflet cannot derive the marker image folder
    # from the stylesheet, so the default icon gets its images as data: URIs.
    def uri(name: str) -> str:
        return _data_uri(assets[f"leaflet/images/{name}"])

    return (
        "L.Icon.Default.imagePath = '';\n"
        "L.Icon.Default.mergeOptions({"
        f"iconUrl: '{uri('marker-icon.png')}', "
        f"iconRetinaUrl: '{uri('marker-icon-2x.png')}', "
        f"shadowUrl: '{uri('marker-shadow.png')}'"
        "});\n"
    )


def inline_assets_html(m: branca.element.Element) -> str:
    """Render ``m`` (a folium Map or branca Figure) to standalone HTML.

    Every JavaScript and CSS asset is embedded, and images referenced from the
    CSS become ``data:`` URIs.  Raises :class:`OfflineAssetError` if the result
    would still reference anything off-site (e.g. a CDN tile layer or a link in
    a popup), so an export never silently depends on the network.
    """
    if _current_prefix is None:
        use_local_assets()
    prefix = _current_prefix or ""
    assets = _assets_by_target()
    html = m.get_root().render()

    def script(match: re.Match[str]) -> str:
        asset = _asset_for_url(match.group("url").strip(), prefix, assets)
        out = f"<script>/* {asset.target} */\n{_inline_js(asset)}\n</script>"
        if asset.target == "leaflet/leaflet.js":
            out += f"\n<script>\n{_default_icon_js(assets)}</script>"
        return out

    def link(match: re.Match[str]) -> str:
        attrs = {a.group("name").lower(): a.group("value") for a in _ATTR.finditer(match.group(0))}
        if "stylesheet" not in attrs.get("rel", "").lower().split() or "href" not in attrs:
            return match.group(0)
        asset = _asset_for_url(attrs["href"].strip(), prefix, assets)
        return f"<style>/* {asset.target} */\n{_inline_css(asset, assets)}\n</style>"

    html = _SCRIPT_TAG.sub(script, html)
    html = _LINK_TAG.sub(link, html)
    remaining = external_urls(html)
    if remaining:
        raise OfflineAssetError("export would reference external URLs: " + ", ".join(remaining))
    return html
