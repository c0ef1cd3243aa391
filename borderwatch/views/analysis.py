"""Incident analysis for analysts: table, trends, breakdowns, hotspots, area of interest, exports.

One function per tab; the queries and figures live in ``borderwatch.analysis`` and
``borderwatch.exports.data``. The area of interest (chosen segments, a typed or map-view area) is
owned by ``AreaOfInterest``: its values live in ``bw_segments`` / ``bw_area``, which the link
reader fills from the URL and the Filter carries back into it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import shlex
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from borderwatch import access, analysis, drawing, selection
from borderwatch.views import signin, ui
from borderwatch.exports import data as exports
from borderwatch.domain import SEVERITY_LABELS, THREAT_LABELS
from borderwatch.filters import Filter, utcnow
from borderwatch.store import Store, default_store
from borderwatch.views.ui import md

TABS = ("Incidents", "Trends", "Breakdowns", "Hotspots", "Area of interest", "Export")
state = st.session_state


class AreaOfInterest:
    """The one owner of the area of interest: its values (``bw_segments``, ``bw_area``), the
    sidebar widgets that edit them (``an_segments``, ``an_area_text``) and the typed area's error."""

    @staticmethod
    def segments() -> tuple[str, ...]:
        return tuple(state.get("bw_segments", ()))

    @staticmethod
    def area() -> str:
        return state.get("bw_area", "")

    @staticmethod
    def set_segments(ids) -> None:
        state.bw_segments = list(ids)
        state.an_segments = list(ids)

    @staticmethod
    def set_area(wkt: str) -> None:
        """A new area (from the typed box or the map view); the text box follows on the next run."""
        state.bw_area = wkt
        state.pop("an_area_error", None)

    @classmethod
    def clear(cls) -> None:
        cls.set_segments([])
        cls.set_area("")

    @classmethod
    def drill_down(cls, segment_id: str) -> None:
        cls.set_segments([segment_id])
        state.an_tab = "Incidents"
        state.an_page = 1

    # widget callbacks
    @staticmethod
    def _segments_changed() -> None:
        state.bw_segments = list(state.an_segments)

    @classmethod
    def _area_typed(cls) -> None:
        try:
            wkt = analysis.parse_area(state.an_area_text)
        except analysis.AreaError as exc:
            state.an_area_error = str(exc)
            return
        cls.set_area(wkt)

    @classmethod
    def apply(cls, flt: Filter) -> Filter:
        return flt.replace(segments=cls.segments(), area_wkt=cls.area())

    @classmethod
    def sidebar(cls, flt: Filter, store: Store) -> None:
        state.an_segments = list(cls.segments())
        if "an_area_error" not in state:
            state.an_area_text = cls.area()
        choices = analysis.segment_choices(flt, store=store)
        lengths = dict(zip(choices.segment_id, choices.length_km))
        options = sorted(set(choices.segment_id) | set(state.an_segments))
        sb = st.sidebar
        sb.markdown("### Area of interest")
        sb.multiselect("Border segments", options, key="an_segments", on_change=cls._segments_changed,
                       format_func=lambda s: f"{s} ({lengths[s]:,.0f} km)" if s in lengths else s,
                       placeholder="Any segment")
        sb.text_input("Area (WKT polygon or west,south,east,north)", key="an_area_text", on_change=cls._area_typed,
                      placeholder="e.g. -112,30,-104,33",
                      help="A POLYGON / MULTIPOLYGON in WKT, or a box as west,south,east,north in degrees "
                           "(WGS84). The 'Area of interest' tab can also take the visible map view as the area.")
        if state.get("an_area_error"):
            sb.error(f"Area not applied: {md(state.an_area_error)}")
        if cls.segments() or cls.area():
            sb.button("Clear area of interest", on_click=cls.clear, key="an_clear_area")


@dataclasses.dataclass(frozen=True)
class View:
    """What every tab works from: the filter, the reference time, names and the store."""
    flt: Filter
    now: dt.datetime
    names: dict
    store: Store


