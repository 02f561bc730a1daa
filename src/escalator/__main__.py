"""`python -m escalator …` is the `escalator` command."""

import sys

from escalator.cli import main

sys.exit(main())
