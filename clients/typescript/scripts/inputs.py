"""What the TypeScript package is generated from, written out of the Python that serves it: the
receiver's OpenAPI document (openapi.json) and the offer page's words (src/element/words.json).
Run by `python3 tasks.py client`; tests/test_typescript_client.py fails when either has drifted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from receiver import openapi
from receiver.pages import words

HERE = Path(__file__).resolve().parent.parent


def texts() -> dict[Path, str]:
    return {
        HERE / "openapi.json": json.dumps(openapi.document(), indent=2, sort_keys=True) + "\n",
        HERE / "src" / "element" / "words.json": json.dumps(words.WORDS, indent=2, sort_keys=True, ensure_ascii=False)
        + "\n",
    }


if __name__ == "__main__":
    for path, text in texts().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(HERE)}", file=sys.stderr)
