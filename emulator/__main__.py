"""`python -m emulator [--port P] [--webhook-url URL] [--secret whsec_...] [--seed FILE]`: the same
command as `dodo-upsell emulator`, one parser for both."""

from __future__ import annotations

import sys

from worker.cli.main import main

if __name__ == "__main__":
    main(["emulator", *sys.argv[1:]])
