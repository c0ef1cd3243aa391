"""``borderwatch import``: the command line of the importer (progress on a terminal, the report, exit code)."""
from __future__ import annotations

import json
import pathlib
import sys
import time

NAME = "import"
HELP = "import your own borders, fortifications, sensors or incidents from a file"
DESCRIPTION = ("Import a file into the store: GeoJSON, GeoPackage, zipped Shapefile, KML/KMZ, GeoParquet, or CSV "
               "(lon/lat columns, a WKT column or a 'lat, lon' column). A file with any rejected row is refused "
               "whole unless --skip-invalid is given; the report lists every rejected row. Re-importing the same "
               "records does not duplicate them. See docs/import.md.")


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"borderwatch import: {what} must look like NAME=VALUE, not {item!r}")
        out[key.strip()] = value.strip()
    return out


def configure(p) -> None:
    from borderwatch.importers import mapping as mp
    from borderwatch.importers.pipeline import LAYERS

    p.add_argument("layer", choices=LAYERS, help="what the file holds")
    p.add_argument("file", help="the file to import")
    p.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    p.add_argument("--preset", choices=[*mp.PRESETS, "none"],
                   help="field mapping for an ACLED or IOM Missing Migrants export (default: detected from the columns)")
    p.add_argument("--map", action="append", metavar="FIELD=COLUMN", help="take FIELD from COLUMN (repeatable); "
                   "FIELD= leaves a field unmapped")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="value of FIELD where the file gives none")
    p.add_argument("--threat", action="append", metavar="VALUE=TYPE", help="read threat value VALUE as Borderwatch type TYPE")
    p.add_argument("--layer-name", help="import only this layer / folder of a multi-layer file")
    p.add_argument("--skip-invalid", action="store_true",
                   help="import the valid rows of a file with rejected rows (they are still listed)")
    p.add_argument("--encoding", help="text encoding of a CSV or a Shapefile that declares none (e.g. cp1252)")
    p.add_argument("--crs", help="coordinate reference system of a file that declares none (e.g. EPSG:32633)")
    p.add_argument("--date-format", help="strptime format of the dates (e.g. %%d/%%m/%%Y)")
    p.add_argument("--source", help="name of the data's source: ids are namespaced by it (default: the preset, else "
                                    "the file name); give the same source to files from the same system")
    p.add_argument("--replace", action="store_true", help="first remove what earlier imports from the same source wrote")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--as", dest="as_user", metavar="USER",
                   help="import as this account (importer role or above): the rows are owned by its nation, and "
                        "counts concern only its nation's rows; audited under its name")
    p.add_argument("--owner", metavar="ISO3", help="nation that owns the rows (default: the reporting nation / the "
                                                   "nation a sensor or fortification stands in)")
    p.add_argument("--release-to", metavar="LIST", help="public, owner, or nations and agreements the rows are released "
                                                        "to, e.g. USA,MEX or schengen (default: owner only)")


def run(args) -> int:
    from borderwatch.reference import load_into as load_reference
    from borderwatch.importers.pipeline import import_file
    from borderwatch.importers.progress import Rate
    from borderwatch.importers.report import ALL_OR_NOTHING
    from borderwatch.store import default_store

    store = default_store()
    if not args.dry_run:
        load_reference(store)  # a new store gets the reference borders first (no-op when present)
    from borderwatch import access

    try:  # releasability given on the command line, checked before anything is read or written
        owner, release = access.release_options(store, getattr(args, "owner", None), getattr(args, "release_to", None))
        if not access.current().unrestricted:  # --as ACCOUNT: its role, and its nation owns the rows
            access.current().require("import")
            owner = access.import_owner(access.current(), owner) if args.layer != "borders" else owner
    except (ValueError, access.AccessError) as exc:
        print(f"borderwatch import: {exc}", file=sys.stderr)
        return 2
    show = sys.stderr.isatty() and not args.json
    last = [0.0]
    rate = Rate()
    phase = {"done": 0, "rate": rate}

    def progress(done: int, total: int) -> None:
        if done < phase["done"]:  # the commit counts its rows from 0 again: its own rate and time left
            phase["rate"] = Rate()
        phase["done"] = done
        rate = phase["rate"]
        if show and (time.monotonic() - last[0] > 0.5 or done >= total):
            last[0] = time.monotonic()
            print(f"\r\033[K  {rate.describe(done, total)}", end="" if done < total else "\n", file=sys.stderr,
                  flush=True)

    report = import_file(
        args.layer, args.file, store, dry_run=args.dry_run, mapping=_pairs(args.map, "--map"),
        defaults=_pairs(args.set, "--set"), threat_map=_pairs(args.threat, "--threat"), preset=args.preset,
        source_name=args.source, layer_name=args.layer_name, skip_invalid=args.skip_invalid, encoding=args.encoding,
        crs=args.crs, date_format=args.date_format, replace=args.replace, progress=progress,
        owner=owner if args.layer != "borders" else None, release=release if args.layer != "borders" else None)
    if report.status == "imported":
        from borderwatch import audit

        audit.record("import", viewer=access.current(), rows=report.written, store=store,
                     detail=f"{args.layer} {pathlib.Path(args.file).name} (command line)"
                            + (f" owner {owner}" if owner else "") + (f" {release.describe()}" if release else ""))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report.format_text())
        if report.status == "imported" and report.row_errors:
            print(f"  note: the skip-invalid policy applied: {report.rejected_rows:,} rejected row(s) listed above were "
                  "left out")
        elif report.row_errors and not report.file_errors and report.accepted and report.policy == ALL_OR_NOTHING:
            print(f"  note: to import the {report.accepted:,} valid row(s) and leave the rejected ones out, run again "
                  "with --skip-invalid")
    if report.status == "refused" or (report.dry_run and not report.ok):
        return 1
    return 0

