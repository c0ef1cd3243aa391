"""Incident analysis (the view is borderwatch/views/analysis.py)."""
from borderwatch import ui
from borderwatch.views import analysis

analysis.render(ui.page_filter())
