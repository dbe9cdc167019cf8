"""`python -m worker ...` is `dodo-upsell ...`."""

from worker.cli.main import main

main()
