"""``python -m borderwatch.cli COMMAND ...``, the same as the ``borderwatch`` command."""
import sys

from borderwatch.cli import main

sys.exit(main())
