"""Table files in S3-compatible object storage: ``BORDERWATCH_DATA_PATH=s3://bucket/prefix/``.

DuckDB's ``httpfs`` extension (loaded from its PyPI package, only for such a data path) reads
and writes the lake's Parquet files in the bucket. The access key, region and server become a
temporary DuckDB secret (held in memory, never written to disk) on every connection the store opens.
Where the access key comes from is ``BORDERWATCH_S3_CREDENTIALS``:

- ``env`` (the default): ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (required),
  ``AWS_SESSION_TOKEN`` (optional), nothing else is consulted;
- ``chain``: the AWS credential chain of DuckDB's ``aws`` extension (loaded from its package):
  environment variables, the shared credentials and config files (``AWS_SHARED_CREDENTIALS_FILE``,
  ``AWS_CONFIG_FILE``, ``AWS_PROFILE``), web identity, SSO, a credential process, the container or
  instance role; ``BORDERWATCH_S3_CREDENTIAL_CHAIN`` (e.g. ``config;instance``) narrows it. The
  credentials are looked up again when the object store refuses them (rotated role credentials).

and the rest from the environment too:

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
CREDENTIALS_ENV = "BORDERWATCH_S3_CREDENTIALS"
CHAIN_ENV = "BORDERWATCH_S3_CREDENTIAL_CHAIN"
# the providers of DuckDB's aws extension, in the names its CHAIN option takes
CHAIN_PROVIDERS = ("env", "config", "sts", "sso", "instance", "process")
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
    region: str  # "" with the credential chain and no AWS_REGION: the chain's configuration decides
    endpoint: str  # host[:port]; "" for Amazon S3
    url_style: str
    use_ssl: bool
    chain: str | None = None  # None: the key from the environment; else the credential chain ("" = all)

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
        chain = _chain(environ)
        key_id, secret, token = "", "", ""
        if chain is None:
            key_id, secret = _env(environ, "AWS_ACCESS_KEY_ID"), _env(environ, "AWS_SECRET_ACCESS_KEY")
            token = _env(environ, "AWS_SESSION_TOKEN")
            if not key_id or not secret:
                raise _error("an s3:// data path needs the object store's access key in AWS_ACCESS_KEY_ID and "
                             f"AWS_SECRET_ACCESS_KEY, or {CREDENTIALS_ENV}=chain (see docs/deploy.md, object storage)")
        endpoint, use_ssl = _endpoint(environ)
        style = _env(environ, URL_STYLE_ENV).lower() or ("path" if endpoint else "vhost")
        if style not in ("path", "vhost"):
            raise _error(f"{URL_STYLE_ENV} must be 'path' or 'vhost', not {style!r}")
        region = _env(environ, "AWS_REGION") or _env(environ, "AWS_DEFAULT_REGION") or ("" if chain is not None else "us-east-1")
        return cls(bucket, "".join(p + "/" for p in parts), key_id, secret, token,
                   region, endpoint, style, use_ssl, chain)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def where(self) -> str:
        """The server, in words."""
        if self.endpoint:
            return f"{'https' if self.use_ssl else 'http'}://{self.endpoint}"
        return f"Amazon S3 ({self.region or 'its configured region'})"

    def credentials(self) -> str:
        """Where the access key comes from, in words (no secrets; an environment key id shortened)."""
        if self.chain is None:
            return "access key " + (("…" + self.key_id[-4:]) if len(self.key_id) > 8 else "…")
        return "credentials from the AWS credential chain" + (f" ({self.chain})" if self.chain else "")

    def display(self) -> str:
        """The data path and how it is reached, without secrets."""
        return (f"{self.url} at {self.where()} (region {self.region or 'from the AWS configuration'}, "
                f"{self.url_style}-style URLs, TLS {'on' if self.use_ssl else 'off'}, {self.credentials()})")

    def scrub(self, text: str) -> str:
        for value in (self.secret, self.session_token):
            if value:
                text = text.replace(value, "***")
        return text

    def secret_sql(self) -> str:
        """The CREATE SECRET statement (every value an escaped SQL string literal)."""
        name = "bw_s3_" + hashlib.sha256(self.url.encode()).hexdigest()[:16]
        if self.chain is None:
            provider = "config"
            options = [("KEY_ID", self.key_id), ("SECRET", self.secret)]
            if self.session_token:
                options.append(("SESSION_TOKEN", self.session_token))
        else:  # looked up again when the store refuses them: rotated instance-role credentials
            provider = "credential_chain"
            options = [("CHAIN", self.chain)] if self.chain else []
            options.append(("REFRESH", "auto"))
        if self.region:
            options.append(("REGION", self.region))
        options += [("URL_STYLE", self.url_style), ("SCOPE", self.url)]
        if self.endpoint:
            options.append(("ENDPOINT", self.endpoint))
        body = ", ".join(f"{k} {_sql_text(v)}" for k, v in options)
        return (f"CREATE OR REPLACE TEMPORARY SECRET {name} (TYPE s3, PROVIDER {provider}, {body}, "
                f"USE_SSL {'true' if self.use_ssl else 'false'})")

    def configure(self, con) -> None:
        """Load httpfs (and aws, for the credential chain) into ``con`` and give it this bucket's credentials."""
        import duckdb

        from borderwatch.store import load_extension

        load_extension(con, "httpfs")
        if self.chain is None:
            con.execute(self.secret_sql())
            return
        load_extension(con, "aws")
        try:
            con.execute(self.secret_sql())
        except duckdb.Error as exc:
            reason = " ".join(str(exc).split())
            if "validation" in reason.lower():
                where = f"the providers {self.chain}" if self.chain else "any provider"
                raise _error(f"the AWS credential chain found no credentials for the object store in {where} "
                             "(environment, shared credentials and config files, AWS_PROFILE, instance role); "
                             f"provide them or set {CREDENTIALS_ENV}=env with AWS_ACCESS_KEY_ID") from exc
            raise

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
        where = self.where()
        var = ("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" if self.chain is None
               else "the credentials the AWS credential chain finds (shared credentials file, AWS_PROFILE, role)")
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


def _chain(environ: Mapping[str, str]) -> str | None:
    """None for credentials from the environment; else the credential chain's providers ("" = all)."""
    mode = _env(environ, CREDENTIALS_ENV).lower() or "env"
    if mode not in ("env", "chain"):
        raise _error(f"{CREDENTIALS_ENV} must be 'env' or 'chain', not {mode!r}")
    providers = [p.strip() for p in _env(environ, CHAIN_ENV).lower().replace(",", ";").split(";") if p.strip()]
    if mode == "env":
        if providers:
            raise _error(f"{CHAIN_ENV} needs {CREDENTIALS_ENV}=chain")
        return None
    unknown = [p for p in providers if p not in CHAIN_PROVIDERS]
    if unknown:
        raise _error(f"{CHAIN_ENV} names unknown provider(s) {', '.join(map(repr, unknown))}; "
                     f"choose from {', '.join(CHAIN_PROVIDERS)}, separated by ';'")
    return ";".join(providers)


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
