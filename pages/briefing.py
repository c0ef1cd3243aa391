"""Briefing exports: the live map's current view as a PNG snapshot, a PDF briefing pack and an
offline HTML map, one click each. The files are made by ``borderwatch.exports.briefing`` (the
``borderwatch brief`` command makes the same ones)."""
from __future__ import annotations

import shlex
from urllib.parse import urlencode

import streamlit as st

from borderwatch.views import signin, ui
from borderwatch.exports import briefing, render, snapshot
from borderwatch.filters import utcnow
from borderwatch.store import default_store

state = st.session_state
flt = ui.page_filter()
signin.require("briefing")
store = default_store()

st.title("Briefing exports")
live = state.get("bw_map_context")
now = utcnow().replace(second=0)  # the DTG has minute precision; the same minute, the same files
c1, c2 = st.columns(2)
title = c1.text_input("Title", value=snapshot.DEFAULT_TITLE, key="bf_title")
marking = c2.text_input("Classification marking (top and bottom of every page)",
                        value=snapshot.default_marking(), key="bf_marking")
if live is not None and getattr(live, "view", None) is not None:
    spec = snapshot.ExportSpec.create(flt, live.view, now=now, title=title, marking=marking)
    where = "the live map's current view"
else:
    lat, lon, zoom = ui.url_view()
    spec = snapshot.ExportSpec.create(flt, None, now=now, title=title, marking=marking, center=(lat, lon), zoom=zoom)
    where = "the map position in the page address (open the live map first to export what it shows)"
st.caption(ui.md(f"{flt.describe(now, ui.names())} Map extent: {where}. Date-time group {spec.dtg} ({spec.iso_time})."))
st.text(f"Marking of the files (from the rows they include): {briefing.marking_of(spec, store)}")  # plain text
if ui.scenario_summary():
    st.info(ui.SYNTHETIC_NOTE, icon=":material/science:")

can_render = render.available()
if not can_render:
    st.warning(render.missing_message(), icon=":material/warning:")

preview = None
if can_render:
    try:
        with st.spinner("Drawing the snapshot…"):
            preview = briefing.cached_export(spec, "png", store=store)
    except render.RenderError as exc:
        st.error(ui.md(f"The snapshot could not be drawn: {exc}"))


def _later(fmt: str):
    return signin.download("briefing", lambda: briefing.cached_export(spec, fmt, store=store), flt=flt,
                           detail=f"{spec.filename(fmt)} {briefing.marking_of(spec, store)}")


b1, b2, b3 = st.columns(3)
b1.download_button("PNG snapshot", data=_later("png") if preview is not None else b"", file_name=spec.filename("png"),
                   mime=briefing.MIME["png"], icon=":material/image:", disabled=preview is None,
                   on_click="ignore", key="bf_png", width="stretch")
b2.download_button("PDF briefing pack", data=_later("pdf"), file_name=spec.filename("pdf"),
                   mime=briefing.MIME["pdf"], icon=":material/picture_as_pdf:", disabled=not can_render,
                   on_click="ignore", key="bf_pdf", width="stretch")
b3.download_button("Offline HTML map", data=_later("html"), file_name=spec.filename("html"),
                   mime=briefing.MIME["html"], icon=":material/public_off:", on_click="ignore", key="bf_html",
                   width="stretch", help="one file with every asset inside: opens and works with no network")

if preview is not None:
    st.image(preview, caption=ui.md(f"{spec.filename('png')} — as the PNG and the PDF's map show it"), width="stretch")

st.markdown("**Link that reopens this view**")
st.code(spec.link(), language=None, wrap_lines=True)
with st.expander("The same exports from the command line (scheduled briefings)"):
    query = urlencode({**flt.to_params(), **spec.view_params()})
    st.code(f"borderwatch brief --format all --out briefings --filter-url {shlex.quote(query)} "
            f"--title {shlex.quote(spec.title)} --marking {shlex.quote(spec.marking)}", language="bash",
            wrap_lines=True)
