"""`python -m netwatchd` is the same as the `netwatchd` console script."""

from netwatchd.cli import entry

entry()
