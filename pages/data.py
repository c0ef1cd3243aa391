"""Import data: drop a file, see the preview and the validation report, confirm to write.

Reading and validating (``borderwatch.importer.read_file``) writes nothing; only the Confirm
button commits (``importer.commit``: one transaction, all or nothing, re-imports do not duplicate).
"""
from __future__ import annotations

import hashlib
import pathlib
import shutil
import tempfile

import pandas as pd
import streamlit as st

from borderwatch import access, audit, importer
from borderwatch.views import signin, ui
from borderwatch.importers.progress import Rate
from borderwatch.importers.wording import for_page
from borderwatch.store import default_store

state = st.session_state
ui.page_filter()  # the frame must have run (see ui.page_filter)
signin.require("import")
store = default_store()
EXTENSIONS = ["geojson", "json", "gpkg", "zip", "kml", "kmz", "parquet", "geoparquet", "csv", "tsv", "txt"]
LAYER_HELP = {
    "incidents": "dated point events: time, threat type, severity, position…",
    "fortifications": "walls, fences, posts, crossings, towers (points or lines)",
    "sensors": "radars, cameras, seismic sensors… with range, azimuth and field of view",
    "borders": "border lines or nation outlines that replace the reference segments they cover",
}

st.title("Import data")
st.caption("GeoJSON, GeoPackage, zipped Shapefile, KML / KMZ, GeoParquet or CSV (longitude / latitude columns, a "
           "WKT column or one 'lat, lon' column). The file is checked first; nothing is written until you confirm.")

c = st.columns([1, 1, 1])
layer = c[0].selectbox("The file holds", importer.LAYERS, index=importer.LAYERS.index("incidents"), key="imp_layer",
                       format_func=lambda v: f"{v} — {LAYER_HELP[v]}")
preset = c[1].selectbox("Field mapping", ["auto", *importer.PRESETS, "none"], key="imp_preset",
                        format_func={"auto": "detect from the columns", "none": "by column names only",
                                     "acled": "ACLED export", "iom-mmp": "IOM Missing Migrants"}.get,
                        disabled=layer != "incidents")
source = c[2].text_input("Source name", key="imp_source", placeholder="default: the preset, else the file name",
                         help="Ids are namespaced by it; give the same name to files from the same system.")
c = st.columns(2)
skip_invalid = c[0].checkbox("Import valid rows, skip rejected ones", key="imp_skip",
                             help="By default a file with any rejected row is refused whole.")
replace = c[1].checkbox("Replace earlier imports from this source", key="imp_replace")
c = st.columns(2)
importer_nation = None if signin.viewer().unrestricted else signin.viewer().nation  # imports for its nation
owner_text = c[0].text_input("Owner nation", key="imp_owner",
                             placeholder=f"{importer_nation} (your nation)" if importer_nation else
                             "default: the reporting (or hosting) nation", disabled=layer == "borders",
                             help="ISO 3166 alpha-3 code of the nation that owns the rows"
                                  + (f"; your account imports for {importer_nation} only." if importer_nation else "."))
release_text = c[1].text_input("Released to", key="imp_release", placeholder="default: the owner only",
                               disabled=layer == "borders",
                               help="public, owner, or nations and agreements, e.g. USA,MEX or schengen.")
with st.expander("File details (only when the file does not say)"):
    a = st.columns(4)
    encoding = a[0].text_input("Text encoding", key="imp_encoding", placeholder="e.g. cp1252")
    crs = a[1].text_input("Coordinate system", key="imp_crs", placeholder="e.g. EPSG:32633")
    date_format = a[2].text_input("Date format", key="imp_date_format", placeholder="e.g. %d/%m/%Y")
    layer_name = a[3].text_input("Layer / folder", key="imp_layer_name", placeholder="all")
    b = st.columns(3)
    mapping_text = b[0].text_area("Column mapping", key="imp_map", placeholder="occurred_at=Date\nthreat_type=Category",
                                  help="FIELD=COLUMN, one per line: take the field from that column (FIELD= leaves it "
                                       "unmapped).")
    defaults_text = b[1].text_area("Fixed values", key="imp_set", placeholder="kind=fence\nreporting_nation=GRC",
                                   help="FIELD=VALUE, one per line: the value where the file gives none.")
    threats_text = b[2].text_area("Threat values", key="imp_threat", placeholder="contraband=smuggling",
                                  help="VALUE=TYPE, one per line: read a value of the file as a Borderwatch threat type.")


def pairs(text: str, box: str) -> dict[str, str] | None:
    """NAME=VALUE lines of a box; None, with a message naming the line, when a line has no '='."""
    out = {}
    for k, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            st.error(ui.md(f'"{box}" line {k} must look like NAME=VALUE, not {line.strip()!r}'))
            return None
        out[key.strip()] = value.strip()
    return out


