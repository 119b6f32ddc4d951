"""`python -m deployments.cli` runs the tandem command."""

from deployments.cli import main

main()
