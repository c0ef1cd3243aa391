"""Minimal Streamlit page with a folium map that must render with no network.

Run by tests/test_offline_assets.py; ``BORDERWATCH_ASSET_PREFIX`` overrides the
URL prefix of the map assets.
"""

import os
from pathlib import Path

import folium
import folium.plugins
import streamlit as st
from streamlit_folium import st_folium

from borderwatch.offline import (
    STREAMLIT_URL_PREFIX,
    install_assets,
    offline_map,
    use_local_assets,
)

# Streamlit serves the "static" folder next to the main script at app/static/.
install_assets(Path(__file__).resolve().parent / "static")
use_local_assets(os.environ.get("BORDERWATCH_ASSET_PREFIX", STREAMLIT_URL_PREFIX))

st.set_page_config(page_title="Offline map", layout="wide")
st.title("Offline map")

m = offline_map([50.5, 14.0], zoom_start=7)

sector = folium.FeatureGroup(name="Sector").add_to(m)
folium.GeoJson(
    {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "Sector A"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[12.5, 50.0], [15.5, 50.0], [15.5, 51.2], [12.5, 51.2], [12.5, 50.0]]
                    ],
                },
            }
        ],
    },
    name="Sector A",
    style_function=lambda _: {
        "color": "#c0392b",
        "weight": 3,
        "fillColor": "#e74c3c",
        "fillOpacity": 0.25,
    },
    tooltip=folium.GeoJsonTooltip(fields=["name"]),
).add_to(sector)

posts = folium.FeatureGroup(name="Posts").add_to(m)
folium.CircleMarker(
    [50.6, 14.0], radius=10, color="#1f4e79", fill=True, fill_opacity=0.9, tooltip="Post 1"
).add_to(posts)

cluster = folium.plugins.MarkerCluster(name="Sensors").add_to(m)
for i, (lat, lon) in enumerate([(50.9, 13.0), (50.91, 13.02), (50.92, 13.01), (50.3, 15.0)]):
    folium.Marker(
        [lat, lon],
        icon=folium.DivIcon(
            html='<div style="width:12px;height:12px;border-radius:6px;background:#27ae60;'
            'border:2px solid #fff"></div>',
            icon_size=(16, 16),
            icon_anchor=(8, 8),
        ),
        tooltip=f"Sensor {i + 1}",
    ).add_to(cluster)

folium.LayerControl(collapsed=False).add_to(m)

st_folium(m, height=450, width=800, returned_objects=[], key="offline_map")
