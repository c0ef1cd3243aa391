"""KML parsed with defusedxml before GDAL reads it: no DTD or entities, no NetworkLink, coordinates that are numbers."""
from __future__ import annotations

import math

from borderwatch.importers.report import FileRefused
from borderwatch.importers.safety.limits import MAX_XML_BYTES


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def scan_kml(data: bytes) -> list[tuple[str, int, str | None, str]]:
    """Refuse DTDs, entities and NetworkLinks; return placemarks whose coordinates are not numbers
    as (folder or document name, 1-based placemark number in it, field, reason)."""
    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as DET

    if len(data) > MAX_XML_BYTES:
        raise FileRefused(f"KML over {MAX_XML_BYTES // 1024**2} MB is not accepted")
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FileRefused(f"the KML declares a DTD or entities ({type(exc).__name__}): refused, they can pull in "
                          "other files or the network") from exc
    except DET.ParseError as exc:
        raise FileRefused(f"not well-formed XML: {exc}") from exc
    if _local(root.tag) != "kml":
        raise FileRefused(f"not KML: the root element is <{_local(root.tag)}>")
    problems: list[tuple[str, int, str | None, str]] = []
    counters: dict[str, int] = {}

    def name_of(elem, default: str) -> str:
        for child in elem:
            if _local(child.tag) == "name" and (child.text or "").strip():
                return child.text.strip()
        return default

    def walk(elem, container: str) -> None:
        for child in elem:
            tag = _local(child.tag)
            if tag == "NetworkLink":
                href = next((c.text for c in child.iter() if _local(c.tag) == "href" and c.text), "")
                raise FileRefused(f"the KML has a NetworkLink to {href.strip() or 'another document'!r}: refused, "
                                  "Borderwatch never fetches linked content (download it and import it as a file)")
            if tag in ("Document", "Folder"):
                walk(child, name_of(child, container))
            elif tag == "Placemark":
                counters[container] = counters.get(container, 0) + 1
                label = name_of(child, "")
                for c in child.iter():
                    if _local(c.tag) == "coordinates":
                        bad = _bad_kml_coordinates(c.text or "")
                        if bad:
                            what = f"placemark {label!r}: " if label else ""
                            problems.append((container, counters[container], "coordinates",
                                             f"{what}coordinates {bad!r} are not numbers (GDAL would read them as 0, 0)"))
                            break
            else:
                walk(child, container)

    walk(root, "")
    return problems


def _bad_kml_coordinates(text: str) -> str | None:
    for token in text.split():
        for number in token.split(","):
            if number == "":
                continue
            try:
                value = float(number)
            except ValueError:
                return token[:60]
            if not math.isfinite(value):
                return token[:60]
    return None
