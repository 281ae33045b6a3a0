"""`python -m faas.cli ...`, the same as the `faas` console script."""

from faas.cli import main

main()
