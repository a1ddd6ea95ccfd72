"""``python -m cli ARGS`` = ``revenium-flow ARGS`` (the dashboard's Generate button starts this)."""

import sys

from cli import main

sys.exit(main())
