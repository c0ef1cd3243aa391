"""Exports of what the dashboard shows: briefing snapshots (PNG, PDF, offline HTML) and data."""
