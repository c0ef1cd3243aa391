"""TLS streaming input with client certificates (TAK's convention), using Python's ``ssl``.

The service presents its own certificate and requires a client certificate signed by the CA
given (``--tls-ca``). The certificate must then identify a sender, in one of two ways:

- a **feed source** holding its fingerprint (``borderwatch sources add NAME --nation ISO3
  --release-to ... --cert client.pem``, or ``sources certificate NAME client.pem``): the preferred
  way. Its nation owns what it sends and its releasability applies; an event stating another
  nation is refused (and audited); revoking the source refuses the certificate from then on,
  open connections included. See borderwatch/feeds/sources.py.
- the **allow-list file** (``--tls-clients``), kept for sites that manage certificates there,
  which names the source word of every client and optionally its nation::

    # identity                                   source        reporting nation (optional)
    cn:BRAVO-2                                   patrol        USA
    sha256:5f1c...e9 (64 hex digits, colons allowed)   thermal_camera

  A certificate is identified by its SHA-256 fingerprint or by its subject common name. Events
  carry its source (unless the event's Borderwatch extension states one) and its nation (an event
  stating another is refused); ownership follows the reporting nation and nothing is released to
  others (the default rule).

Feed sources are looked up first. A certificate that neither names is refused with a logged,
audited reason.
"""
from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import re
import ssl

from borderwatch.feeds import records

_HEX = re.compile(r"[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class Client:
    identity: str  # "cn:NAME" or "sha256:HEX"
    source: str
    nation: str | None = None


class AllowList:
    def __init__(self, path: pathlib.Path):
        self.path = pathlib.Path(path)
        self.by_identity: dict[str, Client] = {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            where = f"{self.path.name} line {number}"
            if len(parts) not in (2, 3):
                raise ValueError(f"{where}: expected 'IDENTITY SOURCE [NATION]', got {records.clip(line, 60)!r}")
            ident, source = parts[0], parts[1]
            kind, sep, value = ident.partition(":")
            kind = kind.lower()
            if kind == "sha256":
                value = value.replace(":", "").lower()
                if not _HEX.fullmatch(value):
                    raise ValueError(f"{where}: a sha256 fingerprint has 64 hex digits, not {records.clip(value, 70)!r}")
            elif kind != "cn" or not sep or not value:
                raise ValueError(f"{where}: identity must be cn:NAME or sha256:FINGERPRINT, not {records.clip(ident, 60)!r}")
            try:
                source = records.check_source(source, "")
                nation = records.check_nation(parts[2]) if len(parts) == 3 else None
            except records.Rejected as exc:
                raise ValueError(f"{where}: {exc.reason}") from None
            key = f"{kind}:{value}"
            self.by_identity[key] = Client(key, source, nation)
        if not self.by_identity:
            raise ValueError(f"{self.path.name}: no client listed (every TLS client needs a line)")

    def lookup(self, der: bytes | None, cert: dict | None) -> Client | None:
        if der:
            hit = self.by_identity.get("sha256:" + hashlib.sha256(der).hexdigest())
            if hit:
                return hit
        cn = common_name(cert)
        return self.by_identity.get(f"cn:{cn}") if cn else None


def common_name(cert: dict | None) -> str | None:
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def server_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    """TLS 1.2+ server context that requires a client certificate signed by ``ca``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
