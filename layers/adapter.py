"""The one place that touches private folium / branca / streamlit-folium attributes.

folium and branca keep an element's children in the private ``_children`` mapping and offer no
public way to list or remove them; a template's macros are reached through its private
``_template.module``; streamlit-folium builds the script of a partial layer update in the private
``_get_feature_group_string``. (``_template`` as a class attribute and ``this._parent`` inside
templates are folium's documented way to write an element, not private use.) Everything else in the app goes through these
functions, so a library upgrade that renames them breaks here, in one documented spot (and in
``tests/test_layers.py``, which exercises each of them).
"""
from __future__ import annotations

import random
from typing import Callable

from branca.element import Element

_IDS = random.Random()  # seeded from the system once; element ids need uniqueness, not secrecy


def _element_id(cls=None) -> str:
    return f"{_IDS.getrandbits(128):032x}"


def fast_element_ids() -> None:
    """branca names every element with 16 bytes of ``os.urandom``: a system call that releases the
    interpreter lock, and in a busy server each call then waits up to a thread switch interval
    (about 0.9 ms per element was measured with sessions running, ~100 elements per map rerun).
    The ids only need to be unique within a map document: a process-local generator gives the
    same 32 hex digits without a system call. (Patches ``Element._generate_id``; applied when
    ``layers`` is imported.)"""
    Element._generate_id = classmethod(_element_id)


def children(element: Element) -> list[Element]:
    """The direct children of a folium/branca element, in order."""
    return list(getattr(element, "_children", {}).values())


def remove_children(element: Element, predicate: Callable[[Element], bool]) -> int:
    """Remove the direct children for which ``predicate`` is true; returns how many."""
    kids = getattr(element, "_children", {})
    doomed = [key for key, child in kids.items() if predicate(child)]
    for key in doomed:
        del kids[key]
    return len(doomed)


def template_macros(element: Element) -> dict:
    """The macros (``header``, ``html``, ``script``) of an element's template, by name."""
    return element._template.module.__dict__


def feature_group_script(group, m, idx: int) -> str:
    """The script streamlit-folium sends to the browser for one layer of a partial update
    (``st_folium(feature_group_to_add=...)``), to measure what each rerun costs."""
    from streamlit_folium import _get_feature_group_string

    return _get_feature_group_string(group, m, idx=idx)


def map_document(m) -> str:
    """The script streamlit-folium sends for a whole map (its first render), to measure it."""
    from streamlit_folium import generate_leaflet_string

    return generate_leaflet_string(m)
