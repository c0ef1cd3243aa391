"""Briefing exports: the PNG snapshot, the PDF briefing pack and the offline HTML map.

Everything comes from one :class:`~borderwatch.exports.snapshot.ExportSpec` (filter, live map
extent, time, title, classification marking), so the three files and the live map agree.

The PDF pack (A4 landscape, fpdf2, DejaVu Sans from matplotlib's bundled fonts so any nation
name prints):

- every page: the classification marking in a banner at top and bottom, a footer line with
  title, DTG and page number;
- page 1: title, date-time group (military format and ISO, UTC), the filters in words, the
  synthetic-scenario label when scenario data is shown, headline figures, and the map
  (rendered like the PNG, with its legend beside it, scale bar and north arrow);
- page 2: the hotspot table, the incident trend chart (counts per time bucket by threat type,
  in the threat colours of ``layers.style``), data sources, and the link that reopens the view.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import html
import io
import json
import math
import pathlib
import threading
from typing import Iterable

import matplotlib
import matplotlib.dates
import numpy as np
import pandas as pd
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos
from fpdf.fonts import FontFace

import queries
from borderwatch import situation as situation_
from borderwatch.exports import render, snapshot
from borderwatch.exports.snapshot import ExportSpec
from borderwatch.domain import THREAT_LABELS
from borderwatch.store import Store, default_store
from borderwatch.words import dataset_label
from layers import style
from layers.base import MapContext

FORMATS = ("png", "pdf", "html")
MIME = {"png": "image/png", "pdf": "application/pdf", "html": "text/html"}

PNG_SCALE = 1.0
PDF_MAP_SIZE = (1300, 625)  # CSS pixels of the PDF's map image (map + legend panel)
PDF_MAP_SCALE = 2.0  # about 240 dpi on the page
PDF_MAP_QUALITY = 90  # JPEG: fpdf2 embeds it as is (a PNG would be decoded and recompressed)
FONT_DIR = pathlib.Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
GREY = (90, 90, 90)
TREND_BUCKETS = (dt.timedelta(hours=1), dt.timedelta(hours=6), dt.timedelta(days=1), dt.timedelta(days=7),
                 dt.timedelta(days=30))
MAX_TREND_BARS = 60


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


# --------------------------------------------------------------------------------------------
# PNG and HTML
# --------------------------------------------------------------------------------------------

def png_export(spec: ExportSpec, *, store: Store | None = None, scale: float = PNG_SCALE,
               shared: dict | None = None) -> bytes:
    """The PNG snapshot: the live map's layers at the live extent, with marking banners, title
    box (title, DTG, filters, synthetic label), legend, scale bar and north arrow."""
    snap = snapshot.build(spec, "png", snapshot.PNG_SIZE, store=store, **(shared or {}))
    image = render.render_image(snap.html(), *snap.size, scale=scale).image
    return png_text(image, {"Title": f"{spec.title} {spec.dtg}", "Classification": spec.marking})


def html_export(spec: ExportSpec, *, store: Store | None = None, shared: dict | None = None) -> bytes:
    """The standalone offline HTML map (no browser needed to produce it)."""
    snap = snapshot.build(spec, "html", snapshot.PNG_SIZE, store=store, **(shared or {}))
    meta = f'<meta name="classification" content="{html.escape(spec.marking, quote=True)}">'
    return snap.html().replace("<head>", "<head>\n" + meta, 1).encode("utf-8")


def png_text(image: bytes, fields: dict[str, str]) -> bytes:
    """The PNG with Latin-1 ``tEXt`` chunks (metadata any image viewer shows) after its header."""
    import struct
    import zlib

    end_of_header = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, data, CRC
    chunks = b""
    for key, value in fields.items():
        data = key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace")
        chunks += struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return image[:end_of_header] + chunks + image[end_of_header:]


# --------------------------------------------------------------------------------------------
# Figures for the PDF
# --------------------------------------------------------------------------------------------

def trend_bucket(start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """The finest bucket that keeps the trend chart at most ``MAX_TREND_BARS`` bars wide."""
    span = end - start
    for width in TREND_BUCKETS:
        if span / width <= MAX_TREND_BARS:
            return width
    return TREND_BUCKETS[-1]


def bucket_label(width: dt.timedelta) -> str:
    hours = width.total_seconds() / 3600
    if hours < 24:
        return f"{hours:.0f} h" if hours != 1 else "hour"
    days = hours / 24
    return {1: "day", 7: "week"}.get(int(days), f"{days:.0f} days")


def trend(ctx: MapContext) -> tuple[pd.DataFrame, dt.timedelta]:
    """Incident counts per bucket (rows) and threat type (columns) over the filter window."""
    start, end = ctx.filter.time_range(ctx.now)
    width = trend_bucket(start, end)
    df = ctx.q("briefing_trend", bucket_width=width, origin=start)
    n_buckets = max(1, math.ceil((end - start) / width))
    index = pd.DatetimeIndex([start + i * width for i in range(n_buckets)])
    if not len(df):
        return pd.DataFrame(index=index), width
    table = df.pivot_table(index="bucket", columns="threat_type", values="n", aggfunc="sum", fill_value=0)
    table = table.reindex(index, fill_value=0)
    return table[table.sum().sort_values(ascending=False).index], width


def trend_chart(table: pd.DataFrame, width: dt.timedelta, size_mm: tuple[float, float], dpi: int = 200) -> bytes:
    """Stacked bars of incidents per bucket by threat type (colours of ``layers.style``), as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size_mm[0] / 25.4, size_mm[1] / 25.4), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(f"Incidents per {bucket_label(width)} by threat type (UTC)", fontsize=9, loc="left")
    if table.empty or not table.to_numpy().sum():
        ax.text(0.5, 0.5, "No incidents match the filter in this window.", ha="center", va="center",
                transform=ax.transAxes, fontsize=9, color="#555")
        ax.set_xticks([]), ax.set_yticks([])
    else:
        # one collection of rectangles per threat type: a few artists, not one per bar
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Patch

        x0 = matplotlib.dates.date2num(table.index.to_pydatetime())
        x1 = x0 + width / dt.timedelta(days=1) * 0.85
        bottom = np.zeros(len(table))
        handles = []
        for threat in table.columns:
            values = table[threat].to_numpy(dtype=float)
            top = bottom + values
            verts = np.stack([np.column_stack([x0, bottom]), np.column_stack([x0, top]),
                              np.column_stack([x1, top]), np.column_stack([x1, bottom])], axis=1)
            colour = style.THREAT_COLORS.get(threat, style.THREAT_COLORS["other"])
            ax.add_collection(PolyCollection(verts[values > 0], facecolors=colour, linewidths=0))
            handles.append(Patch(color=colour, label=THREAT_LABELS.get(threat, threat)))
            bottom = top
        ax.set_ylim(0, max(bottom.max(), 1) * 1.05)
        ax.xaxis_date()
        x = table.index.to_pydatetime()
        ax.legend(handles=handles, fontsize=6.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.tick_params(labelsize=7)
        ax.set_ylabel("incidents", fontsize=7)
        locator = matplotlib.dates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#ddd", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.set_xlim(x[0], x[-1] + width)
    fig.tight_layout(pad=0.4)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi)
    return out.getvalue()


