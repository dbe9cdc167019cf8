"""The command line as a person uses it: `dev` in a terminal, from another folder, twice, Ctrl-C,
the commands it prints pasted as printed, and one-line errors for the mistakes people make."""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from tests import heads
from tests.conftest import HTTP, ROOT, free_port, wait_until

CLI = str(Path(sys.executable).parent / "dodo-upsell")
CUSTOMER = "cus_8VbC6JDZzPEqfBPUdpj0K"


class Terminal:
    """`dodo-upsell dev` on a pseudo-terminal, as a person starts it; Ctrl-C is the ^C key."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec the command on the terminal
            os.chdir(cwd)
            os.execve(CLI, [CLI, "dev", *args], env)
        self.output = ""

    def read(self) -> str:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return self.output
            if not chunk:
                return self.output
            self.output += chunk.decode(errors="replace")
            if not _readable(self.fd):
                return self.output

    def wait_for(self, text: str, timeout: float = 60) -> str:
        return wait_until(lambda: text in self.read() and self.output, timeout, what=f"{text!r} in:\n{self.output}")

    def ctrl_c(self) -> int:
        os.write(self.fd, b"\x03")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            self.read()
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.read()
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"dev did not stop on Ctrl-C:\n{self.output}")


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0.2)[0])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    shutil.copytree(ROOT / "rules", folder / "rules")
    return folder


def user_env(project: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DODO_", "UPSELL_", "REDIS_", "TEST_"))}
    return {**keep, "UPSELL_PROJECT_DIR": str(project), "TERM": "xterm", **extra}


def printed(block: str, prefix: str) -> str:
    return re.search(rf"^{re.escape(prefix)}\s*(\S+)", block, re.M)[1]  # type: ignore[index]


def test_dev_in_a_terminal_prints_commands_that_work_stays_stable_and_stops_cleanly(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / "rules" / "endpoints.yaml").write_text(
        "endpoints:\n  - id: crm\n    url: http://127.0.0.1:9/hooks\n    secret_env: CRM_SECRET\n"
    )
    env = user_env(project, CRM_SECRET="whsec_" + "Y3JtLXNlY3JldC1jcm0tc2VjcmV0LTEyMzQ1Ng==")
    port = str(free_port())
    dev = Terminal(elsewhere, env, "--port", port)
    block = dev.wait_for("events tail")
    assert "deliveries:     crm -> http://127.0.0.1:9/hooks (*)" in block, block
    second_line = block.split("dodo-upsell dev: ready", 1)[1].splitlines()[1]
    assert second_line.startswith("charges via:    the local Dodo emulator at http://127.0.0.1:"), block
    token, secret, redis_url = printed(block, "API token:"), printed(block, "signing secret:"), printed(block, "redis:")
    commands = [line.strip() for line in block.split("try:", 1)[1].splitlines() if line.strip()][:3]

    run = {"cwd": elsewhere, "env": env, "capture_output": True, "text": True, "timeout": 60, "shell": True}
    sent = subprocess.run(commands[0], **run)  # type: ignore[call-overload]
    assert sent.returncode == 0 and '"queued"' in sent.stdout, sent.stdout + sent.stderr

    def offers() -> list[dict[str, str]]:
        answer = subprocess.run(commands[1], **run)  # type: ignore[call-overload]
        return __import__("json").loads(answer.stdout or "{}").get("offers") or []

    (offer, *_) = wait_until(offers, what="an offer from the printed curl")
    assert "console:        off; to turn it on, restart with UPSELL_CONSOLE_TOKENS=" in block, block
    heads.check_bounded(int(port))  # the same bounds as `web`
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {token}"})
    assert api.post(f"/api/offers/{offer['offer_id']}/accept").status_code == 202
    wait_until(lambda: api.get(f"/api/offers/{offer['offer_id']}").json()["state"] == "converted", what="converted")
    access = subprocess.run(commands[2], **run)  # type: ignore[call-overload]
    assert '"priority_support"' in access.stdout, access.stdout + access.stderr

    second = subprocess.run([CLI, "dev", "--port", str(free_port())], **{**run, "shell": False})  # type: ignore[call-overload]
    assert second.returncode == 1 and second.stderr.count("\n") == 1 and "already running" in second.stderr
    assert second.stdout == ""

    running = processes_mentioning(str(project))
    assert any("valkey" in line for line in running), running  # the check below can see what it looks for
    assert dev.ctrl_c() == 0
    assert "CRITICAL" not in dev.output and "Traceback" not in dev.output, dev.output
    assert "\x1b[" not in (project / ".dodo-upsell" / "valkey" / "valkey.log").read_text()
    with pytest.raises(httpx.HTTPError):
        HTTP.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    assert not processes_mentioning(str(project)), "a process of this dev outlived it"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()

    again = Terminal(project, env, "--port", port)
    block = again.wait_for("events tail")
    assert (printed(block, "API token:"), printed(block, "signing secret:"), printed(block, "redis:")) == (
        token,
        secret,
        redis_url,
    )
    assert api.get(f"/api/customers/{CUSTOMER}/access").json()["version"] >= 2, "state survived the restart"
    assert again.ctrl_c() == 0


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes whose command line or folder holds `text` (no pgrep needed)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = status.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (status.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cwd = os.readlink(status.parent / "cwd")  # Valkey's command line names no path; its folder does
        except OSError:
            continue
        if (text in line or text in cwd) and state != "Z":
            found.append(line)
    return found


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


MISTAKES = {
    "send a missing file": (["send", "nope.json", "--secret", "whsec_" + "A" * 40], "payload file nope.json"),
    "send to nowhere": (
        ["send", str(ROOT / "emulator/templates/payment.succeeded.json"), "--url", "http://127.0.0.1:9/x"]
        + ["--secret", "whsec_" + "A" * 40],
        "cannot reach http://127.0.0.1:9/x",
    ),
    "send with no secret anywhere": (["send", "x.json"], "no webhook secret"),
    "explain with a missing access file": (
        ["rules", "explain", str(ROOT / "emulator/templates/payment.succeeded.json"), "--customer-access", "no.json"],
        "--customer-access no.json",
    ),
    "dead letters with Redis down": (["dead-letters", "list"], "cannot reach Redis at redis://127.0.0.1:9"),
    "events with Redis down": (["events", "tail"], "cannot reach Redis"),
    "web without settings": (["web"], "config error: DODO_PAYMENTS_WEBHOOK_KEY is not set"),
}


@pytest.mark.parametrize("case", MISTAKES)
def test_each_user_mistake_is_one_line_and_exit_1(case: str, project: Path, tmp_path: Path) -> None:
    args, message = MISTAKES[case]
    env = user_env(
        project, **({} if case.startswith("web") or "secret" in case else {"REDIS_URL": "redis://127.0.0.1:9"})
    )
    done = cli(*args, cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


def test_typo_and_help(project: Path, tmp_path: Path) -> None:
    typo = cli("sned", cwd=tmp_path, env=user_env(project))
    assert typo.returncode == 2 and "invalid choice: 'sned'" in typo.stderr
    helped = cli("dev", "--help", cwd=tmp_path, env=user_env(project))
    assert "receiver port (webhooks and /api) (default: 8000)" in " ".join(helped.stdout.split())
    emulator = cli("emulator", "--help", cwd=tmp_path, env=user_env(project))
    assert "--webhook-url" in emulator.stdout and "(default: 8787)" in emulator.stdout


def test_send_from_another_folder_signs_with_devs_secret_and_creates_nothing(project: Path, tmp_path: Path) -> None:
    """No dev ever ran: send refuses in one line rather than inventing a secret the receiver lacks."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli("send", str(ROOT / "emulator/templates/payment.succeeded.json"), cwd=elsewhere, env=user_env(project))
    assert done.returncode == 1 and "no webhook secret" in done.stderr
    assert list(elsewhere.iterdir()) == [] and not (project / ".dodo-upsell").exists()


def test_compose_waits_for_health_runs_unprivileged_and_restarts() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["redis"]["healthcheck"]["test"] and "--appendonly" in " ".join(compose["redis"]["command"])
    assert "/readyz" in " ".join(compose["web"]["healthcheck"]["test"])
    for name in ("web", "worker"):
        assert compose[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert compose[name]["restart"] in ("unless-stopped", "always")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the image runs as a non-root user"
