"""Feed sources: who may send to the feed service, as which nation, released to whom.

A source is registered by an administrator (``borderwatch sources add radar_el_paso --nation USA
--release-to MEX``), which prints its token once. The store keeps only the token's SHA-256 hash:
tokens are 256 random bits, so (unlike passwords) no slow hash is needed to make guessing
hopeless, and the hash can be looked up directly. A source may also hold a TLS client
certificate (its SHA-256 fingerprint), which identifies it on the CoT-over-TLS listener.

What a source sends is **owned by its nation** and released as the source says; a message that
states another reporting nation is refused. Revoking a source, or rotating its token, takes
effect on open connections within ``REFRESH_S`` seconds. Every change is audited, and so is every
refused token or claim (at most ``AUDIT_PER_MINUTE`` entries a minute; the rest are counted).
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import pathlib
import queue
import re
import secrets
import ssl
import threading
import time

import queries
from borderwatch import access, audit
from borderwatch.feeds.records import Rejected
from borderwatch.filters import utcnow
from borderwatch.store import Store, default_store

NAME_RE = re.compile(r"[a-z0-9_]{1,40}")  # also the incident "source" word of what it sends
TOKEN_PREFIX = "bwfs_"
REFRESH_S = 2.0
AUDIT_PER_MINUTE = 60
_HEX = re.compile(r"[0-9a-f]{64}")
log = logging.getLogger("borderwatch.feeds")


class SourceError(ValueError):
    """Bad source input, explained in one sentence."""


class NationClaim(Rejected):
    """A message from an identified sender that states another nation (refused and audited)."""


@dataclasses.dataclass(frozen=True)
class Source:
    name: str
    nation: str
    release: access.Release
    token_hash: str
    cert_sha256: str | None
    revoked: bool

    @classmethod
    def from_row(cls, row) -> "Source":
        name, nation, public, nations, agreements, token_hash, cert, revoked, *_ = row
        return cls(name, nation, access.Release(bool(public), tuple(nations or ()), tuple(agreements or ())),
                   token_hash, cert, bool(revoked))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def fingerprint(value: str) -> str:
    """A certificate's SHA-256 fingerprint (64 hex digits) from a PEM file or ``sha256:HEX``."""
    text = (value or "").strip()
    if text.lower().startswith("sha256:"):
        hexed = text[7:].replace(":", "").lower()
        if not _HEX.fullmatch(hexed):
            raise SourceError(f"a sha256 fingerprint has 64 hex digits, not {text[7:][:70]!r}")
        return hexed
    path = pathlib.Path(text)
    try:
        der = ssl.PEM_cert_to_DER_cert(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SourceError(f"certificate {text!r}: give a PEM certificate file or sha256:FINGERPRINT ({exc})") from None
    return hashlib.sha256(der).hexdigest()


# -- the catalog ----------------------------------------------------------------------------
def get(name: str, store: Store | None = None) -> Source | None:
    rows = queries.rows("source_get", store=store or default_store(), source=name)
    return Source.from_row(rows[0]) if rows else None


def list_sources(store: Store | None = None):
    return queries.df("source_list", store=store or default_store())


def _existing(name: str, store: Store) -> Source:
    source = get(name, store)
    if source is None:
        raise SourceError(f"no feed source named {name!r} (borderwatch sources list)")
    return source


def _check_certificate(cert: str | None, name: str, store: Store) -> str | None:
    if cert is None:
        return None
    fp = fingerprint(cert)
    holders = [n for (n,) in queries.rows("source_by_certificate", store=store, cert_sha256=fp) if n != name]
    if holders:
        raise SourceError(f"that certificate belongs to source {holders[0]!r} already")
    return fp


def add(name: str, nation: str, release_to: str = "owner", *, cert: str | None = None, by: str = "system",
        store: Store | None = None, address: str = "") -> str:
    """Register a source; returns its token (shown once, stored only as a hash)."""
    store = store or default_store()
    if not NAME_RE.fullmatch(name or ""):
        raise SourceError(f"source name {name!r} must be 1-40 lower-case letters, digits or '_' "
                          "(it is also the source word of its incidents)")
    try:
        owner, release = access.release_options(store, nation or "", release_to)
    except ValueError as exc:
        raise SourceError(str(exc).replace("--owner", "--nation")) from None
    fp = _check_certificate(cert, name, store)
    token = new_token()
    with store.transaction() as cur:
        if queries.rows("source_get", store=store, source=name):
            raise SourceError(f"a feed source named {name!r} exists already")
        queries.execute("source_insert", store=store, source=name, nation=owner, public=release.public,
                        nations=list(release.nations), agreements=list(release.agreements),
                        token_hash=token_hash(token), cert_sha256=fp, at=utcnow())
        audit.record("source-added", actor=by, address=address, store=store, cur=cur,
                     detail=f"{name} ({owner}, {release.describe()}" + (", with a certificate)" if fp else ")"))
    return token


def revoke(name: str, *, by: str = "system", store: Store | None = None, address: str = "") -> None:
    store = store or default_store()
    source = _existing(name, store)
    if source.revoked:
        raise SourceError(f"feed source {name!r} is revoked already")
    with store.transaction() as cur:
        queries.execute("source_set_revoked", store=store, source=name, at=utcnow())
        audit.record("source-revoked", actor=by, address=address, detail=name, store=store, cur=cur)


def rotate(name: str, *, by: str = "system", store: Store | None = None, address: str = "") -> str:
    """A new token for ``name``; the old one stops working. A revoked source stays revoked."""
    store = store or default_store()
    if _existing(name, store).revoked:
        raise SourceError(f"feed source {name!r} is revoked: add a new source instead")
    token = new_token()
    with store.transaction() as cur:
        queries.execute("source_set_token", store=store, source=name, token_hash=token_hash(token), at=utcnow())
        audit.record("source-rotated", actor=by, address=address, detail=name, store=store, cur=cur)
    return token


def set_certificate(name: str, cert: str | None, *, by: str = "system", store: Store | None = None,
                    address: str = "") -> str | None:
    store = store or default_store()
    _existing(name, store)
    fp = _check_certificate(cert, name, store)
    with store.transaction() as cur:
        queries.execute("source_set_certificate", store=store, source=name, cert_sha256=fp, at=utcnow())
        audit.record("source-certificate", actor=by, address=address, store=store, cur=cur,
                     detail=f"{name}: " + (f"sha256:{fp}" if fp else "certificate removed"))
    return fp


# -- in the feed service --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Identity:
    """Who sent a connection's messages: a registered source, or an allow-list file entry."""
    identity: str  # "source:NAME", "cn:NAME" or "sha256:HEX"
    source: str  # the incident source word
    nation: str | None = None
    name: str | None = None  # the registered source's name (None: an allow-list file entry)
    release: access.Release | None = None
    token_hash: str | None = None


class Gate:
    """The feed service's view of the registered sources (refreshed every ``REFRESH_S``) and its
    audit of refusals (a worker thread, so a flood of bad connections never blocks a listener)."""

    def __init__(self, store: Store):
        self.store = store
        self.by_name: dict[str, Source] = {}
        self.known: tuple[set[str], set[str]] = (set(), set())  # nations and agreements of the store
        self.loaded = 0.0
        self.lock = threading.Lock()
        self.audits: queue.Queue = queue.Queue(maxsize=1000)
        self.window = [0.0, 0, 0]  # minute start, audited, dropped
        self.worker: threading.Thread | None = None  # started at the first refusal, ended by close()
        self.start_lock = threading.Lock()

    def _sources(self) -> dict[str, Source]:
        with self.lock:
            if time.monotonic() - self.loaded > REFRESH_S:
                try:
                    rows = queries.rows("source_all", store=self.store)
                except Exception as exc:  # the store unreachable for a moment: keep what was read last
                    if not self.loaded:
                        raise
                    log.warning("feed sources not re-read (%s): using the list read last", exc)
                    rows = None
                if rows is not None:
                    self.by_name = {s.name: s for s in map(Source.from_row, rows)}
                    self.known = ({n for n, _ in queries.rows("nation_names", store=self.store)},
                                  {a for a, _ in queries.rows("agreement_names", store=self.store)})
                self.loaded = time.monotonic()
            return self.by_name

    def by_token(self, token) -> tuple[Identity | None, str]:
        if not isinstance(token, str) or not token:
            return None, "no token"
        digest = token_hash(token)
        for s in self._sources().values():
            if hmac.compare_digest(s.token_hash, digest):
                if s.revoked:
                    return None, f"token of revoked source {s.name}"
                return _identity(s), ""
        return None, "wrong token"

    def by_certificate(self, der: bytes | None) -> Identity | None:
        fp = hashlib.sha256(der).hexdigest() if der else None
        for s in self._sources().values():
            if fp and s.cert_sha256 == fp and not s.revoked:
                return _identity(s)
        return None

    def has_certificates(self) -> bool:
        return any(s.cert_sha256 and not s.revoked for s in self._sources().values())

    def still_valid(self, who: Identity | None) -> str:
        """'' while ``who`` may go on sending, else why not (revoked, token rotated, removed)."""
        if getattr(who, "name", None) is None:  # not a registered source (an allow-list file entry)
            return ""
        s = self._sources().get(who.name)
        if s is None or s.revoked:
            return f"source {who.name} was revoked"
        if who.token_hash is not None and s.token_hash != who.token_hash:
            return f"the token of source {who.name} was rotated"
        return ""

    def apply(self, rec: dict, who: Identity | None) -> None:
        """``apply`` the sender's identity, then a record's own ``release_to`` (JSON lines), which a
        feed source may state instead of its default releasability; nobody else may."""
        release_to = rec.pop("release_to", None)
        apply(rec, who)
        if release_to is None:
            return
        if getattr(who, "name", None) is None:
            raise Rejected("release_to is accepted only from a feed source (a connection that sent its token first)")
        self._sources()
        nations, agreements = self.known
        try:
            release = access.Release.parse(release_to, agreements)
        except ValueError as exc:
            raise Rejected(str(exc).replace("release-to", "release_to")) from None
        unknown = [n for n in release.nations if n not in nations]
        if unknown:
            raise Rejected(f"release_to: {', '.join(unknown)} not a nation in the store (ISO3, e.g. USA)")
        rec.update(release_public=release.public, release_nations=list(release.nations),
                   release_agreements=list(release.agreements))

    def hello(self, message: bytes) -> tuple[Identity | None, str]:
        """The identity a connection's first JSON line names: ``{"token": "..."}``."""
        from borderwatch.feeds import jsonfeed

        try:
            obj = jsonfeed.loads(message)
        except Rejected as exc:
            return None, f"first line must be {{\"token\": ...}}: {exc.reason}"
        if not isinstance(obj, dict) or set(obj) != {"token"}:
            return None, "first line must be {\"token\": ...} (a source token from borderwatch sources add)"
        return self.by_token(obj["token"])

    def refuse(self, channel: str, peer: str, reason: str, who: Identity | None = None) -> None:
        """Audit a refusal (in the background; at most ``AUDIT_PER_MINUTE`` a minute)."""
        now = time.monotonic()
        with self.lock:
            if now - self.window[0] >= 60:
                self._summary()
                self.window = [now, 0, 0]
            if self.window[1] >= AUDIT_PER_MINUTE:
                self.window[2] += 1
                return
            self.window[1] += 1
        actor = getattr(who, "name", None) or (who.identity if who else "")
        self._queue(("feed-refused", actor, getattr(who, "nation", None), peer.split(" ")[0], f"{channel}: {reason}"))

    def _summary(self) -> None:
        if self.window[2]:
            self._queue(("feed-refused", "system", None, "", f"{self.window[2]} more refusals within a minute, not "
                                                              "audited one by one (see rejects.log)"))
            self.window[2] = 0

    def _queue(self, entry) -> None:
        try:
            self.audits.put_nowait(entry)
        except queue.Full:
            return
        with self.start_lock:
            if self.worker is None:
                self.worker = threading.Thread(target=self._drain, name="feeds-audit", daemon=True)
                self.worker.start()

    def _drain(self) -> None:
        while True:
            entry = self.audits.get()
            if entry is None:  # close()
                return
            action, actor, nation, address, detail = entry
            try:
                audit.record(action, "refused", actor=actor, nation=nation, address=address, detail=detail,
                             store=self.store)
            except Exception as exc:  # an audit failure must not stop the feed
                log.error("a refusal was not audited: %s", exc)

    def close(self, timeout: float = 10.0) -> None:
        """Write the refusals still queued, then stop the audit worker."""
        with self.lock:
            self._summary()
        with self.start_lock:
            worker, self.worker = self.worker, None
        if worker is not None:
            self.audits.put(None)
            worker.join(timeout)


def _identity(s: Source) -> Identity:
    return Identity(f"source:{s.name}", s.name, s.nation, s.name, s.release, s.token_hash)


def folder_identity(s: Source) -> Identity:
    """A watched folder read as source ``s`` (``feeds --watch-source``): no token, so rotating the
    token leaves the folder alone; revoking the source stops it."""
    return Identity(f"source:{s.name}", s.name, s.nation, s.name, s.release, None)


def apply(rec: dict, who: Identity | None) -> None:
    """Stamp a record with its sender's identity: owner nation and releasability; refuse a claim of
    another nation. Allow-list entries (no registered source) keep their old meaning: their nation
    is the default reporting nation."""
    if who is None or who.nation is None:
        return
    key = "nation" if rec.get("kind") is not None else "reporting_nation"  # patrol positions: the unit's nation
    stated = rec.get(key)
    if stated and stated != who.nation:
        raise NationClaim(f"{who.identity} reports for {who.nation} and may not claim nation {stated}")
    rec[key] = who.nation
    if getattr(who, "name", None) is not None and key == "reporting_nation":
        rec["owner_nation"] = who.nation
        rec["release_public"] = who.release.public
        rec["release_nations"] = list(who.release.nations)
        rec["release_agreements"] = list(who.release.agreements)
        rec["extra"]["feed_source"] = who.name