@dataclasses.dataclass
class Sources:
    reference: list[str]
    agreements: list[str]
    datasets: list[str]
    synthetic: bool


def sources(ctx: MapContext, datasets: pd.DataFrame) -> Sources:
    """Where the briefing's data comes from: reference data, agreements, the datasets shown."""
    ref = queries.df("briefing_reference_sources", store=ctx.store)
    reference = [f"{r.layer.capitalize()}: {r.source} ({int(r.n):,})"
                 + (", public domain, naturalearthdata.com" if str(r.source).startswith("Natural Earth") else "")
                 for r in ref.itertuples(index=False)]
    agreements_df = queries.df("briefing_agreement_sources", store=ctx.store)
    wanted = set(ctx.filter.agreements)
    agreements = [f"Agreements: curated reference file data/reference/agreements.json "
                  f"({len(agreements_df)} agreements, each with its published sources)."]
    for r in agreements_df.itertuples(index=False):
        if r.agreement_id not in wanted:
            continue
        for src in json.loads(r.sources or "[]"):
            title, url = src.get("title", ""), src.get("url", "")
            agreements.append(f"{r.name}: {title}" + (f" <{url}>" if url else ""))
    lines = []
    for layer, grp in datasets.groupby("layer", sort=True):
        parts = []
        for r in grp.itertuples(index=False):
            label = dataset_label(r.dataset)
            label += " (synthetic)" if r.synthetic and "synthetic" not in label else ""
            parts.append(f"{label}: {int(r.n):,}")
        what = "in the window" if layer == "incidents" else "matching the filter"
        lines.append(f"{layer.capitalize()} {what}: " + "; ".join(parts) + ".")
    if not lines:
        lines.append("No incidents, sensors or fortifications match the filter.")
    synthetic = snapshot.shows_synthetic(datasets)
    if synthetic:
        meta = queries.scalar("meta", store=ctx.store, key="scenario")
        if meta:
            info = json.loads(meta)
            lines.append(f"Scenario generated with seed {info.get('seed')} for {info.get('now', '?')} "
                         f"({int(info.get('incidents', 0)):,} incidents in all).")
    return Sources(reference, agreements, lines, synthetic)


