"""Tables of the store. Geometries are WGS84 lon/lat; times are UTC (TIMESTAMP without zone)."""
from __future__ import annotations

import re

SCHEMA_VERSION = 2

# Who owns a row and to whom it is released (borderwatch/access.py reads them in SQL):
# owner_nation (NULL: the reporting nation / the nation it stands in), release_public,
# release_nations (ISO3 codes), release_agreements (agreement ids); all NULL = owner only.
# reported_at: when a sensor or fortification was reported (agreement membership is judged then;
# an incident is judged at occurred_at).
RELEASE_COLUMNS = ("owner_nation VARCHAR, release_public BOOLEAN, release_nations VARCHAR[], "
                   "release_agreements VARCHAR[]")

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
        dataset VARCHAR, synthetic BOOLEAN, reported_at TIMESTAMP, """ + RELEASE_COLUMNS,
    "sensors": """
        sensor_id VARCHAR, sensor_type VARCHAR, name VARCHAR, status VARCHAR,
        lon DOUBLE, lat DOUBLE, range_m DOUBLE, azimuth_deg DOUBLE, fov_deg DOUBLE,
        segment_id VARCHAR, nation VARCHAR, coverage GEOMETRY,
        dataset VARCHAR, synthetic BOOLEAN, reported_at TIMESTAMP, """ + RELEASE_COLUMNS + """,
        last_heard_at TIMESTAMP
    """,  # last_heard_at: when the sensor last reported (NULL: never heard / stores before the column)
    "incidents": """
        incident_id VARCHAR, occurred_at TIMESTAMP, time_precision VARCHAR,
        threat_type VARCHAR, severity TINYINT, confidence FLOAT,
        reporting_nation VARCHAR, source VARCHAR, description VARCHAR,
        lon DOUBLE, lat DOUBLE, location_error_m FLOAT, h3 UBIGINT,
        segment_id VARCHAR, nation_a VARCHAR, nation_b VARCHAR, shared_under VARCHAR[],
        dataset VARCHAR, synthetic BOOLEAN, ingested_at TIMESTAMP, """ + RELEASE_COLUMNS,
    # friendly position reports from the live feeds (borderwatch/feeds/patrols.py)
    "patrols": """
        uid VARCHAR, callsign VARCHAR, nation VARCHAR, team VARCHAR, role VARCHAR, cot_type VARCHAR,
        platform VARCHAR, lon DOUBLE, lat DOUBLE, speed_mps FLOAT, course_deg FLOAT,
        reported_at TIMESTAMP, stale_at TIMESTAMP, segment_id VARCHAR, dataset VARCHAR, ingested_at TIMESTAMP, """
        + RELEASE_COLUMNS,  # a unit's own nation owns its positions; the sensor rule applies (borderwatch/access.py)
    # derived from sensors whenever they change (borderwatch.coverage.refresh)
    "segment_coverage": """
        segment_id VARCHAR, length_km DOUBLE, covered_km DOUBLE, gaps GEOMETRY
    """,
    "meta": """
        key VARCHAR, value VARCHAR
    """,
    # local accounts (borderwatch/auth.py); passwords as Argon2id hashes
    "users": """
        name VARCHAR, nation VARCHAR, role VARCHAR, password_hash VARCHAR, must_change BOOLEAN,
        disabled BOOLEAN, created_at TIMESTAMP, updated_at TIMESTAMP
    """,
    # app sessions (borderwatch/sessions.py): a sign-in that survives a reload; the id itself lives
    # only in the user's browser (a cookie), the store keeps its SHA-256 hash
    "sessions": """
        id_hash VARCHAR, account VARCHAR, address VARCHAR, created_at TIMESTAMP, last_seen_at TIMESTAMP,
        idle_until TIMESTAMP, expires_at TIMESTAMP, revoked_at TIMESTAMP
    """,
    # feed sources (borderwatch/feeds/sources.py): who may send to the feed service, as which nation
    # and released to whom; tokens kept only as SHA-256 hashes, a TLS client certificate by fingerprint
    "feed_sources": """
        name VARCHAR, nation VARCHAR, release_public BOOLEAN, release_nations VARCHAR[],
        release_agreements VARCHAR[], token_hash VARCHAR, cert_sha256 VARCHAR, revoked BOOLEAN,
        created_at TIMESTAMP, updated_at TIMESTAMP
    """,
    # alerting (borderwatch/alerts/): rules owned by a nation, their firings and every state change
    "alert_rules": """
        rule_id VARCHAR, nation VARCHAR, kind VARCHAR, name VARCHAR, params VARCHAR, hold_off_min INTEGER,
        enabled BOOLEAN, created_by VARCHAR, created_at TIMESTAMP, updated_by VARCHAR, updated_at TIMESTAMP
    """,
    "alerts": """
        alert_id VARCHAR, rule_id VARCHAR, rule_name VARCHAR, nation VARCHAR, kind VARCHAR, cause VARCHAR,
        segment_id VARCHAR, title VARCHAR, detail VARCHAR, evidence VARCHAR, raised_at TIMESTAMP,
        state VARCHAR, assignee VARCHAR, acked_by VARCHAR, acked_at TIMESTAMP, closed_by VARCHAR,
        closed_at TIMESTAMP, updated_at TIMESTAMP
    """,
    "alert_events": """
        alert_id VARCHAR, seq INTEGER, event_at TIMESTAMP, actor VARCHAR, action VARCHAR, state VARCHAR, note VARCHAR
    """,
    # append-only audit log (borderwatch/audit.py); each entry's hash covers the previous one's
    "audit_log": """
        seq BIGINT, logged_at TIMESTAMP, actor VARCHAR, nation VARCHAR, role VARCHAR, action VARCHAR,
        outcome VARCHAR, address VARCHAR, filter_text VARCHAR, row_count BIGINT, detail VARCHAR,
        prev_hash VARCHAR, hash VARCHAR
    """,
}


def _columns(definition: str) -> list[tuple[str, str]]:
    out = []
    for part in re.split(r",(?![^(]*\))", definition):
        name, _, kind = part.strip().partition(" ")
        out.append((name, kind.strip()))
    return out


def ensure(con) -> None:
    """Create missing tables (idempotent; callers hold the store's write lock)."""
    existing = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()}
    missing = [t for t in TABLES if t not in existing]
    columns: dict[str, set[str]] = {}
    for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                     "WHERE database_name = current_database()").fetchall():
        columns.setdefault(table, set()).add(column)
    # stores written before a column existed get it added (NULL in old rows: see each column's default)
    added = [(t, name, kind) for t in TABLES if t in existing
             for name, kind in _columns(TABLES[t]) if name not in columns.get(t, set())]
    if not missing and not added:
        return
    con.execute("BEGIN TRANSACTION")
    for table in missing:
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({TABLES[table]})")
    for table, name, kind in added:
        con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    con.execute("COMMIT")
