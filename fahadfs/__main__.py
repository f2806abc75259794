"""`python -m fahadfs` is the `fahadfs` command."""

from fahadfs.cli.main import main

raise SystemExit(main())
