"""Data age: when each layer's data was last updated and from which source, which items are old
enough to fade (sensors not heard from, patrol positions), and a banner on the map when a live
feed falls silent."""
from __future__ import annotations

import datetime as dt
import html
import os

import folium
from branca.element import Template

import queries
from borderwatch.words import age_words, dataset_label
from layers.elements import DataElement

STALE_ENV = "BORDERWATCH_STALE_MINUTES"
DEFAULT_STALE_MIN = 60.0
FADE = 0.35  # opacity factor of an item older than the stale age
LAYER_WORDS = (("incidents", "incidents ingested"), ("sensors", "sensors last heard"),
               ("fortifications", "fortifications reported"), ("patrols", "patrols reported"))
MAX_SOURCES = 3


def stale_after() -> dt.timedelta:
    """Age after which an item is drawn faded with its age (env BORDERWATCH_STALE_MINUTES, default 60)."""
    try:
        minutes = float(os.environ.get(STALE_ENV, "") or DEFAULT_STALE_MIN)
    except ValueError:
        minutes = DEFAULT_STALE_MIN
    return dt.timedelta(minutes=max(minutes, 1.0))


def freshness(store) -> dict[str, tuple[dt.datetime | None, list[str]]]:
    """Layer -> (last updated, its sources most recent first), over the rows the viewer may see
    (not narrowed by the filter: one query per store snapshot, whatever the filter)."""
    df = queries.df("layer_freshness", store=store, cache=True)
    out = {}
    for layer, when, datasets in zip(df.layer, df.updated_at, df.datasets):
        when = None if when is None or str(when) == "NaT" else when.to_pydatetime()
        out[layer] = (when, [d for d in list(datasets) if d is not None])
    return out


def caption(store, now: dt.datetime) -> str:
    """One clause per layer: ``sensors last heard 12:04 UTC (4 min ago) from synthetic scenario``."""
    fresh = freshness(store)
    parts = []
    for layer, words in LAYER_WORDS:
        when, sources = fresh.get(layer, (None, []))
        if not sources:
            parts.append(f"no {layer}")
            continue
        shown = ", ".join(dataset_label(d) for d in sources[:MAX_SOURCES])
        more = f" and {len(sources) - MAX_SOURCES} more" if len(sources) > MAX_SOURCES else ""
        if when is None:  # rows without any time (e.g. a store from before sensors had a last-heard time)
            parts.append(f"{layer} from {shown}{more} (time not recorded)")
            continue
        stamp = f"{when:%H:%M} UTC" if now - when < dt.timedelta(hours=20) else f"{when:%Y-%m-%d %H:%M} UTC"
        parts.append(f"{words} {stamp} ({age_words((now - when).total_seconds())} ago) from {shown}{more}")
    _, segment_sources = fresh.get("segments", (None, []))
    if segment_sources:
        parts.append("border segments from " + ", ".join(segment_sources[:MAX_SOURCES]))
    return "data: " + "; ".join(parts)


# -- the silent-feed banner ----------------------------------------------------------------------
class MapBanner(DataElement):
    """A banner on the map (a Leaflet control) that comes and goes with its layer group."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function() {
        var group = {{ this._parent.get_name() }};
        var banner = L.control({position: 'topright'});
        banner.onAdd = function() {
            var div = L.DomUtil.create('div', 'bw-feed-banner');
            div.setAttribute('role', 'alert');
            div.style.cssText = 'background:#fff3e0;border:2px solid #e65100;color:#bf360c;font:600 13px sans-serif;'
                + 'padding:6px 10px;border-radius:4px;max-width:340px;box-shadow:0 1px 4px rgba(0,0,0,.3)';
            div.innerHTML = {{ this.message|tojson }};
            return div;
        };
        group.on('add', function() { if (group._map) { banner.addTo(group._map); } });
        group.on('remove', function() { banner.remove(); });
        if (group._map) { banner.addTo(group._map); }
    })();
    {% endmacro %}
    """)

    def __init__(self, message_html: str):
        super().__init__()
        self._name = "MapBanner"
        self.message = message_html


def feed_banner(store, now_real: dt.datetime | None = None) -> str | None:
    """The banner's text (HTML) when a feed source is silent or the service down, else None."""
    from borderwatch.feeds.status import read_status, silent_after_minutes, silent_sources

    if getattr(store, "as_of", None) is not None:
        return None  # a past view: the feeds' present state does not belong on it
    silent = silent_sources(read_status(store), silent_after_minutes(), now=now_real)
    if not silent:
        return None
    lines = "<br>".join(html.escape(s["text"]) for s in silent[:4])
    return f"&#9888; Live feed silent<br><span style='font-weight:400'>{lines}</span>"


KEY = "feeds"
TITLE = "Live feed status"


def build(ctx):
    """The registry's layer: the banner when a live feed is silent (nothing otherwise)."""
    from layers.base import Built

    fg = folium.FeatureGroup(name=TITLE, show=True)
    message = feed_banner(ctx.store)
    if message:
        fg.add_child(MapBanner(message))
    return Built(fg, {"feed_silent": bool(message)})
