"""The inbound archive's compression: trains worker/inbound.zdict on Dodo's payload shapes (the
emulator's samples with their ids, names, amounts and times varied), then measures, on samples
varied differently (held out), the raw size, plain zstd and zstd with the dictionary, and the
time to pack one body, in the same run.

    .venv/bin/python -m bench.archive          # measure the shipped dictionary
    .venv/bin/python -m bench.archive --train  # train it again, write it, then measure
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import zstandard

from worker import archive

SAMPLES = Path(__file__).resolve().parents[1] / "emulator" / "templates"


def _vary(value: Any, rng: random.Random) -> Any:
    """Every id, name, amount and time replaced, the shape kept: what a merchant's traffic looks like."""
    if isinstance(value, dict):
        return {k: _vary(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [_vary(v, rng) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return rng.randrange(1, 10 * max(value, 10))
    if isinstance(value, str) and "_" in value[:5]:
        prefix = value.split("_")[0]
        return f"{prefix}_{''.join(rng.choices('ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789', k=len(value) - len(prefix) - 1))}"
    if isinstance(value, str) and value[:4].isdigit() and "T" in value:
        return f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}Z"
    if isinstance(value, str) and "@" in value:
        return f"{''.join(rng.choices('abcdefghij', k=8))}@example.com"
    return value


def bodies(seed: int, rounds: int) -> list[bytes]:
    rng = random.Random(seed)
    shapes = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("*.json"))]
    return [json.dumps(_vary(s, rng), separators=(",", ":")).encode() for _ in range(rounds) for s in shapes]


def main() -> None:
    if "--train" in sys.argv:
        trained = zstandard.train_dictionary(16 * 1024, bodies(seed=1, rounds=100), level=archive.LEVEL)
        archive.DICTIONARY.write_bytes(trained.as_bytes())
        print(f"trained {archive.DICTIONARY} ({len(trained.as_bytes())} bytes)")
    held_out = bodies(seed=2, rounds=10)
    raw = sum(len(b) for b in held_out)
    plain = sum(len(zstandard.ZstdCompressor(level=archive.LEVEL).compress(b)) for b in held_out)
    packed = sum(len(archive.pack(b)) for b in held_out)
    assert all(archive.unpack(archive.pack(b)) == b.decode() for b in held_out)
    started = time.perf_counter()
    for b in held_out * 10:
        archive.pack(b)
    micros = (time.perf_counter() - started) / (len(held_out) * 10) * 1e6
    print(f"{len(held_out)} bodies, {raw / len(held_out):.0f} bytes each on average")
    print(f"  plain zstd:           {plain / raw:.1%} of raw")
    print(f"  zstd with dictionary: {packed / raw:.1%} of raw ({micros:.1f} µs to pack one)")


if __name__ == "__main__":
    main()