# --------------------------------------------------------------------------------------------
# The PDF
# --------------------------------------------------------------------------------------------

class BriefingPDF(FPDF):
    """A4 landscape with the classification marking at top and bottom of every page."""

    BANNER_MM = 7.0

    def __init__(self, spec: ExportSpec):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.spec = spec
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(10, self.BANNER_MM + 4, 10)
        self.set_auto_page_break(True, margin=self.BANNER_MM + 9)
        self.alias_nb_pages()
        self.set_title(f"{spec.title} {spec.dtg}")
        self.set_subject(f"{spec.marking}. {spec.filter.describe(spec.now)}")
        self.set_author("Borderwatch")
        self.set_creator("Borderwatch")
        self.set_keywords(spec.marking)
        self.set_creation_date(spec.now.replace(tzinfo=dt.timezone.utc))

    def _banner(self, y: float) -> None:
        bg, fg = snapshot.marking_colours(self.spec.marking)
        self.set_fill_color(*_rgb(bg))
        self.rect(0, y, self.w, self.BANNER_MM, style="F")
        self.set_xy(0, y)
        self.set_text_color(*_rgb(fg))
        self.set_font(FONT, "B", 10)
        self.cell(self.w, self.BANNER_MM, self.spec.marking, align="C")

    def header(self) -> None:
        self._banner(0)
        self.set_text_color(0, 0, 0)
        self.set_xy(self.l_margin, self.t_margin)

    def footer(self) -> None:
        self.set_xy(self.l_margin, self.h - self.BANNER_MM - 6)
        self.set_font(FONT, "", 7)
        self.set_text_color(*GREY)
        self.cell(self.epw / 2, 4, f"Borderwatch · {self.spec.title} · {self.spec.dtg}")
        self.cell(self.epw / 2, 4, f"Page {self.page_no()} of {{nb}}", align="R")
        self._banner(self.h - self.BANNER_MM)
        self.set_text_color(0, 0, 0)


def _headline_boxes(pdf: BriefingPDF, head: situation_.Headline) -> None:
    top3 = head.by_threat[head.by_threat.current > 0].head(3)
    threats = " · ".join(f"{THREAT_LABELS.get(r.threat_type, r.threat_type)} {int(r.current):,}"
                         for r in top3.itertuples(index=False)) or "none"
    boxes = [
        (f"Incidents, {head.window}", f"{head.incidents:,}", head.change_words()),
        ("Segments at high / critical impact", f"{head.hot_segments:,}", f"{head.critical_segments:,} critical"),
        ("Border under online sensors", f"{head.coverage_pct:.1f}%", f"of {head.border_km:,.0f} km shown"),
        (f"Top threats, {head.window}", "", threats),
    ]
    gap = 3
    w = (pdf.epw - gap * (len(boxes) - 1)) / len(boxes)
    y = pdf.get_y()
    h = 15
    for i, (label, value, sub) in enumerate(boxes):
        x = pdf.l_margin + i * (w + gap)
        pdf.set_fill_color(244, 246, 248)
        pdf.set_draw_color(200, 205, 210)
        pdf.rect(x, y, w, h, style="DF")
        pdf.set_xy(x + 2, y + 1.2)
        pdf.set_font(FONT, "", 7.5)
        pdf.set_text_color(*GREY)
        pdf.cell(w - 4, 3.6, label)
        pdf.set_text_color(0, 0, 0)
        if value:
            pdf.set_xy(x + 2, y + 5)
            pdf.set_font(FONT, "B", 14)
            pdf.cell(w - 4, 6, value)
            pdf.set_xy(x + 2, y + 11)
            pdf.set_font(FONT, "", 7)
            pdf.cell(w - 4, 3, sub)
        else:
            pdf.set_xy(x + 2, y + 5.5)
            pdf.set_font(FONT, "", 8)
            pdf.multi_cell(w - 4, 3.6, sub, align="L")
    pdf.set_xy(pdf.l_margin, y + h + 3)


