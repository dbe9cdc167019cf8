"""The Lua scripts in worker/scripts/, each read and registered once; calls send only its SHA
(redis-py loads the script again by itself if the server lost its cache after a restart)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from redis.commands.core import Script

SCRIPTS = Path(__file__).parent / "scripts"
_registered: dict[str, Script] = {}


@cache
def source(name: str) -> str:
    return (SCRIPTS / f"{name}.lua").read_text()


def run(client: Any, name: str, keys: list[str], args: list[Any]) -> Any:
    """EVALSHA the named script on `client` (a Redis client or a pipeline)."""
    script = _registered.get(name)
    if script is None:
        script = _registered[name] = client.register_script(source(name))
    return script(keys=keys, args=args, client=client)
