"""Independent computations the tests compare the product against (pandas over the raw rows).

Tests import their oracles from here, never from one another."""
from __future__ import annotations

import pandas as pd
import shapely

from borderwatch.filters import Filter
from conftest import NOW


def expected_ids(f: Filter, inc: pd.DataFrame, scopes: pd.DataFrame) -> set[str]:
    start, end = f.time_range(NOW)
    m = (inc.occurred_at >= start) & (inc.occurred_at < end)
    if f.nations:
        m &= inc.nation_a.isin(f.nations) | inc.nation_b.isin(f.nations) | inc.reporting_nation.isin(f.nations)
    if f.agreements:
        s = scopes[scopes.agreement_id.isin(f.agreements)]
        if f.scope != "all":
            s = s[s.scope == f.scope]
        m &= inc.segment_id.isin(set(s.segment_id))
    if f.threat_types:
        m &= inc.threat_type.isin(f.threat_types)
    m &= inc.severity >= f.min_severity
    if f.bbox:
        w, s_, e, n = f.bbox
        m &= inc.lon.between(w, e) & inc.lat.between(s_, n)
    if f.text:
        m &= inc.description.str.lower().str.contains(f.text.lower(), regex=False)
    if f.segments:
        m &= inc.segment_id.isin(f.segments)
    if f.area_wkt:
        area = shapely.from_wkt(f.area_wkt)
        m &= shapely.intersects(area, shapely.points(inc.lon, inc.lat))
    return set(inc.incident_id[m])
