"""Run the CLI as `python -m ingestion`."""

import sys

from ingestion.cli import main

sys.exit(main())
