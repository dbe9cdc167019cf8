"""Hostile input, class by class: nothing an operator, an app or the internet sends kills a thread,
answers 500, is accepted and then dead-lettered, or floods a log. Each probe failed before its fix."""

from __future__ import annotations

import json
import logging
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests import heads
from tests.conftest import HTTP, ROOT, TOKEN, Stack, drained, wait_until
from worker import book, metrics
from worker.delivery import send
from worker.delivery.endpoints import Endpoint
from worker.folder import yamlsource
from worker.signing import new_webhook_id, signed_headers

RULE = "  - id: r{n}\n    on: payment.succeeded\n    offer: {{type: one_click, product: pdt_ADDON0priority7Kq}}\n"
HOSTILE_RULES = {
    "5,000 levels deep": "rules: " + "[" * 5000 + "]" * 5000 + "\n",
    "200 levels deep": "rules:\n  - id: deep\n    when: {metadata: " + "{a: " * 200 + "1" + "}" * 201 + "\n",
    "a 5,000-digit priority": RULE.format(n=1).replace("rules:", "") + "    priority: " + "9" * 5000 + "\n",
    "expires_in 99999999d": RULE.format(n=1) + "    expires_in: 99999999d\n",
    "a 5,000-digit duration": RULE.format(n=1) + "    expires_in: " + "9" * 5000 + "d\n",
}


def rules_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    shutil.copy(ROOT / "rules" / "access.yaml", folder)
    (folder / "upsell.yaml").write_text(text if text.startswith("rules:") else "rules:\n" + text)
    return folder


@pytest.mark.parametrize("kind", list(HOSTILE_RULES))
def test_hostile_rule_files_are_file_line_errors_for_check_and_reload(tmp_path: Path, kind: str) -> None:
    folder = rules_folder(tmp_path, HOSTILE_RULES[kind])
    done = subprocess.run(
        [sys.executable, "-m", "worker", "rules", "check", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"{folder / 'upsell.yaml'}:" in done.stderr and len(done.stderr) < 2000, done.stderr
    (folder / "upsell.yaml").write_text("rules:\n" + RULE.format(n=1))  # the reload path refuses it too
    live = book.LiveBook(folder)
    (folder / "upsell.yaml").write_text(
        HOSTILE_RULES[kind] if HOSTILE_RULES[kind].startswith("rules:") else "rules:\n" + HOSTILE_RULES[kind]
    )
    live.refresh()
    assert [r.id for r in live.get().rules] == ["r1"], "the last good rules stay in force"
    assert live.rejected and all(f"{folder / 'upsell.yaml'}:" in problem for problem in live.rejected)


def test_the_reload_thread_survives_anything_and_loads_the_next_good_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = rules_folder(tmp_path, RULE.format(n=1))
    live = book.LiveBook(folder, interval=0.05)
    live.start()
    real = book.load_dir
    calls = {"n": 0}

    def failing_once(directory: Path) -> book.Book:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RecursionError("a bug we did not foresee")
        return real(directory)

    monkeypatch.setattr(book, "load_dir", failing_once)
    (folder / "upsell.yaml").write_text("rules:\n" + RULE.format(n=1) + RULE.format(n=2))
    errors = metrics.BACKGROUND_ERRORS.labels("rules_reload")._value.get()
    wait_until(lambda: calls["n"] >= 1, 5, what="the failing reload")
    (folder / "upsell.yaml").write_text("rules:\n" + RULE.format(n=1) + RULE.format(n=2) + RULE.format(n=3))
    wait_until(lambda: len(live.get().rules) == 3, 5, what="the next good edit, loaded by the same thread")
    assert metrics.BACKGROUND_ERRORS.labels("rules_reload")._value.get() == errors + 1


def test_a_plain_file_of_1200_rules_is_no_alias_bomb_and_10000_rules_check_quickly(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, "rules:\n" + "".join(RULE.format(n=n) for n in range(1200)))
    assert len(book.load_dir(folder).rules) == 1200
    for part in range(10):
        rules = "".join(RULE.format(n=f"{part}-{n}") for n in range(1000))
        (folder / f"part{part}.yaml").write_text("rules:\n" + rules)
    (folder / "upsell.yaml").unlink()
    started = time.monotonic()
    assert len(book.load_dir(folder).rules) == 10_000
    assert time.monotonic() - started < 10  # a bound on a hang; bench/rules_check.py measures it


def test_an_aliases_bomb_is_still_refused(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8)
    )
    (tmp_path / "bomb.yaml").write_text(bomb)
    with pytest.raises(yamlsource.ProblemsFound, match="aliases expand"):
        yamlsource.read(tmp_path / "bomb.yaml")


API_PROBES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/stats", {"params": {"since": "999999d"}}),
    ("GET", "/api/stats", {"params": {"until": "999999d"}}),
    ("GET", "/api/stats", {"params": {"since": "9" * 5000 + "d"}}),
    ("GET", "/api/access", {"params": {"limit": "²"}}),
    ("GET", "/api/access", {"params": {"limit": "9" * 5000}}),
    ("GET", "/api/subscriptions/sub_x/change-preview", {"params": {"product_id": "p", "quantity": "²"}}),
]
APP_BODIES = {
    "UTF-16": json.dumps({"type": "app.x", "data": {}}).encode("utf-16"),
    "UTF-32": json.dumps({"type": "app.x", "data": {}}).encode("utf-32"),
    "a lone surrogate": b'{"type": "app.x", "data": {"a": "\\ud800"}}',
    "a byte order mark": b'\xef\xbb\xbf{"type": "app.x", "data": {}}',
    "NaN": b'{"type": "app.x", "data": {"percent_used": NaN}}',
    "Infinity": b'{"type": "app.x", "data": {"percent_used": Infinity}}',
    "500 levels": b'{"type": "app.x", "data": {"a": ' + b"[" * 500 + b"]" * 500 + b"}}",
}


