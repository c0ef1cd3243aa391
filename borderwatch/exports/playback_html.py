"""Time playback in the standalone HTML export: the density hexagons of the steps leading up to
the exported step, precomputed, with a slider and a play button that need no server.

Bounded: at most ``MAX_STEPS`` steps (the exported one and those just before it), each a density
layer capped like the live map's (``layers.base.MAX_HEX_CELLS``). Segments, points and figures
stay those of the exported step; the player says so.
"""
from __future__ import annotations

import dataclasses
import html

import folium
from branca.element import MacroElement, Template

from borderwatch import playback
from layers import density
from layers.base import Built, MapContext

MAX_STEPS = 24


def steps_to_show(ctx: MapContext) -> tuple[list, int]:
    """(step starts, total steps in the window): the exported step and up to MAX_STEPS - 1 before it."""
    flt = ctx.filter
    window = flt.window_range(ctx.now)
    starts = playback.starts(window, flt.step)
    current = playback.clamp(flt.step_at, window, flt.step)
    upto = starts.index(current) + 1
    return starts[max(0, upto - MAX_STEPS):upto], len(starts)


def add_player(m: folium.Map, ctx: MapContext, built: list[Built]) -> str:
    """Add the per-step density layers and the player to ``m``; a sentence for the map notes."""
    flt = ctx.filter
    shown = next((b.group for b in built if b.group.layer_name == density.TITLE), None)
    if not flt.step or shown is None:
        return ""
    starts, total = steps_to_show(ctx)
    frames = []
    for start in starts:
        step_flt = flt.replace(step_at=start)
        label = playback.label(*step_flt.time_range(ctx.now))
        if start == starts[-1]:
            group = shown  # the exported step: the density layer already on the map
        else:
            group = density.build(dataclasses.replace(ctx, filter=step_flt)).group
            group.control = False
            group.show = False
            m.add_child(group)
        frames.append([label, group.get_name()])
    m.add_child(StepPlayer(frames))
    cut = f" (up to the exported step; {total:,} in the window)" if total > len(starts) else ""
    return (f" Time playback: density hexagons for {len(starts)} steps{cut}; segments, points and "
            "figures show the exported step.")


class StepPlayer(MacroElement):
    """A slider and a play button switching between precomputed density layers."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function(map) {
        var frames = {{ this.frames|tojson }};
        var layers = frames.map(function(f) { return window[f[1]]; });
        var ctl = L.control({position: "bottomleft"});
        var index = frames.length - 1, timer = null;
        ctl.onAdd = function() {
            var box = L.DomUtil.create("div", "bw-player");
            box.style.cssText = "background:rgba(255,255,255,.92);padding:4px 8px;border-radius:6px;" +
                "font:12px sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3)";
            box.innerHTML = '<button type="button" class="bw-play">Play</button> ' +
                '<input type="range" class="bw-step" min="0" max="' + (frames.length - 1) + '" value="' + index +
                '" style="vertical-align:middle;width:220px"> <span class="bw-step-label"></span>';
            L.DomEvent.disableClickPropagation(box);
            return box;
        };
        ctl.addTo(map);
        var box = ctl.getContainer(), slider = box.querySelector(".bw-step"),
            label = box.querySelector(".bw-step-label"), button = box.querySelector(".bw-play");
        function show(i) {
            index = i;
            layers.forEach(function(l, k) {
                if (k === i && !map.hasLayer(l)) { map.addLayer(l); }
                if (k !== i && map.hasLayer(l)) { map.removeLayer(l); }
            });
            slider.value = i;
            label.textContent = frames[i][0] + " UTC";
            window.bwStep = frames[i][0];
        }
        slider.addEventListener("input", function() { show(parseInt(slider.value, 10)); });
        button.addEventListener("click", function() {
            if (timer) { clearInterval(timer); timer = null; button.textContent = "Play"; return; }
            button.textContent = "Pause";
            timer = setInterval(function() { show((index + 1) % frames.length); }, 1500);
        });
        show(index);
    })({{ this._parent.get_name() }});
    {% endmacro %}
    """)

    def __init__(self, frames: list[list[str]]):
        super().__init__()
        self._name = "StepPlayer"
        self.frames = [[html.escape(label), name] for label, name in frames]
