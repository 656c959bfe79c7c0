"""``python -m tools.book``: see :mod:`tools.book.cli`."""

import sys

from .cli import main

sys.exit(main())
