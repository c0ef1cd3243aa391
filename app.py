"""Borderwatch: the navigation frame and the shared sidebar (see borderwatch/views/frame.py); pages live in pages/."""
from borderwatch.views import frame

frame.run()
