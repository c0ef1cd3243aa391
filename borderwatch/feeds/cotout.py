"""CoT out: publish what Borderwatch knows back to the TAK network.

``borderwatch feeds --cot-out tcp://HOST:PORT`` (or ``tls://``) sends every new incident at or above
``--cot-out-severity`` as a CoT event: a hostile (severity 3-4) or suspect (1-2) point, typed by
threat (air for drone incursions, ground otherwise), with the description, threat, severity,
segment and a link that opens the live map at the incident in its remarks. The uid is stable per
incident (``borderwatch.<owner nation>.<incident id>``: two nations may use one id; ``borderwatch.<incident
id>`` for a row with neither owner nor reporting nation), so a re-send or an update replaces the marker on the
devices instead of adding one; ``stale`` is ``--cot-out-stale`` minutes after sending. Incidents
that came in as CoT are not sent back (no echo). The last incident sent is remembered in
``<store>/feeds/cotout.json``, so a restart neither repeats nor skips anything; a lost connection
is re-established with back-off while incidents wait in the store. Border segments whose impact
level changes are published too (``feeds/cotsegments.py``), computed over what the network may see.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pathlib
import re
import socket
import ssl
import threading
import time
import urllib.parse
from xml.sax.saxutils import quoteattr, escape

import queries
from borderwatch import access
from borderwatch.filters import Filter, utcnow
from borderwatch.store import Store

log = logging.getLogger("borderwatch.feeds")

UID_PREFIX = "borderwatch."
BATCH = 500
# incidents are stamped when prepared, committed a little later (another writer may commit an
# earlier stamp after a later one): look this far back, skipping what was already sent
LOOKBACK = dt.timedelta(minutes=2)


def cot_type(threat: str, severity: int) -> str:
    affiliation = "h" if severity >= 3 else "s"
    return f"a-{affiliation}-A" if threat == "drone_incursion" else f"a-{affiliation}-G"


def view_link(lat: float, lon: float, segment: str | None) -> str:
    base = (os.environ.get("BORDERWATCH_BASE_URL", "").strip() or "http://localhost:8501").rstrip("/")
    flt = Filter(window="24h", segments=(segment,)) if segment else Filter(window="24h")
    params = {**flt.to_params(), "lat": f"{lat:.4f}", "lon": f"{lon:.4f}", "z": "12"}
    return f"{base}/?{urllib.parse.urlencode(params)}"


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def event_uid(row) -> str:
    """The CoT uid of one incident: its owner and its id (an incident's identity)."""
    owner = getattr(row, "owner_key", None)
    return UID_PREFIX + (f"{owner}." if isinstance(owner, str) and owner else "") + row.incident_id


def event_xml(row, *, now: dt.datetime, stale: dt.timedelta) -> bytes:
    """One incident (a row of ``cot_out_incidents``) as a CoT XML event."""
    ce = row.location_error_m if row.location_error_m == row.location_error_m and row.location_error_m is not None else 9999999.0
    link = view_link(row.lat, row.lon, row.segment_id)
    remarks = (f"{row.threat_type.replace('_', ' ')} · severity {int(row.severity)} · "
               f"{row.segment_id or 'no segment'} · occurred {_iso(row.occurred_at)}\n{row.description}\n{link}")
    callsign = f"BW {row.threat_type.replace('_', ' ')} {int(row.severity)}"
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<event version="2.0" uid={quoteattr(event_uid(row))} '
            f'type="{cot_type(row.threat_type, int(row.severity))}" how="h-e" time="{_iso(now)}" '
            f'start="{_iso(row.occurred_at)}" stale="{_iso(now + stale)}">'
            f'<point lat="{row.lat:.6f}" lon="{row.lon:.6f}" hae="9999999.0" ce="{ce:.1f}" le="9999999.0"/>'
            f'<detail><contact callsign={quoteattr(callsign)}/>'
            f'<remarks>{escape(remarks)}</remarks>'
            f'<link url={quoteattr(link)} relation="r-u" mime="text/html" remarks="Borderwatch live map"/>'
            f'<borderwatch threat={quoteattr(row.threat_type)} severity="{int(row.severity)}" '
            f'nation={quoteattr(row.reporting_nation or "")} source={quoteattr(row.source or "")}/>'
            f'</detail></event>').encode("utf-8")


