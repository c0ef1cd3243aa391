"""``borderwatch setup``: prepare the environment (offline map assets, the store's reference data)."""
from __future__ import annotations

import sys

NAME = "setup"
HELP = "prepare the environment: offline map assets and the store's reference data"


def configure(p) -> None:
    pass


def run(args) -> int:
    from borderwatch import app_setup, npm_assets, offline, reference
    from borderwatch.store import default_store
    from layers import basemap

    offline.install_assets(app_setup.STATIC_DIR)
    try:
        for line in npm_assets.install(app_setup.STATIC_DIR):
            print(f"map plugin {line}")
    except npm_assets.NpmAssetError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 1
    store = default_store()
    loaded = reference.load_into(store)
    basemap.write_static_basemap(store, app_setup.STATIC_DIR)
    print(f"store: {store.path} ({'reference data loaded' if loaded else 'reference data present'})")
    return 0
