"""Where a project's files are, whatever folder a command runs from, and what `dev` keeps there.

The project folder is `UPSELL_PROJECT_DIR`, else the nearest folder from here up that holds
`rules/access.yaml`, else the checkout this command was installed from. `dev` keeps its Valkey
data, webhook secret, API token and ports in `<project>/.dodo-upsell/`, so they stay the same
across restarts and every other command finds them.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

MARKER = Path("rules") / "access.yaml"
STATE = ".dodo-upsell"


class NoProject(Exception):
    """No project folder could be found; the message says how to point at one."""


def root() -> Path:
    configured = os.environ.get("UPSELL_PROJECT_DIR", "").strip()
    if configured:
        path = Path(configured).expanduser().resolve()
        if not (path / MARKER).is_file():
            raise NoProject(f"UPSELL_PROJECT_DIR={configured} has no {MARKER}: point it at the project folder")
        return path
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if (folder / MARKER).is_file():
            return folder
    raise NoProject(f"no project here: run from the project folder (it has {MARKER}) or set UPSELL_PROJECT_DIR")


def state_dir() -> Path:
    return root() / STATE


def rules_dir() -> Path:
    """UPSELL_RULES_DIR as given (relative to the current folder, as a user typed it), else the project's."""
    configured = os.environ.get("UPSELL_RULES_DIR", "").strip()
    return Path(configured).resolve() if configured else root() / "rules"


@dataclass
class DevValues:
    """What `dev` prints and other commands reuse: the same every time `dev` starts."""

    secret: str
    token: str
    redis_port: int
    web_port: int = 8000
    dodo_port: int = 0

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/webhooks/dodo"


def _values_file() -> Path:
    return state_dir() / "dev.json"


def saved_values() -> DevValues | None:
    """The values of the last `dev` of this project, if it ever ran."""
    try:
        return DevValues(**json.loads(_values_file().read_text()))
    except (OSError, ValueError, TypeError, NoProject):
        return None


def dev_values() -> DevValues:
    """The saved values, created once (a new secret, token and free ports) on the first `dev`."""
    values = saved_values() or DevValues(
        secret="whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        token="dev_" + secrets.token_urlsafe(16),
        redis_port=free_port(),
        dodo_port=free_port(),
    )
    save(values)
    return values


def save(values: DevValues) -> None:
    """Owner-only (0600, its folder 0700): it holds the signing secret and the API token."""
    folder = _values_file().parent
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    fd = os.open(_values_file(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file kept its mode: made private too
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(asdict(values), indent=2) + "\n")


def bound_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says it listens; a taken port is one line, exit 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OverflowError:
        listening.close()
        sys.exit(f"--port {port}: a port is 0 to 65535")
    except OSError as exc:
        listening.close()
        reason = exc.strerror or str(exc)
        sys.exit(f"cannot listen on {host}:{port}: {reason} (another program has it, or a wrong --host? pass --port)")
    listening.listen(2048)
    listening.setblocking(False)
    return listening


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
        return False


def lock_dev() -> IO[str]:
    """Hold the project's dev lock for the life of the process, or exit naming who holds it."""
    state_dir().mkdir(exist_ok=True)
    handle = (state_dir() / "dev.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        sys.exit(f"dodo-upsell dev is already running for {root()} ({holder}): use it, or stop it first (Ctrl-C)")
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def redis_url() -> str:
    """REDIS_URL, else the Redis of this project's `dev`; a one-line remedy when neither exists."""
    configured = os.environ.get("REDIS_URL", "").strip()
    if configured:
        return configured
    values = saved_values()
    if values is None:
        sys.exit("REDIS_URL is not set and this project has never run `dodo-upsell dev`: set REDIS_URL or start dev")
    return values.redis_url