def render(page_filter: Filter) -> None:
    signin.require("analysis")
    store = default_store()
    AreaOfInterest.sidebar(page_filter, store)
    # the sidebar built the Filter before this page's widget callbacks ran: take the area of
    # interest they may have changed, and keep the session's Filter and the URL in step
    flt = AreaOfInterest.apply(page_filter)
    if flt != state["bw_filter"]:
        state["bw_filter"] = flt
        ui.write_url(flt)
    # reference time: fixed while the analyst works, so pages do not shift under them
    if state.get("an_filter") != flt or "an_now" not in state:
        state.an_filter, state.an_now = flt, utcnow()
    v = View(flt, state.an_now, ui.names(), store)

    st.title("Incident analysis")
    head = st.columns([5, 1])
    head[0].caption(md(f"{flt.describe(v.now, names=v.names)} As of {v.now:%Y-%m-%d %H:%M:%S} UTC."))
    if head[1].button("Refresh", icon=":material/refresh:", help="Re-read the store and move relative windows to now"):
        state.an_now = utcnow()
        st.rerun()
    if ui.scenario_summary():
        st.info(ui.SYNTHETIC_NOTE, icon=":material/science:")
    tabs = dict(zip(TABS, st.tabs(TABS, key="an_tab", on_change="rerun")))
    for name, tab in tabs.items():
        if tab.open:
            with tab:
                RENDER[name](v)