def _synthetic_box(pdf: BriefingPDF) -> None:
    pdf.set_fill_color(255, 243, 205)
    pdf.set_draw_color(211, 158, 0)
    pdf.set_text_color(92, 68, 0)
    pdf.set_font(FONT, "B", 8)
    pdf.multi_cell(pdf.epw, 4.4, snapshot.SYNTHETIC_TEXT, border=1, fill=True, align="L", padding=(0.6, 1.5))
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)


def _place_image(pdf: BriefingPDF, image: bytes, box_w: float, box_h: float, px: tuple[int, int]) -> None:
    aspect = px[0] / px[1]
    w = min(box_w, box_h * aspect)
    h = w / aspect
    x = pdf.l_margin + (box_w - w) / 2
    y = pdf.get_y()
    pdf.image(io.BytesIO(image), x=x, y=y, w=w, h=h)
    pdf.set_draw_color(150, 150, 150)
    pdf.rect(x, y, w, h)
    pdf.set_y(y + h + 1)


def _segment_name(row, names: dict[str, str]) -> str:
    return f"{names.get(row.nation_a, row.nation_a)} – {names.get(row.nation_b, row.nation_b)}"


def _hotspot_table(pdf: BriefingPDF, hot: pd.DataFrame, names: dict[str, str]) -> None:
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 6, "Hotspots: border segments with the most incidents per 100 km in the window",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 7.5)
    if not len(hot):
        pdf.cell(0, 5, "No incidents match the filter in this window.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    headings = ("#", "Segment", "Length km", "Incidents", "Previous", "Trend", "Per 100 km", "Impact",
                "Coverage", "Fortifications")
    widths = (6, 62, 16, 16, 16, 14, 17, 17, 16, 97)
    heading_style = FontFace(emphasis="BOLD", fill_color=(225, 230, 235))
    with pdf.table(col_widths=widths, text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT",
                                                  "CENTER", "RIGHT", "LEFT"),
                   headings_style=heading_style, line_height=4.2, padding=0.8, width=sum(widths),
                   borders_layout="HORIZONTAL_LINES") as table:
        head = table.row()
        for h in headings:
            head.cell(h)
        for i, r in enumerate(hot.itertuples(index=False), start=1):
            row = table.row()
            trend_txt = "n/a" if r.trend_pct is None or pd.isna(r.trend_pct) else f"{r.trend_pct:+.0f}%"
            row.cell(str(i))
            row.cell(_segment_name(r, names))
            row.cell(f"{r.length_km:,.0f}")
            row.cell(f"{int(r.n):,}")
            row.cell(f"{int(r.n_prev):,}")
            row.cell(trend_txt)
            row.cell(f"{r.per_100km:,.1f}")
            colour = style.IMPACT_COLORS.get(r.impact, "#757575")
            light = r.impact in ("medium",)
            row.cell(r.impact, style=FontFace(emphasis="BOLD", fill_color=_rgb(colour),
                                              color=(0, 0, 0) if light else (255, 255, 255)))
            row.cell(f"{r.coverage_pct:.0f}%")
            row.cell(str(r.fortifications))
    pdf.ln(2)


MAX_BRIEFED_ALERTS = 12


def briefed_alerts(spec: ExportSpec, store: Store | None = None) -> pd.DataFrame:
    """Alerts raised in the briefing's window that its viewer may see (their nation's), newest first."""
    import borderwatch.alerts as alerts

    start, end = spec.filter.time_range(spec.now)
    return alerts.alerts_frame(store=store or default_store(), since=start, until=end, limit=200)


