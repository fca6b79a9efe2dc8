"""`python -m relay_cli …` is the `relay` command."""

import sys

from relay_cli.cli import main

sys.exit(main())
