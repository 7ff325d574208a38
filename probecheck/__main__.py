"""``python -m probecheck`` runs the command-line interface."""

from probecheck.cli import main

raise SystemExit(main())
