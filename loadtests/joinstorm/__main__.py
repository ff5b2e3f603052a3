"""`python -m loadtests.joinstorm [--users N] [--seconds S] [--rooms R]`: see run.py."""

import sys

from loadtests.joinstorm.run import main

sys.exit(main())
