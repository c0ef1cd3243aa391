"""What the feed tests share: CoT events written in the tests, sending them, waiting, counting
what was stored, and test certificates (a CA, the service, clients)."""
from __future__ import annotations

import collections
import datetime as dt
import pathlib
import random
import socket
import time
import uuid

import queries

DECL = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
EL_PASO = (31.7619, -106.4850)  # on the United States-Mexico border


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def event(uid: str, cot_type: str = "a-h-G", lat=EL_PASO[0], lon=EL_PASO[1], *, ce="25.0",
          when: dt.datetime | None = None, detail: str = "", point: bool = True, drop: tuple = ()) -> bytes:
    when = when or now_utc() - dt.timedelta(minutes=2)
    attrs = {"version": "2.0", "uid": uid, "type": cot_type, "how": "h-e", "time": iso(when),
             "start": iso(when), "stale": iso(when + dt.timedelta(minutes=10))}
    head = " ".join(f'{k}="{v}"' for k, v in attrs.items() if k not in drop)
    pt = f'<point lat="{lat}" lon="{lon}" hae="100" ce="{ce}" le="9999999.0"/>' if point else ""
    return f'<event {head}>{pt}<detail><contact callsign="TEST-1"/>{detail}</detail></event>'.encode()


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_until(pred, timeout: float = 10.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return pred()


def stored(store, ids) -> collections.Counter:
    rows = queries.rows("feed_incidents", store=store, ids=list(ids))
    return collections.Counter(r[0] for r in rows)


def rows_by_id(store, ids) -> dict:
    df = queries.df("feed_incidents", store=store, ids=list(ids))
    return {r["incident_id"]: r for r in df.to_dict("records")}


def send_tcp(port: int, chunks, pause: float = 0.0) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for c in chunks:
            s.sendall(c)
            if pause:
                time.sleep(pause)


def send_udp(port: int, datagrams) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))


def split_randomly(data: bytes, rng: random.Random, sizes=(1, 3, 17, 64, 300, 2000)) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        k = rng.choice(sizes)
        out.append(data[i:i + k])
        i += k
    return out


def _certs(tmp_path: pathlib.Path) -> dict:
    """A CA, the service's certificate and three clients: allowed, unlisted, and signed by another CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def make(cn, issuer=None, ca=False, server=False):
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(name(cn))
             .issuer_name(name(issuer[0]) if issuer else name(cn)).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
             .not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                             x509.DNSName("localhost")]), critical=False)
        if ca:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                              content_commitment=False, key_encipherment=False,
                                              data_encipherment=False, key_agreement=False,
                                              encipher_only=False, decipher_only=False), critical=True)
        else:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer[1] if issuer else key).public_key()), critical=False)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        cert = b.sign(issuer[1] if issuer else key, hashes.SHA256())
        cp, kp = tmp_path / f"{cn}.pem", tmp_path / f"{cn}.key"
        cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        kp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        return cn, key, cert, str(cp), str(kp)

    ca = make("Borderwatch test CA", ca=True)
    other = make("Other CA", ca=True)
    out = {"ca": ca[3], "server": make("feeds", issuer=ca, server=True)[3:],
           "bravo": make("BRAVO-2", issuer=ca)[3:], "unlisted": make("INTRUDER", issuer=ca)[3:],
           "stranger": make("STRANGER", issuer=other)[3:]}
    sensor = make("SENSOR-9", issuer=ca)
    out["sensor"] = sensor[3:]
    fp = sensor[2].fingerprint(hashes.SHA256()).hex()
    allow = tmp_path / "clients.txt"
    allow.write_text("# identity  source  nation\ncn:BRAVO-2  patrol  usa\n"
                     f"sha256:{':'.join(fp[i:i + 2] for i in range(0, 64, 2))}  thermal_camera\n")
    out["clients"] = str(allow)
    return out


# -- feed sources: the fixtures and helpers their tests share ---------------------------------------
import contextlib  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def store(feed_store):
    """A store with the reference data only (conftest's ``feed_store``, one per module)."""
    return feed_store


@pytest.fixture
def env(store, monkeypatch):
    """``store`` as the default store, with revocations reaching open connections quickly."""
    from borderwatch import store as store_mod
    from borderwatch.feeds import sources

    monkeypatch.setenv("BORDERWATCH_STORE", str(store.path))
    monkeypatch.setenv("BORDERWATCH_REFRESH_SECONDS", "0")
    monkeypatch.delenv("BORDERWATCH_AUTH", raising=False)
    monkeypatch.delenv("BORDERWATCH_NOW", raising=False)
    monkeypatch.setattr(sources, "REFRESH_S", 0.1)
    store_mod.reset_default_store()
    yield store
    store_mod.reset_default_store()


def viewer(store, nation, role="viewer"):
    from borderwatch import access

    return access.viewer_for(f"{nation.lower()}-{role}", nation, role, store)


@contextlib.contextmanager
def running(store, **kw):
    """A feed service with a JSON listener on a free port (no watched folder unless asked)."""
    from borderwatch.feeds.service import FeedConfig, FeedService

    config = dict(cot_tcp=None, cot_udp=None, json_tcp=0, watch_enabled=False, batch_ms=50)
    svc = FeedService(store, FeedConfig(**(config | kw))).start()
    try:
        yield svc
    finally:
        svc.stop()


def record(ident: str, **extra) -> bytes:
    """One JSON-lines record at El Paso, now."""
    obj = {"id": ident, "time": iso(now_utc()), "lat": EL_PASO[0], "lon": EL_PASO[1], "threat_type": "smuggling"}
    return (json.dumps(obj | extra) + "\n").encode()


def hello(token) -> bytes:
    return (json.dumps({"token": token}) + "\n").encode()


def refused_when_sending(port: int, *lines: bytes) -> bool:
    """Send ``lines`` on one connection; True when the service then closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(lines))
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True


def row(store, ident: str) -> dict | None:
    cur = store.cursor().execute(
        "SELECT reporting_nation, owner_nation, release_public, release_nations, release_agreements, source, "
        "occurred_at FROM incidents WHERE incident_id = ?", [ident])
    found = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], found)) if found else None


def refusals(store) -> list[str]:
    from borderwatch import audit

    frame = audit.entries(store, action="feed-refused", limit=100)
    return list(frame.detail)


def journal_failing_once(journal_mod, path, monkeypatch):
    """A journal whose first fsync fails with a full disk; returns (journal, failed, durable): what
    its callbacks were told."""
    failed, durable = [], []
    j = journal_mod.Journal(path, on_durable=durable.extend,
                            on_failed=lambda recs, reason: failed.append((len(recs), reason)))
    j.open()
    real = journal_mod.os.fdatasync
    calls = {"n": 0}

    def flaky(fd):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        return real(fd)

    monkeypatch.setattr(journal_mod.os, "fdatasync", flaky)
    return j, failed, durable


def listener_records(n: int, prefix: str = "rec", **fields) -> list[dict]:
    """``n`` incident records as a CoT listener journals them (a line of points near El Paso),
    with ``fields`` set on each."""
    from borderwatch.feeds import cot

    out = []
    for k in range(n):
        rec = cot.parse_incident(event(uid(prefix), lat=31.70 + k / 1000, lon=-106.40))
        rec["extra"].update(channel="cot-tcp", peer="127.0.0.1:1 (pid 1)", received_at="2026-11-01T12:00:00Z")
        rec.update(fields)
        out.append(rec)
    return out
