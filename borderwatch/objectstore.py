"""Table files in S3-compatible object storage: ``BORDERWATCH_DATA_PATH=s3://bucket/prefix/``.

DuckDB's ``httpfs`` extension (loaded from its PyPI package, only for such a data path) reads
and writes the lake's Parquet files in the bucket. The access key, region and server come from
the environment and become a temporary DuckDB secret (held in memory, never written to disk) on
every connection the store opens:

- ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (required), ``AWS_SESSION_TOKEN`` (optional)
- ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``; default ``us-east-1``)
- ``BORDERWATCH_S3_ENDPOINT``: an S3-compatible server, ``https://host[:port]`` or
  ``http://host:port`` (the scheme sets TLS); unset for Amazon S3
- ``BORDERWATCH_S3_URL_STYLE``: ``path`` (bucket in the path; the default with an endpoint) or
  ``vhost`` (bucket in the host name; the default for Amazon S3)
- ``BORDERWATCH_S3_USE_SSL``: ``true``/``false`` for an endpoint given without a scheme (default true)
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import urllib.parse
from typing import Mapping

ENDPOINT_ENV = "BORDERWATCH_S3_ENDPOINT"
URL_STYLE_ENV = "BORDERWATCH_S3_URL_STYLE"
USE_SSL_ENV = "BORDERWATCH_S3_USE_SSL"
PROBE = ".borderwatch-probe.csv"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def is_s3(path) -> bool:
    return str(path).strip().lower().startswith("s3://")


def _error(message: str):
    from borderwatch.store import StoreError

    return StoreError(message)


def _env(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _error(f"{name} contains a control character; check how it is set")
    return value


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclasses.dataclass(frozen=True)
class S3DataPath:
    """Where the lake's table files are in a bucket, and how to reach it."""

    bucket: str
    prefix: str  # "" or "a/b/"
    key_id: str = dataclasses.field(repr=False)
    secret: str = dataclasses.field(repr=False)
    session_token: str = dataclasses.field(repr=False)
    region: str
    endpoint: str  # host[:port]; "" for Amazon S3
    url_style: str
    use_ssl: bool

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> "S3DataPath":
        environ = os.environ if environ is None else environ
        text = str(url).strip()
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise _error("the s3:// data path contains a control character")
        rest = text[len("s3://"):]
        bucket, _, prefix = rest.partition("/")
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise _error(f"the data path {text!r} must be s3://BUCKET/PREFIX/ with a bucket name of 3 to 63 "
                         "lower-case letters, digits, dots and hyphens")
        parts = [p for p in prefix.split("/") if p]
        if any(p in (".", "..") for p in parts) or "?" in prefix or "#" in prefix:
            raise _error(f"the data path {text!r} may not contain '.', '..', '?' or '#' as part of its prefix")
        key_id, secret = _env(environ, "AWS_ACCESS_KEY_ID"), _env(environ, "AWS_SECRET_ACCESS_KEY")
        if not key_id or not secret:
            raise _error("an s3:// data path needs the object store's access key in AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY (see docs/deploy.md, object storage)")
        endpoint, use_ssl = _endpoint(environ)
        style = _env(environ, URL_STYLE_ENV).lower() or ("path" if endpoint else "vhost")
        if style not in ("path", "vhost"):
            raise _error(f"{URL_STYLE_ENV} must be 'path' or 'vhost', not {style!r}")
        region = _env(environ, "AWS_REGION") or _env(environ, "AWS_DEFAULT_REGION") or "us-east-1"
        return cls(bucket, "".join(p + "/" for p in parts), key_id, secret, _env(environ, "AWS_SESSION_TOKEN"),
                   region, endpoint, style, use_ssl)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def where(self) -> str:
        """The server, in words."""
        if self.endpoint:
            return f"{'https' if self.use_ssl else 'http'}://{self.endpoint}"
        return f"Amazon S3 ({self.region})"

    def display(self) -> str:
        """The data path and how it is reached, without secrets (the key id shortened)."""
        key = ("…" + self.key_id[-4:]) if len(self.key_id) > 8 else "…"
        return (f"{self.url} at {self.where()} (region {self.region}, {self.url_style}-style URLs, "
                f"TLS {'on' if self.use_ssl else 'off'}, access key {key})")

    def scrub(self, text: str) -> str:
        for value in (self.secret, self.session_token):
            if value:
                text = text.replace(value, "***")
        return text

    def secret_sql(self) -> str:
        """The CREATE SECRET statement (every value an escaped SQL string literal)."""
        name = "bw_s3_" + hashlib.sha256(self.url.encode()).hexdigest()[:16]
        options = [("KEY_ID", self.key_id), ("SECRET", self.secret), ("REGION", self.region),
                   ("URL_STYLE", self.url_style), ("SCOPE", self.url)]
        if self.session_token:
            options.append(("SESSION_TOKEN", self.session_token))
        if self.endpoint:
            options.append(("ENDPOINT", self.endpoint))
        body = ", ".join(f"{k} {_sql_text(v)}" for k, v in options)
        return (f"CREATE OR REPLACE TEMPORARY SECRET {name} (TYPE s3, PROVIDER config, {body}, "
                f"USE_SSL {'true' if self.use_ssl else 'false'})")

    def configure(self, con) -> None:
        """Load httpfs into ``con`` and give it this bucket's credentials."""
        from borderwatch.store import load_extension

        load_extension(con, "httpfs")
        con.execute(self.secret_sql())

    def probe(self, con) -> None:
        """Write a small object under the prefix: the bucket exists, is reachable and writable."""
        import duckdb

        target = self.url + PROBE
        try:
            con.execute(f"COPY (SELECT 'borderwatch' AS probe) TO {_sql_text(target)} (FORMAT csv)")
        except duckdb.Error as exc:
            raise _error(self.reason(exc)) from exc

    def reason(self, exc: BaseException) -> str:
        """One sentence for a failed request to the bucket (no secrets)."""
        text = self.scrub(" ".join(str(exc).split()))
        lowered = text.lower()
        where, var = self.where(), "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        if "nosuchbucket" in lowered:
            return (f"the bucket '{self.bucket}' does not exist at {where}; create it first "
                    f"or correct BORDERWATCH_DATA_PATH")
        if any(m in lowered for m in ("invalidaccesskeyid", "signaturedoesnotmatch", "invalidtoken",
                                      "expiredtoken", "(http code 401)")):
            return f"the object store at {where} refused the access key for bucket '{self.bucket}'; check {var}"
        if "accessdenied" in lowered or "(http code 403)" in lowered:
            return (f"the access key may not write to {self.url} at {where} (access denied); "
                    "grant it read, write and delete on that prefix")
        if any(m in lowered for m in ("ssl", "tls", "certificate", "handshake")):
            return (f"the TLS connection to the object store at {where} failed; check {ENDPOINT_ENV} "
                    f"(http:// or https://) and {USE_SSL_ENV}")
        if any(m in lowered for m in ("could not connect", "could not resolve", "connection refused",
                                      "timed out", "timeout", "failed to connect", "couldn't connect")):
            return f"cannot reach the object store at {where}; check {ENDPOINT_ENV} and that the server is running"
        return f"the data path {self.url} at {where} is not usable: {text}"


def _endpoint(environ: Mapping[str, str]) -> tuple[str, bool]:
    raw = _env(environ, ENDPOINT_ENV)
    flag = _env(environ, USE_SSL_ENV).lower()
    if flag and flag not in _TRUE | _FALSE:
        raise _error(f"{USE_SSL_ENV} must be true or false, not {flag!r}")
    use_ssl = flag not in _FALSE
    if not raw:
        return "", use_ssl
    if "://" in raw:
        parts = urllib.parse.urlsplit(raw)
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or parts.query or parts.username:
            raise _error(f"{ENDPOINT_ENV} must be http://HOST:PORT or https://HOST[:PORT], not {raw!r}")
        scheme_ssl = parts.scheme == "https"
        if flag and scheme_ssl != use_ssl:
            raise _error(f"{ENDPOINT_ENV} says {parts.scheme}:// but {USE_SSL_ENV} says {flag}; drop one")
        raw, use_ssl = parts.netloc, scheme_ssl
    if not _HOST.match(raw):
        raise _error(f"{ENDPOINT_ENV} must be a host name with an optional port, not {raw!r}")
    return raw, use_ssl
