"""The house rules of the code, checked: where Streamlit and private library attributes may be used."""
from __future__ import annotations

import ast
import re

from conftest import ROOT

CODE = [p for d in ("borderwatch", "layers", "queries", "pages") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]
# the Streamlit side: the frame, sign-in, widgets and views; the pages; the one adapter around folium and
# streamlit-folium; and access.current(), which asks Streamlit's runtime for the signed-in viewer
STREAMLIT_SIDE = ("borderwatch/views/", "pages/", "app.py", "layers/adapter.py", "borderwatch/access.py")


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_streamlit_side_imports_streamlit():
    outside = [str(p.relative_to(ROOT)) for p in CODE
               if {"streamlit", "streamlit_folium"} & _imports(p)
               and not str(p.relative_to(ROOT)).startswith(STREAMLIT_SIDE)]
    assert outside == []


def test_private_library_attributes_only_in_the_adapter():
    """folium's ``_children``, streamlit-folium's private helpers and Streamlit's internals are
    touched in ``layers/adapter.py`` alone."""
    private = re.compile(r"\._children\b|_get_feature_group_string|PagesManager|streamlit\.runtime\.pages_manager")
    users = [str(p.relative_to(ROOT)) for p in CODE if private.search(p.read_text())]
    assert users == ["layers/adapter.py"]
