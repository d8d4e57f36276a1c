"""`python -m printmed` runs the command line."""

import sys

from printmed.cli import main

sys.exit(main())