def read_upload(upload, options: dict) -> importer.ImportPlan:
    """Copy the upload to a temporary file (named like the upload: formats go by extension) and
    validate it, with a progress bar; the temporary file is removed afterwards."""
    bar = st.progress(0.0, text=ui.md(f"Reading {upload.name}…"))
    rate = Rate()

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"Checked {rate.describe(done, total)}")

    directory = tempfile.mkdtemp(prefix="borderwatch-import-")
    path = pathlib.Path(directory) / pathlib.Path(upload.name).name
    try:
        upload.seek(0)
        with open(path, "wb") as out:
            shutil.copyfileobj(upload, out, length=1 << 20)
        return importer.read_file(layer, path, store=store, progress=progress, **options)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        bar.empty()


def confirm() -> None:
    try:  # checked before anything is written
        owner, release = access.release_options(store, owner_text.strip() or None, release_text.strip() or None)
        owner = access.import_owner(signin.viewer(), owner) if layer != "borders" else owner
    except ValueError as exc:
        state.imp_release_error = for_page(str(exc))
        return
    state.pop("imp_release_error", None)
    bar = st.progress(0.0, text="Writing…")
    sites = layer != "borders"  # rows are owned as they are written (repeats: per owner)
    state.imp_done = importer.commit(state.imp_plan, store,
                                     progress=lambda d, t: bar.progress(min(d / t, 1.0) if t else 1.0, text="Writing…"),
                                     owner=owner if sites else None, release=release if sites else None)
    audit.record("import", viewer=signin.viewer(), address=signin.address(), rows=state.imp_done.written,
                 detail=f"{layer} {state.imp_done.file}" + (f" owner {owner}" if owner else "")
                        + (f" {release.describe()}" if release else ""))


def main() -> None:
    """The page below the options; it returns early (never st.stop: the frame adds the page links
    after the page has run) while something is missing."""
    mapping, defaults, threat_map = (pairs(mapping_text, "Column mapping"), pairs(defaults_text, "Fixed values"),
                                     pairs(threats_text, "Threat values"))
    if mapping is None or defaults is None or threat_map is None:
        return
    upload = st.file_uploader("File to import", type=EXTENSIONS, key="imp_file")
    if upload is None:
        state.pop("imp_plan", None)
        return
    options = dict(preset=None if preset == "auto" or layer != "incidents" else preset,
                   source_name=source.strip() or None, skip_invalid=skip_invalid, replace=replace,
                   encoding=encoding.strip() or None, crs=crs.strip() or None,
                   date_format=date_format.strip() or None, layer_name=layer_name.strip() or None,
                   mapping=mapping or None, defaults=defaults or None, threat_map=threat_map or None)
    signature = hashlib.sha256(repr((upload.file_id, upload.name, upload.size, layer,
                                     sorted((k, repr(v)) for k, v in options.items()))).encode()).hexdigest()
    if state.get("imp_signature") != signature:
        state.imp_plan, state.imp_signature, state.imp_done = read_upload(upload, options), signature, None
    plan: importer.ImportPlan = state.imp_plan
    report = plan.report
    if state.get("imp_done") is not None:
        done = state.imp_done
        st.success(ui.md(f"{done.headline()}: {done.written:,} written, {done.already_present:,} already present"
                   + (f", {done.replaced:,} replaced" if done.replaced else "") + "."), icon=":material/check_circle:")
        return
    (st.success if report.ok else st.error)(ui.md(report.headline()))
    m = st.columns(4)
    m[0].metric("Rows read", f"{report.rows_read:,}")
    m[1].metric("Accepted", f"{report.accepted:,}")
    m[2].metric("Rejected rows", f"{report.rejected_rows:,}")
    m[3].metric("Warnings", f"{len(report.warnings):,}")
    for problem in report.file_errors:
        field = f" (field {problem.field})" if problem.field else ""
        st.error(ui.md(for_page(f"Whole file: {problem.reason}{field}")))
    for warning in report.warnings:
        st.warning(ui.md(for_page(warning)))
    if report.row_errors:
        st.subheader(f"Rejected rows ({report.rejected_rows:,})")
        errors = pd.DataFrame([e.to_dict() for e in report.row_errors])
        errors["reason"] = errors["reason"].map(for_page)
        st.dataframe(errors, hide_index=True, width="stretch",
                     column_order=["row", "field", "reason", "value"]
                     + (["layer"] if errors.layer.notna().any() else []),
                     column_config={"row": st.column_config.NumberColumn("Row", help="data rows counted from 1"),
                                    "reason": st.column_config.TextColumn("Reason", width="large")})
    if len(plan.preview):
        st.subheader("Preview of accepted rows, as they will be stored")
        st.dataframe(plan.preview, hide_index=True, width="stretch")
    with st.expander("Full report"):
        st.code(for_page(report.format_text(max_rows=None)), language=None)
    if state.get("imp_release_error"):
        st.error(ui.md(state.imp_release_error))
    if st.button(f"Confirm: import {report.accepted:,} {layer} rows", type="primary", disabled=not report.ok,
                 key="imp_confirm", icon=":material/upload:"):
        confirm()
        st.rerun()
    if not report.ok:
        st.caption("Nothing can be imported as it is: fix the file, change the options above, or tick "
                   "'Import valid rows, skip rejected ones' when some rows were rejected.")


main()
