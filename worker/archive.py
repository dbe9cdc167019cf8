"""The inbound archive's bodies (`upsell:inbound`, what `rules backtest` replays), compressed with
zstd and a dictionary trained on Dodo's payload shapes (worker/inbound.zdict, shipped in the
package; `python -m bench.archive` trains it and measures it). An entry carries `bodyz` (compressed)
or, written before compression or by hand, `body`; readers take either (fields)."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

import zstandard

DICTIONARY = Path(__file__).parent / "inbound.zdict"
LEVEL = 3  # ~10 µs a webhook on the receiver's path; higher levels gained a few bytes for 3x the time
_local = threading.local()  # a compressor per thread: zstandard's are not thread-safe


@cache
def _dictionary() -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(DICTIONARY.read_bytes())


def pack(body: str | bytes) -> bytes:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=_dictionary())
    return bytes(compressor.compress(body.encode() if isinstance(body, str) else body))


def unpack(data: bytes) -> str:
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor(dict_data=_dictionary())
    return str(decompressor.decompress(data).decode())


def fields(raw: dict[Any, Any]) -> dict[str, str]:
    """An archive entry as text, `bodyz` unpacked to `body`; read with a client that does not decode,
    or decodes with `encoding_errors="surrogateescape"` (the CLI's), so the compressed bytes survive."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name == "bodyz":
            out["body"] = unpack(value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape"))
        else:
            out[name] = value.decode() if isinstance(value, bytes) else str(value)
    return out