def _alerts_table(pdf: BriefingPDF, frame: pd.DataFrame) -> None:
    pdf.set_font(FONT, "B", 11)
    pdf.cell(0, 6, f"Alerts raised in the window ({len(frame):,})", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 7.5)
    if not len(frame):
        pdf.cell(0, 5, "No alerts were raised in this window.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)
        return
    widths = (26, 22, 120, 60, 49)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.0, padding=0.8, width=sum(widths),
                   headings_style=FontFace(emphasis="BOLD", fill_color=(225, 230, 235)),
                   borders_layout="HORIZONTAL_LINES") as table:
        head = table.row()
        for h in ("Raised (UTC)", "State", "Alert", "Rule", "Handled by"):
            head.cell(h)
        for r in frame.head(MAX_BRIEFED_ALERTS).itertuples(index=False):
            row = table.row()
            row.cell(f"{r.raised_at:%d %H:%M}")
            row.cell(str(r.state))
            row.cell(f"{r.title} — {r.detail}"[:220])
            row.cell(str(r.rule_name)[:90])
            who = [f"ack {r.acked_by}" if isinstance(r.acked_by, str) else "",
                   f"to {r.assignee}" if isinstance(r.assignee, str) else ""]
            row.cell(", ".join(w for w in who if w) or "-")
    if len(frame) > MAX_BRIEFED_ALERTS:
        pdf.cell(0, 4.5, f"and {len(frame) - MAX_BRIEFED_ALERTS:,} more (Alerts page)", new_x=XPos.LMARGIN,
                 new_y=YPos.NEXT)
    pdf.ln(2)


