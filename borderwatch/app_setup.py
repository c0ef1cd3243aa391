"""What the app does once per process before drawing anything: offline assets, the store."""
from __future__ import annotations

import functools

from borderwatch import offline, reference
from borderwatch.store import REPO_ROOT, default_store

STATIC_DIR = REPO_ROOT / "static"
ICON = REPO_ROOT / "assets" / "icon.png"
OPTIONAL_PAGES = (
    ("pages/alerts.py", "Alerts", ":material/notifications:", "alerts"),
    ("pages/analysis.py", "Incident analysis", ":material/query_stats:", "analysis"),
    ("pages/briefing.py", "Briefing exports", ":material/picture_as_pdf:", "briefing"),
    ("pages/data.py", "Import data", ":material/upload_file:", "data"),
    ("pages/admin.py", "Administration", ":material/admin_panel_settings:", "admin"),
)


@functools.lru_cache(maxsize=1)
def prepare() -> None:
    """Serve map assets locally, make sure the store has its reference data and the basemap."""
    from layers import basemap

    offline.install_assets(STATIC_DIR)
    offline.use_local_assets()
    store = default_store()
    reference.load_into(store)
    basemap.write_static_basemap(store, STATIC_DIR)


def refresh_basemap() -> None:
    """Rewrite the static basemap if the nations changed since it was written (cheap otherwise)."""
    from layers import basemap

    basemap.write_static_basemap(default_store(), STATIC_DIR)


def page_exists(path: str) -> bool:
    return (REPO_ROOT / path).exists()