def test_numbers_and_json_from_apps_are_checked_at_the_edge(stack: Stack, client: redis.Redis) -> None:
    stack.web()
    for method, path, kw in API_PROBES:
        answer = stack.api(method, path, **kw)
        assert answer.status_code == 400 and "error" in answer.json(), (path, kw, answer.status_code)
    for name, body in APP_BODIES.items():
        headers = {"authorization": f"Bearer {TOKEN}", "idempotency-key": f"k-{len(body)}-{name[:3]}"}
        url = f"{stack.base_url}/api/customers/cus_h/events"
        answer = HTTP.post(url, content=body, headers=headers, timeout=15)
        assert answer.status_code == 400, (name, answer.status_code, answer.text)
    assert client.llen("dramatiq:webhooks") == 0, "nothing stored"


def test_a_signed_body_the_worker_could_not_read_is_refused_not_queued(stack: Stack, client: redis.Redis) -> None:
    stack.web()
    deep = b'{"type": "payment.succeeded", "data": {"a": ' + b"[" * 500 + b"]" * 500 + b"}}"
    assert stack.post(deep).status_code == 400
    assert stack.post(b'{"type": "payment.succeeded", "data": {"x": NaN}}').status_code == 400
    assert client.llen("dramatiq:webhooks") == 0


def test_a_huge_header_never_makes_a_huge_log_line(stack: Stack, client: redis.Redis) -> None:
    web = stack.web()
    body = b'{"type": "payment.succeeded", "data": {}}'
    headers = signed_headers("whsec_" + "QUJD" * 8, new_webhook_id(), body) | {"webhook-id": "w" * (1 << 20)}
    answer = HTTP.post(stack.base_url + "/webhooks/dodo", content=body, headers=headers, timeout=15)
    assert answer.status_code in (401, 431)
    drained(client)
    assert max(len(line) for line in web.output().splitlines()) < 4096


def test_request_heads_are_bounded_before_any_body_is_read(stack: Stack) -> None:
    stack.web()
    heads.check_bounded(int(stack.base_url.rsplit(":", 1)[1]))


def test_a_delivery_that_raises_anything_is_a_failed_attempt() -> None:
    endpoint = Endpoint("e", "http://exa\u0000mple..com:99/hooks", "whsec_" + "QUJD" * 8, ("*",), "f")
    event = {"id": "evt", "type": "access.granted", "customer_id": "c", "occurred_at": "x", "source": "s", "data": {}}
    outcome = send.post(endpoint, event).outcome
    assert not outcome.startswith("http_2") and outcome


def test_the_dev_values_file_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.cli import project

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    monkeypatch.setenv("UPSELL_PROJECT_DIR", str(tmp_path))
    (tmp_path / "rules").mkdir()
    (tmp_path / project.MARKER).touch()
    project.save(project.DevValues("whsec_x", "tok", 1, 2, 3))
    written = project.state_dir() / "dev.json"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(project.state_dir().stat().st_mode) == 0o700


