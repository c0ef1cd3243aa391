"""Realistic demo traffic for the feed service: field units patrolling real border segments,
reporting over CoT (TCP and UDP, as ATAK / iTAK / WinTAK clients do) and a sensor system
pushing JSON lines; with position reports, chat, re-sends and bursts.

Everything sent is synthetic; descriptions say so.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import socket
import time
import uuid
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from borderwatch.filters import utcnow

DEFAULT_SEGMENTS = ("MEX-USA", "BLR-POL", "GRC-TUR", "FIN-RUS", "ESP-MAR", "HUN-SRB")
PLATFORMS = (("ATAK-CIV", "SAMSUNG SM-G781U", "4.10.0.57"), ("iTAK", "iPhone", "2.7.0.609"),
             ("WinTAK-CIV", "LENOVO", "1.10.0.137"))
TEAMS = ("Cyan", "Yellow", "Green", "Magenta")

# (weight, kind): what one "tick" of a unit sends
KINDS = (
    (30, "position"),      # a-f-G-U-C position report: ignored by the service (not an incident)
    (22, "sighting"),      # a-h/a-s/a-u ground or vehicle track with remarks
    (10, "spot"),          # b-m-p-s-m spot report marker
    (12, "extension"),     # explicit <borderwatch threat=... severity=.../>
    (4, "drone"),          # hostile / unknown air track
    (1, "emergency"),      # b-a-o-tbl emergency alert
    (4, "chat"),           # b-t-f chat: ignored
    (17, "json"),          # sensor detection over JSON lines
)
SIGHTINGS = (
    ("a-u-G", "Group of {n} persons on foot moving towards the border line"),
    ("a-s-G", "{n} persons climbing the fence near marker {m}"),
    ("a-h-G-E-V-C", "Pickup truck without plates, suspected smuggling, heading {d}"),
    ("a-s-G-E-V", "Vehicle stopped at the riverbank, loading bundles - possible drugs"),
    ("a-h-G-U-C-I", "Armed group of {n}, rifles visible"),
    ("a-u-S", "Small boat with {n} persons crossing the river"),
)
SPOTS = ("Footprints and discarded clothing near marker {m}", "Cut in the fence, about 1 m wide",
         "Abandoned backpacks, cigarettes contraband", "Forged passports found at the crossing point",
         "Tyre tracks crossing the patrol road")
CHATS = ("Moving to checkpoint {m}", "Copy, holding position", "Relief at 1800", "Radio check, all good")
JSON_THREATS = (("illegal_crossing", .45), ("smuggling", .2), ("drug_trafficking", .12), ("human_trafficking", .06),
                ("weapons_trafficking", .04), ("document_fraud", .05), ("drone_incursion", .08))
JSON_SOURCES = ("radar", "thermal_camera", "ground_sensor", "uav")
EXT_THREATS = ("smuggling", "drug_trafficking", "human_trafficking", "weapons_trafficking", "document_fraud",
               "illegal_crossing")
BAD = (
    b"<event uid='broken' type='a-h-G'><point lat='1' lon='2'",
    b"<event version='2.0' uid='sim-zero' type='a-h-G' time='{t}' start='{t}' stale='{t}' how='h-e'>"
    b"<point lat='0' lon='0' hae='0' ce='10' le='10'/><detail/></event>",
    b"<event version='2.0' uid='sim-lat' type='a-h-G' time='{t}' start='{t}' stale='{t}' how='h-e'>"
    b"<point lat='91' lon='10' hae='0' ce='10' le='10'/><detail/></event>",
)


@dataclasses.dataclass
class Unit:
    uid: str
    callsign: str
    platform: tuple[str, str, str]
    team: str
    seg: int
    f: float
    direction: float
    speed_f: float  # fraction of the segment per second
    transport: str  # "tcp" or "udp"
    sock: socket.socket | None = None


def _addr(text: str | None) -> tuple[str, int] | None:
    if not text or text == "off":
        return None
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Simulator:
    def __init__(self, store, *, cot_tcp=None, cot_udp=None, json_tcp=None, units: int = 6, seed: int = 1,
                 segments: tuple[str, ...] = DEFAULT_SEGMENTS, bad: float = 0.0, resend: float = 0.03,
                 json_token: str | None = None):
        from borderwatch import reference, scenario

        segs = reference.segments_frame(store)
        chosen = segs[segs.segment_id.isin(segments)]
        if chosen.empty:
            chosen = segs.nlargest(5, "length_km")
        self.geo = scenario.Geometry.from_segments(chosen.reset_index(drop=True))
        self.lengths = np.asarray(chosen.length_km, float)
        self.km_offset = scenario.km_offset
        self.rng = random.Random(seed)
        self.cot_tcp, self.cot_udp, self.json_tcp = _addr(cot_tcp), _addr(cot_udp), _addr(json_tcp)
        if not (self.cot_tcp or self.cot_udp or self.json_tcp):
            raise ValueError("every transport is off: give at least one of --cot-tcp, --cot-udp, --json-tcp")
        self.bad = bad
        self.resend = resend
        self.units = [self._unit(i) for i in range(units)]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if self.cot_udp else None
        self.json_sock: socket.socket | None = None
        self.json_token = json_token  # a feed source's token, sent as the first line of the JSON connection
        self.sent = {"cot-tcp": 0, "cot-udp": 0, "json-tcp": 0}
        self.kinds: dict[str, int] = {}
        self.history: list[tuple[str, bytes]] = []  # recent incident messages, for re-sends
        self.seq = 0

    def _unit(self, i: int) -> Unit:
        r = self.rng
        seg = i % len(self.geo.ids)
        transports = [t for t, a in (("tcp", self.cot_tcp), ("udp", self.cot_udp)) if a]
        speed_kmh = r.uniform(3, 40)
        return Unit(uid=f"ANDROID-{r.getrandbits(64):016x}" if i % 3 == 0 else str(uuid.UUID(int=r.getrandbits(128))),
                    callsign=f"{self.geo.ids[seg].split('-')[0][:2]}-{['ALPHA', 'BRAVO', 'CHARLIE', 'DELTA', 'ECHO', 'FOXTROT'][i % 6]}-{i + 1}",
                    platform=PLATFORMS[i % len(PLATFORMS)], team=TEAMS[i % len(TEAMS)], seg=seg,
                    f=r.random(), direction=r.choice((-1.0, 1.0)),
                    speed_f=speed_kmh / 3600 / max(self.lengths[seg], 1.0),
                    transport=transports[i % len(transports)] if transports else "none")

    # -- positions ------------------------------------------------------------------------------
    def _advance(self, unit: Unit, dt_s: float) -> None:
        unit.f += unit.direction * unit.speed_f * dt_s * 30  # patrols are sped up for the demo
        if not 0.02 < unit.f < 0.98:
            unit.direction = -unit.direction
            unit.f = min(max(unit.f, 0.02), 0.98)

    def _position(self, unit: Unit, spread_km: float) -> tuple[float, float]:
        seg = np.array([unit.seg])
        f = np.array([unit.f])
        base = self.geo.point_at(seg, f)
        normal = self.geo.normal_at(seg, f)
        d = self.rng.uniform(-spread_km, spread_km)
        along = self.rng.uniform(-spread_km, spread_km) / 2
        tangent = np.array([[normal[0, 1], -normal[0, 0]]])
        p = self.km_offset(base, normal[:, 0] * d + tangent[:, 0] * along, normal[:, 1] * d + tangent[:, 1] * along)
        return float(p[0, 1]), float(p[0, 0])

    # -- messages ------------------------------------------------------------------------------
    def _event(self, unit: Unit, cot_type: str, uid: str, lat: float, lon: float, *, how: str = "h-g-i-g-o",
               ce: float = 9999999.0, detail: str = "", stale_s: int = 600) -> bytes:
        now = utcnow().replace(microsecond=self.rng.randrange(0, 1000) * 1000)
        t = _iso(now)
        stale = _iso(now + dt.timedelta(seconds=stale_s))
        platform, device, version = unit.platform
        xml_decl = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' if self.rng.random() < 0.5 else ""
        return (f'{xml_decl}<event version="2.0" uid={quoteattr(uid)} type="{cot_type}" how="{how}" time="{t}" '
                f'start="{t}" stale="{stale}"><point lat="{lat:.7f}" lon="{lon:.7f}" hae="9999999.0" '
                f'ce="{ce:.1f}" le="9999999.0"/><detail><contact callsign={quoteattr(unit.callsign)}/>'
                f'<__group name="{unit.team}" role="Team Member"/>'
                f'<takv platform="{platform}" device="{device}" os="sim" version="{version}"/>{detail}'
                f'</detail></event>').encode("utf-8")

    def _remarks(self, text: str) -> str:
        return f"<remarks>{escape(text)} (synthetic demo)</remarks>"

    def _fill(self, template: str) -> str:
        r = self.rng
        return template.format(n=r.randint(2, 25), m=r.randint(1, 400), d=r.choice(("north", "south", "east", "west")))

    def message(self, unit: Unit) -> tuple[str, str, bytes]:
        """(channel, kind, bytes) for one report by ``unit``."""
        r = self.rng
        self.seq += 1
        if self.history and r.random() < self.resend:
            channel, data = r.choice(self.history)
            return channel, "resend", data
        if self.bad and r.random() < self.bad:
            t = _iso(utcnow()).encode()
            return self._cot_channel(unit), "bad", r.choice(BAD).replace(b"{t}", t)
        kind = r.choices([k for _, k in KINDS], weights=[w for w, _ in KINDS])[0]
        if kind == "json" and not self.json_tcp:
            kind = "sighting"
        if kind != "json" and not (self.cot_tcp or self.cot_udp):
            kind = "json"
        if kind == "position":
            lat, lon = self._position(unit, 0.05)
            data = self._event(unit, "a-f-G-U-C", unit.uid, lat, lon, how="m-g", ce=r.uniform(3, 15),
                               detail='<track speed="1.2" course="90"/><status battery="81"/>', stale_s=120)
            return self._cot_channel(unit), kind, data
        if kind == "json":
            lat, lon = self._position(unit, 3.0)
            threat = r.choices([t for t, _ in JSON_THREATS], weights=[w for _, w in JSON_THREATS])[0]
            source = r.choice(JSON_SOURCES)
            obj = {"id": f"{source}-{self.seq:07d}-{r.getrandbits(24):06x}", "time": _iso(utcnow()),
                   "lat": round(lat, 6), "lon": round(lon, 6), "threat_type": threat,
                   "severity": r.choices((1, 2, 3, 4), weights=(3, 5, 3, 1))[0],
                   "confidence": round(r.uniform(0.4, 0.95), 2), "source": source,
                   "description": f"{source.replace('_', ' ')} detection (synthetic demo)",
                   "location_error_m": r.choice((15, 30, 50, 120))}
            data = (json.dumps(obj) + "\n").encode("utf-8")
            self._remember("json-tcp", data)
            return "json-tcp", kind, data
        uid = str(uuid.UUID(int=r.getrandbits(128)))
        lat, lon = self._position(unit, 2.0)
        if kind == "sighting":
            cot_type, text = r.choice(SIGHTINGS)
            data = self._event(unit, cot_type, uid, lat, lon, ce=r.uniform(20, 300), detail=self._remarks(self._fill(text)))
        elif kind == "spot":
            data = self._event(unit, "b-m-p-s-m", uid, lat, lon, detail=self._remarks(self._fill(r.choice(SPOTS))))
        elif kind == "extension":
            threat = r.choice(EXT_THREATS)
            sev = r.choices((1, 2, 3, 4), weights=(2, 5, 4, 1))[0]
            data = self._event(unit, "a-u-G", uid, lat, lon, ce=r.uniform(10, 100),
                               detail=f'<borderwatch threat="{threat}" severity="{sev}" confidence="0.8" source="patrol"/>'
                                      + self._remarks(f"{threat.replace('_', ' ')} reported by patrol"))
        elif kind == "drone":
            data = self._event(unit, r.choice(("a-h-A-M-H-Q", "a-u-A-C-F")), uid, lat, lon, how="m-g",
                               ce=r.uniform(30, 500), detail=self._remarks("Small quadcopter crossing, low altitude"))
        elif kind == "emergency":
            data = self._event(unit, "b-a-o-tbl", uid, lat, lon, how="h-e", ce=r.uniform(5, 20),
                               detail='<emergency type="911 Alert">' + escape(unit.callsign) + "</emergency>")
        else:  # chat
            data = self._event(unit, "b-t-f", uid, lat, lon,
                               detail=f'<__chat chatroom="All Chat Rooms" senderCallsign={quoteattr(unit.callsign)}/>'
                                      + self._remarks(self._fill(r.choice(CHATS))))
        channel = self._cot_channel(unit)
        if kind not in ("chat",):
            self._remember(channel, data)
        return channel, kind, data

    def _cot_channel(self, unit: Unit) -> str:
        if unit.transport == "udp" and self.cot_udp:
            return "cot-udp"
        return "cot-tcp" if self.cot_tcp else "cot-udp"

    def _remember(self, channel: str, data: bytes) -> None:
        self.history.append((channel, data))
        if len(self.history) > 200:
            del self.history[:100]

    # -- sending -------------------------------------------------------------------------------
    def send(self, unit: Unit, channel: str, data: bytes) -> None:
        if channel == "cot-udp":
            self.udp.sendto(data, self.cot_udp)
        elif channel == "json-tcp":
            if self.json_sock is None:
                self.json_sock = socket.create_connection(self.json_tcp, timeout=10)
                if self.json_token:
                    self.json_sock.sendall((json.dumps({"token": self.json_token}) + "\n").encode("utf-8"))
            self.json_sock.sendall(data)
        else:
            if unit.sock is None:
                unit.sock = socket.create_connection(self.cot_tcp, timeout=10)
            unit.sock.sendall(data)
        self.sent[channel] += 1

    def run(self, *, rate: float = 5.0, duration: float | None = 60.0, count: int | None = None,
            burst_p: float = 0.04, progress=None) -> dict:
        """Send at ``rate`` events/s on average (with bursts) until ``duration`` s or ``count``."""
        if duration is None and count is None:
            raise ValueError("give a duration or a count: the simulation must end")
        t0 = time.monotonic()
        next_at = t0
        last = t0
        total = 0
        bursts = 0
        try:
            while True:
                now = time.monotonic()
                if (duration is not None and now - t0 >= duration) or (count is not None and total >= count):
                    break
                if now < next_at:
                    time.sleep(min(next_at - now, 0.2))
                    continue
                for u in self.units:
                    self._advance(u, now - last)
                last = now
                unit = self.rng.choice(self.units)
                n = 1
                if self.rng.random() < burst_p:  # a group crossing: a burst of reports within a second
                    n = self.rng.randint(8, 25)
                    bursts += 1
                for _ in range(n):
                    if count is not None and total >= count:
                        break
                    channel, kind, data = self.message(unit)
                    self.send(unit, channel, data)
                    self.kinds[kind] = self.kinds.get(kind, 0) + 1
                    total += 1
                next_at += self.rng.expovariate(rate) if rate > 0 else 0
                if progress and total % 100 == 0:
                    progress(total)
        finally:
            self.close()
        return {"sent": total, "seconds": round(time.monotonic() - t0, 1), "bursts": bursts,
                "by_channel": dict(self.sent), "by_kind": dict(sorted(self.kinds.items()))}

    def close(self) -> None:
        for s in [u.sock for u in self.units] + [self.json_sock, self.udp]:
            if s is not None:
                try:
                    if s.type == socket.SOCK_STREAM:
                        s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                s.close()
        for u in self.units:
            u.sock = None
        self.json_sock = None
        self.udp = None
