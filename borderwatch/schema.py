"""Tables of the store. Geometries are WGS84 lon/lat; times are UTC (TIMESTAMP without zone)."""
from __future__ import annotations

SCHEMA_VERSION = 1

TABLES = {
    "nations": """
        iso3 VARCHAR, name VARCHAR, geom GEOMETRY, source VARCHAR
    """,
    "segments": """
        segment_id VARCHAR, nation_a VARCHAR, nation_b VARCHAR, length_km DOUBLE,
        geom GEOMETRY, source VARCHAR
    """,
    "agreements": """
        agreement_id VARCHAR, name VARCHAR, kind VARCHAR, signed VARCHAR,
        provisions VARCHAR[], description VARCHAR, sources VARCHAR
    """,
    "agreement_members": """
        agreement_id VARCHAR, iso3 VARCHAR, joined VARCHAR
    """,
    # one row per (segment, agreement) where at least one side is a member:
    # scope 'internal' = both sides members, 'external' = exactly one side
    "segment_agreements": """
        segment_id VARCHAR, agreement_id VARCHAR, scope VARCHAR
    """,
    "fortifications": """
        fortification_id VARCHAR, kind VARCHAR, name VARCHAR, condition VARCHAR,
        year_built INTEGER, segment_id VARCHAR, nation VARCHAR, geom GEOMETRY,
        dataset VARCHAR, synthetic BOOLEAN
    """,
    "sensors": """
        sensor_id VARCHAR, sensor_type VARCHAR, name VARCHAR, status VARCHAR,
        lon DOUBLE, lat DOUBLE, range_m DOUBLE, azimuth_deg DOUBLE, fov_deg DOUBLE,
        segment_id VARCHAR, nation VARCHAR, coverage GEOMETRY,
        dataset VARCHAR, synthetic BOOLEAN
    """,
    "incidents": """
        incident_id VARCHAR, occurred_at TIMESTAMP, time_precision VARCHAR,
        threat_type VARCHAR, severity TINYINT, confidence FLOAT,
        reporting_nation VARCHAR, source VARCHAR, description VARCHAR,
        lon DOUBLE, lat DOUBLE, location_error_m FLOAT, h3 UBIGINT,
        segment_id VARCHAR, nation_a VARCHAR, nation_b VARCHAR, shared_under VARCHAR[],
        dataset VARCHAR, synthetic BOOLEAN, ingested_at TIMESTAMP
    """,
    # friendly position reports from the live feeds (borderwatch/feeds/patrols.py)
    "patrols": """
        uid VARCHAR, callsign VARCHAR, nation VARCHAR, team VARCHAR, role VARCHAR, cot_type VARCHAR,
        platform VARCHAR, lon DOUBLE, lat DOUBLE, speed_mps FLOAT, course_deg FLOAT,
        reported_at TIMESTAMP, stale_at TIMESTAMP, segment_id VARCHAR, dataset VARCHAR, ingested_at TIMESTAMP
    """,
    # derived from sensors whenever they change (borderwatch.coverage.refresh)
    "segment_coverage": """
        segment_id VARCHAR, length_km DOUBLE, covered_km DOUBLE, gaps GEOMETRY
    """,
    "meta": """
        key VARCHAR, value VARCHAR
    """,
}


def ensure(con) -> None:
    """Create missing tables (idempotent; callers hold the store's write lock)."""
    existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    missing = [t for t in TABLES if t not in existing]
    if not missing:
        return
    con.execute("BEGIN TRANSACTION")
    for table in missing:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({TABLES[table]})")
    con.execute("COMMIT")
