"""Borderwatch: the navigation frame and the shared sidebar (see borderwatch/frame.py); pages live in pages/."""
from borderwatch import frame

frame.run()
