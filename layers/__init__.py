"""Map layers: what the live map and the exports draw, one module per layer.

- ``layers.base``: the map view, the :class:`~layers.base.MapContext` a layer is built from
  (Filter, view, time, the shared :class:`~borderwatch.situation.Situation`) and what a layer
  returns (:class:`~layers.base.Built`: its feature group and notes);
- ``layers.registry``: the layers in drawing order, building them all, and the one caption that
  says how to read the drawn map;
- ``segments``, ``fortifications``, ``sensors``, ``density``, ``incidents``: one module per layer;
- ``basemap`` (base map, panes, legend, layer control), ``elements`` (compact map elements),
  ``style`` (shared colours and symbols), ``adapter`` (the one place touching private
  folium / streamlit-folium attributes).
"""
from layers import adapter as _adapter

_adapter.fast_element_ids()