def _fmt_table(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["threat_type"] = out.threat_type.map(lambda t: THREAT_LABELS.get(t, t))
    out["severity"] = out.severity.map(lambda s: f"{int(s)} {SEVERITY_LABELS.get(int(s), '')}")
    return out


# -- incidents ----------------------------------------------------------------------------------
def incidents_tab(v: View) -> None:
    flt, now, names, store = v.flt, v.now, v.names, v.store
    if flt.segments:
        st.info(md(f"Showing incidents of segment(s) {', '.join(flt.segments)}."), icon=":material/filter_alt:")
    c = st.columns([2, 1.2, 1, 1, 2.5])
    sort = c[0].selectbox("Sort by", list(analysis.SORTS), format_func=analysis.SORTS.get, key="an_sort")
    direction = c[1].selectbox("Order", list(analysis.DIRECTIONS), format_func=analysis.DIRECTIONS.get, key="an_dir")
    size = c[2].selectbox("Rows per page", analysis.PAGE_SIZES, index=1, key="an_size")
    sig = (flt, now, sort, direction, size)
    if state.get("an_total", (None,))[0] != (flt, now):
        state.an_total = ((flt, now), analysis.incident_count(flt, store=store, now=now))
    total = state.an_total[1]
    pages = analysis.page_count(total, size)
    if state.get("an_sig") != sig:
        state.an_sig, state.an_page = sig, 1
    state.an_page = min(max(int(state.get("an_page", 1)), 1), pages)
    # no max_value: a page number past the end is taken as the last page (and shown as such)
    page = c[3].number_input("Page", min_value=1, step=1, key="an_page",
                             help=f"{pages:,} pages of {size} rows")
    df, total = analysis.incident_page(flt, page, size, sort, direction, store=store, now=now, total=total)
    first = (page - 1) * size + 1
    c[4].metric("Matching incidents", f"{total:,}",
                f"rows {first:,}–{first + len(df) - 1:,} · page {page:,} of {pages:,}" if len(df) else "no rows",
                delta_color="off", delta_arrow="off")
    _take_map_click(df)
    selected, owner = state.get("an_selected"), state.get("an_selected_owner")  # an incident: its id and owner
    selected = selected if selected in set(df.incident_id) else None
    event = st.dataframe(
        selection.highlight(_fmt_table(df), selected, owner),
        key=f"an_table_{hash((sig, page, state.get('an_map_picks', 0)))}",
        on_select="rerun", selection_mode="single-row",
        hide_index=True, width="stretch", height=min(38 + 35 * max(len(df), 1), 420),
        column_order=["occurred_at", "threat_type", "severity", "confidence", "reporting_nation", "source",
                      "segment_id", "description", "incident_id"],
        column_config={
            "occurred_at": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm"),
            "threat_type": "Threat", "severity": st.column_config.TextColumn("Severity", width=100),
            "confidence": st.column_config.NumberColumn("Conf.", format="%.2f"),
            "reporting_nation": "Reported by", "source": "Source", "segment_id": "Segment",
            "description": st.column_config.TextColumn("Description", width="large"), "incident_id": "Id",
        },
    )
    rows = event.selection.rows if event else []
    picked = selection.identity(df.iloc[rows[0]]) if rows and rows[0] < len(df) else None
    if picked and picked != state.get("an_table_pick"):  # a row ticked: it is the selection now
        selected, owner = picked
        state.an_selected, state.an_selected_owner = picked
    state.an_table_pick = picked
    detail = analysis.incident_detail(selected, owner=owner, store=store) if selected else None
    if selected and detail is None:
        st.warning(md(f"Incident {selected} is no longer in the store."))
    left, right = st.columns([3, 2])
    with left:
        st.caption("This page's incidents: click a point to select it in the table, or tick a row.")
        st_folium(selection.page_map(df, detail, store=store), key="an_page_map", height=360, width="stretch",
                  returned_objects=["last_object_clicked", "last_object_clicked_tooltip"])
    with right:
        if detail is None:
            st.caption("Select a row or a point to see the incident's details.")
            return
        st.markdown(f"**{md(THREAT_LABELS.get(detail['threat_type'], detail['threat_type']))}** — {md(selected)}")
        st.dataframe(analysis.detail_rows(detail, names), hide_index=True, width="stretch",
                     column_config={"field": "Field", "value": st.column_config.TextColumn("Value", width="large")})
        if detail.get("segment_id") and tuple(flt.segments) != (detail["segment_id"],):
            st.button(md(f"Drill down to segment {detail['segment_id']}"), key="an_detail_drill",
                      on_click=AreaOfInterest.drill_down, args=(detail["segment_id"],))


def _take_map_click(df: pd.DataFrame) -> None:
    """A click on the page map (new since the last run) selects its incident; the table's own
    row tick is reset so that it does not contradict the map."""
    out = state.get("an_page_map") or {}
    click = (out.get("last_object_clicked"), out.get("last_object_clicked_tooltip"))
    if click == state.get("an_map_click_seen"):
        return
    state.an_map_click_seen = click
    row = selection.clicked_row(df, *click)
    chosen = selection.identity(row) if row is not None else None
    if chosen and chosen != (state.get("an_selected"), state.get("an_selected_owner")):
        state.an_selected, state.an_selected_owner = chosen
        state.an_map_picks = state.get("an_map_picks", 0) + 1
        state.an_table_pick = None


# -- trends -------------------------------------------------------------------------------------
def trends_tab(v: View) -> None:
    flt, now, store = v.flt, v.now, v.store
    start, end = flt.time_range(now)
    default = "day" if (end - start).days <= 31 else "week"
    bucket = st.radio("Count per", list(analysis.BUCKETS), format_func=analysis.BUCKETS.get, horizontal=True,
                      key="an_bucket", index=list(analysis.BUCKETS).index(default))
    tr = analysis.trend(flt, bucket, store=store, now=now)
    if tr.empty:
        st.info("No incidents match the filter in this window.")
    else:
        st.altair_chart(analysis.trend_chart(tr, bucket), width="stretch")
        if tr.partial.any():
            st.caption("Faded points: buckets that reach outside the window (partial counts).")
    st.subheader("This window against the previous one")
    cmp = analysis.period_comparison(flt, store=store, now=now)
    total = cmp.total
    fmt = "%Y-%m-%d %H:%MZ"
    c = st.columns(3)
    c[0].metric("Incidents in the window", f"{int(total.current):,}",
                None if pd.isna(total.change_pct) else f"{total.change_pct:+.1f}% ({int(total.change):+,})",
                delta_color="inverse")
    c[1].metric("Previous window", f"{int(total.previous):,}", f"{cmp.previous[0]:{fmt}} – {cmp.previous[1]:{fmt}}",
                delta_color="off", delta_arrow="off")
    c[2].metric("Change", f"{int(total.change):+,}", None if pd.isna(total.change_pct) else f"{total.change_pct:+.1f}%",
                delta_color="inverse")
    left, right = st.columns([3, 2])
    table = cmp.table.assign(threat=cmp.table.threat_type.map(lambda t: THREAT_LABELS.get(t, "All threat types")))
    left.dataframe(table[["threat", "current", "previous", "change", "change_pct"]], hide_index=True, width="stretch",
                   column_config={"threat": "Threat type", "current": "Window", "previous": "Previous",
                                  "change": "Change", "change_pct": st.column_config.NumberColumn("Change %", format="%+.1f%%")})
    if len(table) > 1:
        right.altair_chart(analysis.comparison_chart(cmp), width="stretch")
    st.subheader("Segments with a sharp rise")
    flagged = analysis.flagged_segments(analysis.context(flt, store=store, now=now))
    st.caption(analysis.IMPACT_RULE_TEXT + " Segments at high or critical impact are flagged.")
    if flagged.empty:
        st.success("No segment rose sharply against its baseline in this window.")
    else:
        st.dataframe(flagged, hide_index=True, width="stretch", column_config={
            "segment_id": "Segment", "nation_a": "Nation A", "nation_b": "Nation B", "impact": "Impact",
            "n": "Incidents", "expected": st.column_config.NumberColumn("Expected", format="%.1f"),
            "ratio": st.column_config.NumberColumn("× baseline", format="%.1f"), "n_prev": "Previous window",
            "trend_pct": st.column_config.NumberColumn("vs previous", format="%+.0f%%"),
            "per_100km": st.column_config.NumberColumn("per 100 km", format="%.1f"),
            "coverage_pct": st.column_config.NumberColumn("Coverage", format="%.0f%%"),
            "reason": st.column_config.TextColumn("Why flagged", width="large")})


# -- breakdowns ---------------------------------------------------------------------------------
def breakdowns_tab(v: View) -> None:
    flt, now, names, store = v.flt, v.now, v.names, v.store
    dim = st.radio("Break down by", list(analysis.DIMENSIONS), format_func=analysis.DIMENSIONS.get, horizontal=True,
                   key="an_dimension")
    df = analysis.breakdown(flt, dim, store=store, now=now, names=names)
    if df.empty:
        st.info("No incidents match the filter in this window.")
        return
    left, right = st.columns([5, 3])
    left.dataframe(df[["label", "n", "share_pct", "high_or_critical", "last_at"]], hide_index=True, width="stretch",
                   column_config={"label": analysis.DIMENSIONS[dim], "n": "Incidents",
                                  "share_pct": st.column_config.ProgressColumn("Share", format="%.1f%%", min_value=0, max_value=100),
                                  "high_or_critical": st.column_config.NumberColumn(
                                      "High+", help="incidents of severity high or critical"),
                                  "last_at": st.column_config.DatetimeColumn("Latest (UTC)", format="YYYY-MM-DD HH:mm")})
    right.altair_chart(analysis.breakdown_chart(df), width="stretch")
    name, payload = exports.breakdown_csv(df, dim, flt, now=now)
    st.download_button(f"Download this breakdown (CSV, {len(df):,} rows)",
                       signin.download("export", lambda: payload, flt=flt, rows=lambda _: len(df), detail=name),
                       file_name=name, mime="text/csv",
                       on_click="ignore", icon=":material/download:", key="an_breakdown_csv")


# -- hotspots and drill-down --------------------------------------------------------------------
def hotspots_tab(v: View) -> None:
    flt, now, store = v.flt, v.now, v.store
    ctx = analysis.context(flt, store=store, now=now)
    limit = st.slider("Segments shown", 5, 50, 10, step=5, key="an_hot_limit")
    hot = analysis.hotspots(ctx, limit)
    st.caption("Highest incident rate per 100 km of border in the window, with the share of the segment "
               "under online sensor coverage.")
    st.dataframe(hot, hide_index=True, width="stretch", column_config={
        "segment_id": "Segment", "nation_a": "Nation A", "nation_b": "Nation B",
        "length_km": st.column_config.NumberColumn("Length (km)", format="%.0f"), "n": "Incidents",
        "n_prev": "Previous window", "trend_pct": st.column_config.NumberColumn("vs previous", format="%+.0f%%"),
        "per_100km": st.column_config.NumberColumn("per 100 km", format="%.1f"), "impact": "Impact",
        "coverage_pct": st.column_config.NumberColumn("Coverage", format="%.0f%%"), "fortifications": "Fortifications"})
    rates = analysis.segment_rates(ctx)
    if rates.empty:
        return
    label = {r.segment_id: f"{r.segment_id} — {r.per_100km:.1f} per 100 km, {int(r.n):,} incidents ({r.impact})"
             for r in rates.itertuples(index=False)}
    c = st.columns([3, 1])
    seg = c[0].selectbox("Drill down to a segment", list(label), format_func=label.get, key="an_drill_segment")
    c[1].button("Show its incidents", key="an_drill", on_click=AreaOfInterest.drill_down, args=(seg,), type="primary",
                icon=":material/zoom_in:")


# -- area of interest (drawn on the map, or the map view) ---------------------------------------
def _apply_drawing(out: dict | None) -> None:
    """Take a new, edited or deleted drawing as the area of interest (once per change)."""
    drawings = (out or {}).get("all_drawings")
    if drawings is None or drawings == state.get("an_drawings_seen"):
        return
    state.an_drawings_seen = drawings
    feature = drawing.latest_drawing(drawings)
    if feature is None:  # the shape was deleted with the map's bin button
        if AreaOfInterest.area():
            AreaOfInterest.set_area("")
            st.rerun()
        return
    try:
        wkt = drawing.drawn_area(feature)
    except drawing.DrawingError as exc:
        state.an_draw_error = str(exc)
        return
    state.pop("an_draw_error", None)
    if wkt != AreaOfInterest.area():
        AreaOfInterest.set_area(wkt)
        st.rerun()


@st.fragment
def area_tab(v: View) -> None:
    flt, store = v.flt, v.store
    st.caption("Draw a rectangle or a polygon with the tools at the map's left (the bin deletes it, the pencil "
               "edits it): it becomes the area of interest of every tab and export, and goes into the link. "
               "The ruler buttons measure distances and areas. You can also take the visible map view, type a "
               "polygon or box in the sidebar, or choose border segments there.")
    from layers import maptools

    if maptools.missing_notice():
        st.warning(md(maptools.missing_notice()), icon=":material/extension_off:")
    lat, lon, zoom = ui.url_view()
    m = analysis.area_map(AreaOfInterest.area(), flt.segments, store=store, center=(lat, lon), zoom=zoom, draw=True)
    out = st_folium(m, key="an_area_map", height=440, width="stretch", returned_objects=["bounds", "all_drawings"])
    _apply_drawing(out)
    if state.get("an_draw_error"):
        st.error(f"Drawn area not applied: {md(state.an_draw_error)}", icon=":material/error:")
    wkt = analysis.view_area((out or {}).get("bounds"))
    c = st.columns([1.4, 1, 3])
    # plain state only here (the sidebar's text box syncs from it on the full rerun)
    if c[0].button("Use this map view as the area", key="an_use_view", disabled=not wkt):
        AreaOfInterest.set_area(wkt)
        st.rerun()
    if c[1].button("Clear the area", key="an_clear_view", disabled=not AreaOfInterest.area()):
        AreaOfInterest.set_area("")
        st.rerun()
    if AreaOfInterest.area():
        c[2].markdown(md(f"Area of interest: {drawing.describe_area(AreaOfInterest.area())}."))
        c[2].code(AreaOfInterest.area(), language=None, wrap_lines=True)


# -- export -------------------------------------------------------------------------------------
def _export_file(fmt: str, zipped: bool, export_filter, reference, export_names):
    """Runs on download (in a worker thread, not the script): writes the export to a temporary
    file and hands Streamlit the open file; the directory entry is removed at once, so the disk
    space is freed when Streamlit lets go of the file."""
    import tempfile

    directory = tempfile.mkdtemp(prefix="borderwatch-export-")
    result = exports.export_incidents(export_filter, fmt, directory, zipped=zipped, now=reference, names=export_names)
    handle = open(result.path, "rb")
    os.unlink(result.path)
    os.rmdir(directory)
    return handle


def export_tab(v: View) -> None:
    flt, now, names, store = v.flt, v.now, v.names, v.store
    total = analysis.incident_count(flt, store=store, now=now)
    st.markdown(f"**{total:,} incidents** match: {md(flt.describe(now, names=names))}")
    st.caption("Each file holds exactly these incidents, in store order. Its name carries the filter and the "
               "reference time; the filter sentence, its URL parameters and the window travel inside (zip: "
               "metadata.json; GeoJSON: a top-level 'metadata' member; GeoParquet: key-value metadata). "
               f"The file is written when you click, in the background; GeoJSON of more than "
               f"{exports.ZIP_GEOJSON_ABOVE:,} incidents comes zipped.")
    c = st.columns(len(exports.FORMATS))
    for col, (key, fmt) in zip(c, exports.FORMATS.items()):
        zipped = exports.zipped_download(key, total)
        col.download_button(
            fmt.label + (" (zip)" if zipped else ""),
            data=signin.download("export", functools.partial(_export_file, key, zipped, flt, now, names), flt=flt,
                                 rows=lambda _: total, detail=f"{key} {access.export_marking(flt, now=now)}"),
            file_name=exports.file_name(flt, "incidents", exports.extension(key, zipped), now),
            mime="application/zip" if zipped else fmt.mime, on_click="ignore", icon=":material/download:",
            key=f"an_export_{key}", disabled=total == 0, width="stretch")
    st.caption("Breakdown tables download as CSV from the Breakdowns tab. Without the browser: "
               f"`borderwatch export FORMAT --filter-url {shlex.quote(urlencode(flt.to_params()))} -o DIR`.")


RENDER = {"Incidents": incidents_tab, "Trends": trends_tab, "Breakdowns": breakdowns_tab, "Hotspots": hotspots_tab,
          "Area of interest": area_tab, "Export": export_tab}