def parse_url(url: str) -> tuple[str, str, int]:
    """``tcp://HOST:PORT`` or ``tls://HOST:PORT`` → (scheme, host, port); ValueError otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
        raise ValueError(f"CoT out address must be tcp://HOST:PORT or tls://HOST:PORT, not {url!r}")
    return parts.scheme, parts.hostname, parts.port


def network_viewer(release: str, store: Store) -> access.Viewer:
    """Who the TAK network counts as: ``public`` (incidents released to everyone; the default), a
    nation's ISO3 code (what that nation may see, its agreements included) or ``all`` (everything
    in the store: only for a network cleared for all of it)."""
    value = (release or "public").strip()
    if value.lower() == "public":
        return access.Viewer("cot-out", None, "viewer")
    if value.lower() == "all":
        return access.SYSTEM
    if not re.fullmatch(r"[A-Z]{3}", value.upper()):
        raise ValueError(f"CoT out release must be public, all or a nation's ISO3 code, not {release!r}")
    return access.viewer_for("cot-out", value.upper(), "viewer", store)


class CotPublisher:
    """A thread that sends new incidents to one TAK endpoint."""

    def __init__(self, store: Store, url: str, *, min_severity: int = 3, stale_min: float = 60.0,
                 every_s: float = 2.0, protobuf: bool = False, echo: bool = False,
                 cert: str | None = None, key: str | None = None, ca: str | None = None,
                 state_file: pathlib.Path | None = None, release: str = "public",
                 segments: bool = True, segment_every_s: float = 30.0):
        from borderwatch.feeds import cotsegments

        self.store = store
        self.segments = segments  # also publish segment impact-level changes (feeds/cotsegments.py)
        self.segment_every_s = segment_every_s
        self.segment_shapes = cotsegments.SegmentShapes()
        self.segment_sent: dict[str, dict] = {}  # segment id -> {"level", "at"} last sent
        self.segment_checked = 0.0
        self.segments_sent = 0
        self.viewer = network_viewer(release, store)
        self.scheme, self.host, self.port = parse_url(url)
        self.url = url
        self.min_severity = min_severity
        self.stale = dt.timedelta(minutes=stale_min)
        self.every_s = every_s
        self.protobuf = protobuf
        self.echo = echo
        self.state_file = state_file
        self.context = None
        if self.scheme == "tls":
            self.context = ssl.create_default_context(cafile=ca)
            if cert:
                self.context.load_cert_chain(cert, key)
        self.sock = None
        self.stop_event = threading.Event()
        self.sent = 0
        self.last_error: str | None = None
        self.recent: dict[str, dt.datetime] = {}  # incident uid -> ingested_at, sent within LOOKBACK
        self.floor = dt.datetime.min  # nothing ingested before the very first start is sent
        self.since = self._load_state()

    def _load_state(self) -> dt.datetime:
        try:
            state = json.loads(self.state_file.read_text())
            self.recent = {i: dt.datetime.fromisoformat(t) for i, t in state.get("recent", {}).items()}
            self.floor = dt.datetime.fromisoformat(state.get("floor") or dt.datetime.min.isoformat())
            self.segment_sent = {k: {"level": str(v["level"]), "at": str(v["at"])}
                                 for k, v in state.get("segments", {}).items()}
            return dt.datetime.fromisoformat(state["since"])
        except (AttributeError, OSError, ValueError, KeyError, TypeError):
            self.floor = utcnow()  # first start: only incidents from now on
            return self.floor

    def _save_since(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"since": self.since.isoformat(), "url": self.url, "floor": self.floor.isoformat(),
                                   "recent": {i: t.isoformat() for i, t in self.recent.items()},
                                   "segments": self.segment_sent}))
        os.replace(tmp, self.state_file)

    def _connect(self):
        raw = socket.create_connection((self.host, self.port), timeout=10)
        if self.context is not None:
            return self.context.wrap_socket(raw, server_hostname=self.host)
        return raw

    def _encode(self, xml: bytes) -> bytes:
        if not self.protobuf:
            return xml
        import takproto

        return bytes(takproto.xml2proto(xml, takproto.TAKProtoVer.STREAM))

    def publish_once(self) -> int:
        """Send what is new; returns how many were sent (raises OSError when the endpoint fails)."""
        with access.viewing_as(self.viewer):  # only what is releasable to the network
            df = queries.df("cot_out_incidents", store=self.store, since=max(self.since - LOOKBACK, self.floor),
                            min_severity=self.min_severity, echo=self.echo, max_rows=BATCH + len(self.recent))
        df["uid"] = [event_uid(r) for r in df.itertuples(index=False)]
        df = df[~df.uid.isin(self.recent)].head(BATCH)
        if not len(df):
            return 0
        now = utcnow()
        self._send(b"".join(self._encode(event_xml(r, now=now, stale=self.stale)) for r in df.itertuples(index=False)))
        for i, t in zip(df.uid, df.ingested_at):
            self.recent[i] = t.to_pydatetime()
        self.since = max(self.since, df.ingested_at.max().to_pydatetime())
        self.recent = {i: t for i, t in self.recent.items() if t >= self.since - LOOKBACK}
        self._save_since()
        self.sent += len(df)
        return len(df)

    def _send(self, payload: bytes) -> None:
        if self.sock is None:
            self.sock = self._connect()
        try:
            self.sock.sendall(payload)
        except OSError:
            self.close()
            raise

    def publish_segments(self) -> int:
        """Send the segments whose impact level (as the network may see it) changed since last
        sent; returns how many were sent (raises OSError when the endpoint fails)."""
        from borderwatch.feeds import cotsegments

        now = utcnow()
        levels = cotsegments.current_levels(self.store, self.viewer, self.segment_shapes, now)
        changed = cotsegments.changes(levels, self.segment_sent, now, self.stale)
        if not changed:
            return 0
        self._send(b"".join(
            self._encode(cotsegments.event_xml(s, before, now=now, stale=self.stale,
                                               link=view_link(s.mid[0], s.mid[1], s.segment_id)))
            for s, before in changed))
        for s, _ in changed:
            self.segment_sent[s.segment_id] = {"level": s.level, "at": now.isoformat()}
        self._save_since()
        self.segments_sent += len(changed)
        return len(changed)

    def run(self) -> None:
        """The loop (a supervised thread of the service): poll, send, reconnect with back-off."""
        delay = 1.0
        while not self.stop_event.is_set():
            try:
                while self.publish_once() == BATCH and not self.stop_event.is_set():
                    pass
                if self.segments and time.monotonic() - self.segment_checked >= self.segment_every_s:
                    self.publish_segments()
                    self.segment_checked = time.monotonic()
                self.last_error = None
                delay = 1.0
                self.stop_event.wait(self.every_s)
            except OSError as exc:
                self.last_error = f"{self.url}: {exc}"
                log.warning("CoT out: %s; retrying in %.0f s", self.last_error, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 60.0)
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
