"""The operations-room display: a dark theme for a darkened room, with large headline figures.

Streamlit 1.67 has no call that switches the app theme at run time (``st.context.theme`` only
reads it; the theme comes from the config file or the viewer's own settings menu), so the dark
display is CSS, injected in one place (``inject``, called by the frame). The map frame follows it
without being reloaded: the page's CSS sets ``--bw-theme`` on the document, and a small script in
the base map (``layers.basemap.DisplayTheme``) reads it and switches the map's own colours
(land, sea, borders, legend, controls) by a class — the base map's script never changes, so
streamlit-folium keeps its iframe, zoom, position and layer toggles.
"""
from __future__ import annotations

from layers import style

THEMES = ("light", "dark")
LABELS = {"light": "Standard (light)", "dark": "Operations room (dark, large figures)"}

# the dark page; the map's dark colours are in layers.style (DARK_*)
BG, PANEL, TEXT, MUTED, EDGE, ACCENT = "#0b1016", "#131b24", "#dde6ee", "#93a4b4", "#2a3846", "#4fc3f7"


def page_css(theme: str) -> str:
    """The CSS of the display (empty for the standard light one, apart from the theme marker)."""
    if theme != "dark":
        return "<style>:root { --bw-theme: light; }</style>"
    return f"""<style>
    :root {{ --bw-theme: dark; color-scheme: dark; }}
    .stApp, [data-testid="stAppViewContainer"], [data-testid="stMain"], [data-testid="stHeader"],
    [data-testid="stBottomBlockContainer"] {{ background: {BG} !important; color: {TEXT} !important; }}
    [data-testid="stSidebar"], [data-testid="stSidebarContent"] {{ background: {PANEL} !important; }}
    .stApp p, .stApp li, .stApp label, .stApp span, .stApp h1, .stApp h2, .stApp h3, .stApp h4,
    .stApp td, .stApp th, .stApp summary, [data-testid="stWidgetLabel"] p {{ color: {TEXT}; }}
    [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {{ color: {MUTED} !important; }}
    [data-rac][role="group"], [data-testid="stTextInputRootElement"], [data-testid="stNumberInputContainer"],
    [data-testid="stNumberInputContainer"] button, .stApp input, .stApp textarea, [role="listbox"],
    [role="option"] {{ background: {PANEL} !important; color: {TEXT} !important; border-color: {EDGE} !important; }}
    .stApp input::placeholder {{ color: {MUTED} !important; }}
    [data-testid="stMultiSelectTag"], [data-baseweb="tag"] {{ background: {EDGE} !important; }}
    .stButton button, .stDownloadButton button, [data-testid="stBaseButton-secondary"],
    [data-testid="stPageLink-NavLink"] {{ background: {PANEL} !important; color: {TEXT} !important;
        border-color: {EDGE} !important; }}
    [data-testid="stExpander"] details, [data-testid="stExpander"] summary,
    [data-testid="stAlert"] > div, [data-testid="stCode"], pre {{ background: {PANEL} !important;
        border-color: {EDGE} !important; color: {TEXT} !important; }}
    .stApp a {{ color: {ACCENT}; }}
    [data-testid="stMetricValue"], [data-testid="stMetricValue"] div {{ color: #ffffff !important;
        font-size: 1.9rem !important; font-weight: 700 !important; line-height: 1.15 !important;
        white-space: normal !important; overflow-wrap: anywhere; }}
    [data-testid="stMetricLabel"] p {{ font-size: 0.95rem !important; color: {MUTED} !important; }}
    [data-testid="stMetricDelta"] {{ font-size: 0.95rem !important; background: {PANEL} !important; }}
    [data-testid="stMetricDelta"] p {{ color: {TEXT} !important; }}
    .bw-title {{ color: #ffffff; font-size: 1.4rem !important; }}
    .bw-synthetic {{ color: #e1bee7 !important; border-color: #8e24aa !important; }}
    table.bw-threats td, table.bw-threats th {{ border-color: {EDGE}; }}
    iframe[title="streamlit_folium.st_folium"] {{ background: {style.DARK_SEA}; }}
    </style>"""


def inject(theme: str) -> None:
    """Put the display's CSS on the page (the frame calls this once per run)."""
    import streamlit as st

    st.html(page_css(theme))


def choose() -> str:
    """The sidebar's display choice, starting from the link's ``theme`` and kept in the URL."""
    import streamlit as st

    from borderwatch.links import theme_from_url

    state = st.session_state
    url_theme, _ = theme_from_url(st.query_params.to_dict())
    if state.get("bw_theme_url") != url_theme:  # a link opened, Back, an edited address
        state["bw_theme"] = url_theme
        state["bw_theme_url"] = url_theme
    st.sidebar.radio("Display", THEMES, key="bw_theme", format_func=LABELS.get,
                     help="Operations room: dark page and map for a darkened room, large headline figures. "
                          "Kept in the page address.")
    theme = state["bw_theme"]
    if theme != url_theme:
        if theme == "light":
            del st.query_params["theme"]
        else:
            st.query_params["theme"] = theme
        state["bw_theme_url"] = theme
    return theme
