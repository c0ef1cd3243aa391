"""Map plugins that no ``xstatic-*`` package carries, taken from the npm registry at setup.

``borderwatch setup`` (``make setup``) runs ``npm pack NAME@VERSION`` in a temporary folder,
checks the tarball against the integrity hash pinned in ``PACKAGES`` (the sha512 the registry
publishes, as in a ``package-lock.json``), and copies only the files the maps use into
``static/vendor/`` beside the xstatic assets. The app serves them from there; nothing is fetched
while it runs. A folder already holding the pinned version is left alone, so a second setup needs
neither npm nor the registry.

npm is required at setup: without it (and without the files already in place) setup stops with
one sentence saying so. The app itself never calls npm: where the files are missing, the map tools
that need them are left out and the page says why (``missing``).
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from borderwatch.fileio import write_atomic

VENDOR_DIRNAME = "vendor"
STAMP = ".npm-integrity"


class NpmAssetError(RuntimeError):
    """A pinned npm package could not be put in place (npm missing, hash mismatch, file absent)."""


@dataclasses.dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str  # "sha512-<base64>", as the registry states it for this version
    folder: str  # below static/vendor/
    files: tuple[tuple[str, str], ...]  # (path inside the tarball's package/, path below folder)

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def targets(self, static_dir: Path) -> list[Path]:
        base = Path(static_dir) / VENDOR_DIRNAME / self.folder
        return [base / target for _, target in self.files]


PACKAGES = (
    NpmPackage(
        "leaflet-draw", "1.0.4",
        "sha512-rsQ6saQO5ST5Aj6XRFylr5zvarWgzWnrg46zQ1MEOEIHsppdC/8hnN8qMoFvACsPvTioAuysya/TVtog15tyAQ==",
        "leaflet.draw",
        (("dist/leaflet.draw.js", "leaflet.draw.js"), ("dist/leaflet.draw.css", "leaflet.draw.css"),
         ("dist/images/spritesheet.png", "images/spritesheet.png"),
         ("dist/images/spritesheet-2x.png", "images/spritesheet-2x.png"),
         ("dist/images/spritesheet.svg", "images/spritesheet.svg"), ("package.json", "package.json")),
    ),
    NpmPackage(
        "milsymbol", "3.0.4",
        "sha512-Jrs1RBCag2IzyEJwI476i2+pNHdi8WMwAp2mDD23g3TR48ERdHmdQgPXZUosRKyhPMr58/eOPyyLE53lMPPAgw==",
        "milsymbol",
        (("dist/milsymbol.js", "milsymbol.js"), ("LICENSE", "LICENSE")),
    ),
)
BY_NAME = {p.name: p for p in PACKAGES}


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def is_installed(package: NpmPackage, static_dir: Path) -> bool:
    stamp = Path(static_dir) / VENDOR_DIRNAME / package.folder / STAMP
    return (stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == package.integrity
            and all(t.is_file() for t in package.targets(static_dir)))


def missing(static_dir: Path) -> list[str]:
    """The pinned packages not (or not at their pinned version) in ``static_dir``."""
    return [p.spec for p in PACKAGES if not is_installed(p, static_dir)]


def extract(package: NpmPackage, tarball: bytes, static_dir: Path) -> None:
    """Check ``tarball`` against the pin and copy the package's files into place."""
    got = integrity_of(tarball)
    if got != package.integrity:
        raise NpmAssetError(f"{package.spec} from the npm registry does not match its pinned integrity "
                            f"(got {got[:30]}…, pinned {package.integrity[:30]}…); nothing was copied")
    base = Path(static_dir) / VENDOR_DIRNAME / package.folder
    contents: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for source, target in package.files:
            try:
                member = tar.getmember(f"package/{source}")
            except KeyError:
                raise NpmAssetError(f"{package.spec} has no file {source}") from None
            contents[target] = tar.extractfile(member).read()
    for target, data in contents.items():  # only once every file was found
        write_atomic(base / target, data)
    write_atomic(base / STAMP, package.integrity.encode("ascii"))


def fetch(package: NpmPackage, npm: str | None = None) -> bytes:
    """The package's tarball, by ``npm pack`` in a temporary folder (removed afterwards)."""
    npm = npm or shutil.which("npm")
    if not npm:
        raise NpmAssetError(f"npm is missing: install Node.js with npm (Debian: apt-get install npm) so setup "
                            f"can fetch the map plugins {', '.join(p.spec for p in PACKAGES)}")
    with tempfile.TemporaryDirectory(prefix="borderwatch-npm-") as tmp:
        done = subprocess.run([npm, "pack", package.spec, "--silent", "--pack-destination", tmp], cwd=tmp,
                              capture_output=True, text=True, timeout=300)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise NpmAssetError(f"npm pack {package.spec} failed: {(done.stderr or done.stdout).strip()[-400:]}")
        return tarballs[0].read_bytes()


def install(static_dir: Path, npm: str | None = None) -> list[str]:
    """Put every pinned package in place; returns one line per package fetched or already there."""
    lines = []
    for package in PACKAGES:
        if is_installed(package, static_dir):
            lines.append(f"{package.spec}: present")
            continue
        extract(package, fetch(package, npm), static_dir)
        lines.append(f"{package.spec}: fetched, integrity checked")
    return lines
