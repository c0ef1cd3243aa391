"""Incident analysis (the view is borderwatch/views/analysis.py)."""
from borderwatch.views import analysis, ui

analysis.render(ui.page_filter())
