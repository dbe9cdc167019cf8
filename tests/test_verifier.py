"""The receiver's verifier agrees with the `standardwebhooks` library on every input we can make."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

from standardwebhooks import Webhook

from tests.conftest import SECRET
from worker.signing import Verifier

OTHER = "whsec_" + "b3RoZXItc2VjcmV0LW9mLTMyLWJ5dGVzLWxvbmchIQ=="


def library_verifies(secrets: tuple[str, ...], body: bytes, headers: dict[str, str]) -> bool:
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return True
        except Exception:  # any refusal, however the library phrases it
            continue
    return False


def variants(rng: random.Random) -> tuple[bytes, dict[str, str]]:
    """A delivery, signed or not, with one of the ways a header or body goes wrong."""
    body = rng.choice([b'{"type":"payment.succeeded"}', '{"n":"\u00e9"}'.encode(), b"\xff\xfe{}", b""])
    now = time.time()
    stamp_value = now + rng.choice([0, -299, 299, -301, 301, -(10**6), 0.5, 0.999])
    stamp = (
        str(int(stamp_value))
        if rng.random() < 0.5
        else rng.choice(
            [
                str(int(stamp_value)),
                f"{stamp_value:.3f}",
                f" {int(stamp_value)} ",
                "nan",
                "inf",
                "soon",
                "9" * 40,
                "",
                f"{stamp_value:e}",
            ]
        )
    )
    webhook_id = rng.choice(["msg_1", "", "msg_\u00e9", "msg 2"])
    signer = Webhook(rng.choice([SECRET, OTHER]))
    try:
        moment = datetime.fromtimestamp(float(stamp), UTC)
        good = signer.sign(webhook_id, moment, body.decode())
    except (ValueError, OverflowError, OSError, UnicodeDecodeError):
        good = "v1,AAAA"
    entries = [good, "v1,AAAA", "v2," + good[3:], "v1a," + good[3:], good + ",x", "", "v1,***", good[:-2]]
    signature = good if rng.random() < 0.3 else " ".join(rng.sample(entries, rng.randrange(1, 4)))
    headers = {"webhook-id": webhook_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    return body, {k: v for k, v in headers.items() if rng.random() > 0.05}


def test_verifier_matches_the_library_on_two_thousand_generated_deliveries() -> None:
    rng = random.Random(2026)
    accepted = 0
    for secrets in ((SECRET,), (SECRET, OTHER)):
        verifier = Verifier(secrets)
        for _ in range(1000):
            body, headers = variants(rng)
            expected = library_verifies(secrets, body, headers)
            assert verifier.verify(body, headers) is expected, (body, headers)
            accepted += expected
    assert 100 < accepted < 1900, accepted  # both answers were exercised
