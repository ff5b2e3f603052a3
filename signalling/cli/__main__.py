"""`python -m signalling.cli ...`: the `castellan` command."""

from __future__ import annotations

import sys

from .entry import main

sys.exit(main())