@pytest.mark.parametrize("command", [["stats", "--since", "999999d"], ["rules", "backtest", "--since", "999999d"]])
def test_cli_out_of_range_is_one_line(stack: Stack, command: list[str]) -> None:
    env = stack.env()
    done = subprocess.run([sys.executable, "-m", "worker", *command], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


def test_a_taken_port_is_one_line_and_every_log_line_is_json(stack: Stack) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-m", "worker", "web", "--port", port], env=stack.env(), capture_output=True, text=True
        )
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in last and "Traceback" not in done.stderr
    for bad in (["--port", "99999"], ["--port", "-1"], ["--host", "256.1.1.1"]):
        wrong = subprocess.run(
            [sys.executable, "-m", "worker", "web", *bad], env=stack.env(), capture_output=True, text=True
        )
        assert wrong.returncode in (1, 2) and "Traceback" not in wrong.stderr, wrong.stderr
    web = stack.web()
    with socket.create_connection(("127.0.0.1", int(stack.base_url.rsplit(":", 1)[1]))) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # uvicorn warns about it
        raw.recv(1024)
    assert stack.api("GET", "/api/customers/cus_x/access").status_code == 200
    for line in web.output().splitlines():
        json.loads(line)  # uvicorn's lines too


def test_eligibility_names_an_unknown_product(stack: Stack) -> None:
    stack.emulator()
    stack.web()
    answer = stack.api("GET", "/api/customers/cus_nobody/eligibility", params={"product_id": "pdt_nope"})
    assert answer.status_code == 404 and "pdt_nope" in answer.json()["error"]
    known = stack.api("GET", "/api/customers/cus_nobody/eligibility", params={"product_id": "pdt_ADDON0priority7Kq"})
    assert known.status_code == 200 and known.json()["reason"] == "no_payment_method"


def test_a_client_that_stops_mid_request_is_cut_without_slowing_anyone(stack: Stack) -> None:
    import socket

    stack.extra_env["UPSELL_REQUEST_TIMEOUT"] = "1.5"
    stack.web()
    port = int(stack.base_url.rsplit(":", 1)[1])
    stalled = [
        b'POST /webhooks/dodo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"type": ',  # body stops
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",  # headers stop
    ]
    sockets = []
    for request in stalled:
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall(request)
        raw.settimeout(10)
        sockets.append(raw)
    started = time.monotonic()
    assert HTTP.get(stack.base_url + "/healthz", timeout=2).status_code == 200  # others are served meanwhile
    assert time.monotonic() - started < 1.0
    for raw in sockets:
        assert raw.recv(1024) == b"", "closed by the server"
        raw.close()
    assert time.monotonic() - started < 8


def test_a_taken_metrics_port_is_one_line_and_the_worker_runs_on(stack: Stack, client: redis.Redis) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        stack.extra_env.update(
            UPSELL_WORKER_METRICS="on", dramatiq_prom_host="127.0.0.1", dramatiq_prom_port=str(taken.getsockname()[1])
        )
        stack.web()
        worker = stack.worker()
        wait_until(lambda: "metrics_port_unavailable" in worker.output(), 20, what="the one line")
        body = json.loads((ROOT / "emulator" / "templates" / "payment.succeeded.json").read_text())
        assert stack.post(body).json()["status"] == "queued"
        wait_until(lambda: client.xlen("upsell:events") > 0, 20, what="the webhook processed all the same")
    assert "Traceback" not in worker.output()


def test_every_log_line_is_bounded_whole_and_says_what_it_cut() -> None:
    from worker import logs

    huge = {
        "event": "webhook_processed",
        **{f"{name}_id": name[0] * 5000 for name in ("webhook", "customer", "offer", "payment", "subscription")},
        "nested": {str(n): "v" * 40 for n in range(500)},
        "many": ["s"] * 2000,
        "exception": "Traceback\n" + "frame\n" * 5000,
    }
    event = logs.capped(None, "error", dict(huge))
    line = json.dumps({k: v for k, v in event.items() if k != "exception"})
    assert len(line) <= logs.MAX_LINE_CHARS, len(line)
    assert len(event["exception"]) < logs.MAX_TRACEBACK_CHARS + 40
    assert set(event["line_cut"]) >= {"nested", "many"} and "more chars]" in event["webhook_id"]
    small = {"event": "offer_created", "offer_id": "off_1", "n": 3, "ok": True}
    assert logs.capped(None, "info", dict(small)) == small, "ordinary lines are untouched"
    formatted = logs.JsonLines().format(
        logging.LogRecord("uvicorn", logging.WARNING, __file__, 1, "x" * 100_000, None, None)
    )
    assert len(formatted) <= logs.MAX_LINE_CHARS + 100
