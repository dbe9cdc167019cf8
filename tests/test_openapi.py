"""`GET /api/openapi.json` describes `/api/...` as it answers: schemathesis generates requests from
the document against a running receiver (and the Dodo emulator): no 5xx, every answer matching it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import TOKEN, Stack


def test_every_answer_matches_the_description_and_none_is_5xx(stack: Stack, tmp_path: Path) -> None:
    stack.emulator()
    stack.web()
    argv = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{stack.base_url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples",
        "25",
        "--generation-deterministic",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_the_description_needs_the_token_like_the_rest(stack: Stack) -> None:
    stack.web()
    assert stack.api("GET", "/api/openapi.json", token=None).status_code == 401
    document = stack.api("GET", "/api/openapi.json").json()
    assert document["openapi"].startswith("3.1") and "/api/offers/{offer_id}/accept" in document["paths"]
