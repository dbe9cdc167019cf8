"""`python -m emulator [--port P] [--webhook-url URL] [--secret whsec_...] [--seed FILE]`: the same
command as `dodo-upsell emulator` (emulator/command.py holds the parser for both)."""

from __future__ import annotations

from emulator.command import main

if __name__ == "__main__":
    main()
