"""Loading a large rules folder: 10,000 rules over 10 files, as `rules check` and hot reload do.

    .venv/bin/python -m bench.rules_check

Baseline, measured in the same run: each file parsed twice by PyYAML's pure-Python loader (how
the folder was read before: a compose for the alias guard, then a load). Current: `book.load_dir`
(libyaml, each file parsed once, the cycle collector paused). Prints the best of 3 for each and
the ratio current / baseline.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import yaml

from worker import book

RULE = (
    "  - id: r{n}\n    on: payment.succeeded\n    when: {{product: [pdt_e9mUw084cWnu0tz], lacks: [pro]}}\n"
    "    offer: {{type: one_click, product: pdt_ADDON0priority7Kq}}\n    expires_in: 24h\n"
)
ROOT = Path(__file__).resolve().parents[1]


def folder() -> Path:
    target = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    shutil.copy(ROOT / "rules" / "access.yaml", target)
    for part in range(10):
        text = "rules:\n" + "".join(RULE.format(n=f"{part}x{n}") for n in range(1000))
        (target / f"part{part}.yaml").write_text(text)
    return target


def baseline(directory: Path) -> None:
    for path in sorted(directory.glob("*.yaml")):
        text = path.read_text()
        yaml.compose(text, Loader=yaml.SafeLoader)
        yaml.load(text, Loader=yaml.SafeLoader)


def best(run: object, directory: Path) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        run(directory)  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    directory = folder()
    try:
        old = best(baseline, directory)
        new = best(book.load_dir, directory)
    finally:
        shutil.rmtree(directory)
    print(f"10,000 rules in 10 files: baseline parse (pure-Python, twice) {old:.2f} s; load_dir {new:.2f} s")
    print(f"ratio load_dir / baseline: {new / old:.2f} (load_dir also validates every rule)")


if __name__ == "__main__":
    main()
