"""The PostgreSQL catalog of a shared store: ``BORDERWATCH_CATALOG=postgresql://user@host:port/dbname``
read into its parts, checked, shown without secrets, and connected to (psycopg)."""
from __future__ import annotations

import dataclasses
import urllib.parse

from borderwatch.connections import StoreError

CATALOG_ENV = "BORDERWATCH_CATALOG"
CONNECT_TIMEOUT_S = 5


# libpq settings a catalog URL may carry as query parameters
_PG_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name",
               "passfile", "target_session_attrs")


@dataclasses.dataclass(frozen=True)
class PostgresCatalog:
    """A DuckLake catalog in a PostgreSQL database, from ``postgresql://user:pw@host:port/dbname``."""

    host: str
    port: int
    dbname: str
    user: str | None = None
    password: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> "PostgresCatalog":
        shown = _redact(url)
        try:
            parts = urllib.parse.urlsplit(url.strip())
            port = parts.port or 5432
        except ValueError as exc:
            raise StoreError(f"{CATALOG_ENV} is not a valid URL ({exc}): {shown}") from exc
        if parts.scheme not in ("postgresql", "postgres"):
            raise StoreError(f"{CATALOG_ENV} must be a postgresql://user@host:port/dbname URL "
                             f"(or unset for the embedded catalog), not {shown!r}")
        dbname = urllib.parse.unquote(parts.path.lstrip("/"))
        if not parts.hostname or not dbname or "/" in dbname:
            raise StoreError(f"{CATALOG_ENV} must name a host and a database, as in "
                             f"postgresql://user@host:5432/borderwatch, not {shown!r}")
        options = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        unknown = sorted({k for k, _ in options} - set(_PG_OPTIONS))
        if unknown:
            raise StoreError(f"{CATALOG_ENV} has unknown option(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join(_PG_OPTIONS)}")
        return cls(parts.hostname, port, dbname,
                   urllib.parse.unquote(parts.username) if parts.username else None,
                   urllib.parse.unquote(parts.password) if parts.password else None, tuple(options))

    def conninfo(self) -> str:
        """libpq ``key=value`` connection string (values quoted as libpq wants)."""
        pairs = [("host", self.host), ("port", str(self.port)), ("dbname", self.dbname)]
        if self.user:
            pairs.append(("user", self.user))
        if self.password:
            pairs.append(("password", self.password))
        pairs.extend(self.options)
        if "connect_timeout" not in dict(self.options):
            pairs.append(("connect_timeout", str(CONNECT_TIMEOUT_S)))
        return " ".join(f"{k}='{_libpq_escape(v)}'" for k, v in pairs)

    def display(self) -> str:
        """The URL without its password (for messages and logs)."""
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.dbname}"

    def connect(self, *, what: str = "the store's PostgreSQL catalog"):
        """A psycopg connection (autocommit), or a one-sentence StoreError."""
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError("the PostgreSQL client package 'psycopg' is not installed; run make setup") from exc
        try:
            return psycopg.connect(self.conninfo(), autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {what} at {self.display()}: {_pg_reason(exc)}") from exc


def _libpq_escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def _redact(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        pass
    return url


def _pg_reason(exc: BaseException) -> str:
    """The useful part of a libpq error, on one line, without secrets."""
    text = " ".join(str(exc).split())
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused (is PostgreSQL running there, and is the port right?)"
    if "timeout expired" in lowered or "timed out" in lowered:
        return "no answer within the connection timeout (host unreachable or firewalled?)"
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return "unknown host name"
    if "does not exist" in lowered and "database" in lowered:
        return text[text.lower().find("database"):].split(" FATAL")[0] + " (create it first: createdb NAME)"
    for marker in ("FATAL:", "ERROR:"):
        if marker in text:
            return text.split(marker, 1)[1].strip()
    return text.split(": ", 1)[-1] if "failed:" in text else text
