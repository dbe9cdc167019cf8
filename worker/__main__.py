"""`python -m worker ...` is `dodo-upsell ...`."""

from worker.cli import main

main()