def _section(pdf: BriefingPDF, title: str) -> None:
    pdf.set_font(FONT, "B", 10)
    pdf.set_x(pdf.l_margin)
    pdf.cell(0, 5.5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _lines(pdf: BriefingPDF, lines: Iterable[str], x: float, w: float, size: float = 7.5) -> None:
    pdf.set_font(FONT, "", size)
    for line in lines:
        pdf.set_x(x)
        pdf.multi_cell(w, size * 0.45, line, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.ln(0.6)


def build_pdf(spec: ExportSpec, *, store: Store | None = None, shared: dict | None = None) -> bytes:
    """The PDF briefing pack (two A4 landscape pages, more if the sources run long)."""
    store = store or default_store()
    shared = dict(shared or {})
    snap = snapshot.build(spec, "pdf", PDF_MAP_SIZE, store=store, **shared)
    capture = render.render_image(snap.html(), *snap.size, scale=PDF_MAP_SCALE, image_type="jpeg",
                                  quality=PDF_MAP_QUALITY)
    ctx = snap.ctx
    names = snapshot.names(store)
    head = ctx.situation.headline()
    hot = ctx.situation.hotspots()
    table, width = trend(ctx)
    src = sources(ctx, snap.datasets)

    pdf = BriefingPDF(spec)
    _first_page(pdf, spec, snap, capture, head, src)
    _second_page(pdf, spec, store, hot, names, table, width, src)
    return bytes(pdf.output())


def _first_page(pdf: "BriefingPDF", spec: ExportSpec, snap, capture, head, src) -> None:
    """Title, date-time group, filters, headline figures and the map."""
    pdf.add_page()
    pdf.set_font(FONT, "B", 17)
    pdf.cell(pdf.epw * 0.68, 8, spec.title)
    pdf.set_font(FONT, "B", 15)
    pdf.cell(pdf.epw * 0.32, 8, spec.dtg, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 8.5)
    pdf.set_text_color(*GREY)
    pdf.cell(pdf.epw * 0.5, 4.5, "Borderwatch briefing pack · map, headline figures, hotspots, trend, sources")
    pdf.cell(pdf.epw * 0.5, 4.5, f"Date-time group {spec.dtg} = {spec.iso_time}", align="R",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(1)
    pdf.set_font(FONT, "B", 8.5)
    pdf.cell(17, 4.2, "Filters:")
    pdf.set_font(FONT, "", 8.5)
    pdf.multi_cell(pdf.epw - 17, 4.2, snap.sentence, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)
    if src.synthetic:
        _synthetic_box(pdf)
    _headline_boxes(pdf, head)
    pdf.set_font(FONT, "", 7)
    notes = "Map: " + snap.notes
    # the map takes what the notes under it leave of the page, so page 1 stays one page
    notes_h = 3.2 * len(pdf.multi_cell(pdf.epw, 3.2, notes, align="L", dry_run=True, output=MethodReturnValue.LINES))
    box_h = pdf.h - pdf.b_margin - pdf.get_y() - notes_h - 2
    _place_image(pdf, capture.image, pdf.epw, box_h, snap.size)
    pdf.set_font(FONT, "", 7)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(pdf.epw, 3.2, notes, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)


def _second_page(pdf: "BriefingPDF", spec: ExportSpec, store, hot, names, table, width, src) -> None:
    """Hotspots, alerts of the period, the incident trend, data sources and the link back."""
    pdf.add_page()
    _hotspot_table(pdf, hot, names)
    _alerts_table(pdf, briefed_alerts(spec, store))
    chart_w, chart_h = 168.0, 74.0
    y = pdf.get_y()
    if y + chart_h > pdf.h - pdf.b_margin:
        pdf.add_page()
        y = pdf.get_y()
    _section(pdf, "Incident trend")
    pdf.image(io.BytesIO(trend_chart(table, width, (chart_w, chart_h - 6))), x=pdf.l_margin, y=pdf.get_y(),
              w=chart_w, h=chart_h - 6)
    chart_bottom = pdf.get_y() + chart_h - 6
    # data sources beside the chart
    sx = pdf.l_margin + chart_w + 5
    sw = pdf.epw - chart_w - 5
    pdf.set_xy(sx, y)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(sw, 5.5, "Data sources", new_x=XPos.LEFT, new_y=YPos.NEXT)
    if src.synthetic:
        pdf.set_font(FONT, "B", 7.5)
        pdf.set_fill_color(255, 243, 205)
        pdf.set_text_color(92, 68, 0)
        pdf.multi_cell(sw, 3.6, snapshot.SYNTHETIC_TEXT, fill=True, align="L", new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1)
    _lines(pdf, src.reference + src.agreements + src.datasets, sx, sw)
    pdf.set_y(max(pdf.get_y(), chart_bottom) + 3)
    _section(pdf, "Reopen this view")
    link = spec.link()
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(13, 71, 161)
    pdf.multi_cell(pdf.epw, 4, link, link=link, align="L", wrapmode="CHAR", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*GREY)
    pdf.set_font(FONT, "", 7)
    pdf.multi_cell(pdf.epw, 3.6, f"Opens the live map with the same filters and map position "
                   f"(base address from BORDERWATCH_BASE_URL). Figures computed at {spec.iso_time} "
                   f"from the store's data; the map shows the layers of the live map at that time.",
                   align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)


# --------------------------------------------------------------------------------------------
# All of them
# --------------------------------------------------------------------------------------------

def marking_of(spec: ExportSpec, store: Store | None = None) -> str:
    """The spec's marking completed with the releasability of the rows the briefing includes, for
    the current viewer (e.g. ``UNCLASSIFIED//REL TO MEX, USA``); see ``borderwatch.access.marking``."""
    from borderwatch import access

    if "//REL TO" in spec.marking or "//NO COMMON RELEASE" in spec.marking:
        return spec.marking
    return access.marking(spec.marking, spec.filter, store=store, now=spec.now)


def export(spec: ExportSpec, fmt: str, *, store: Store | None = None, shared: dict | None = None) -> bytes:
    """One export as bytes: ``png``, ``pdf`` or ``html``, marked with what its rows are releasable to."""
    spec = dataclasses.replace(spec, marking=marking_of(spec, store))
    if fmt == "png":
        return png_export(spec, store=store, shared=shared)
    if fmt == "pdf":
        return build_pdf(spec, store=store, shared=shared)
    if fmt == "html":
        return html_export(spec, store=store, shared=shared)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


_cache: "collections.OrderedDict[tuple, bytes]" = collections.OrderedDict()
_cache_lock = threading.Lock()
CACHE_ENTRIES = 6


def cached_export(spec: ExportSpec, fmt: str, *, store: Store | None = None) -> bytes:
    """:func:`export`, remembering the last few results (the app's preview and download buttons
    ask for the same files; a spec is immutable and carries its reference time)."""
    from borderwatch import access

    store = store or default_store()
    key = (spec, fmt, str(store.path), access.current())  # what a file shows depends on who asks
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    data = export(spec, fmt, store=store)
    with _cache_lock:
        _cache[key] = data
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return data


def shared_facts(spec: ExportSpec, store: Store | None = None) -> dict:
    """What every export of one spec has in common (computed once when several are made)."""
    store = store or default_store()
    ctx = MapContext(spec.filter, spec.view, spec.now, store=store)
    return {"datasets": snapshot.shown_datasets(ctx),
            "sentence": spec.filter.describe(spec.now, snapshot.names(store))}
