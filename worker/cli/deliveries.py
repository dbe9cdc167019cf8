"""`dodo-upsell deliveries ...`: outbound webhooks for the people who run an endpoint: what went
dead (list, replay), every attempt (attempts), putting an outage's deliveries back (recover,
resend), trying an endpoint now (test), and enabling a disabled one (enable)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from worker.cli import project, records

if TYPE_CHECKING:
    from worker.delivery.endpoints import Endpoint
    from worker.delivery.policy import Policy


def _policy() -> Policy:
    from worker import config
    from worker.delivery.policy import Policy

    try:
        settings = config.load(need_redis=False, need_webhook_key=False)
    except config.ConfigError as exc:
        sys.exit(f"config error: {exc}")
    return Policy.of(settings)


def _endpoint(endpoint_id: str) -> Endpoint:
    """The endpoint as the rules folder defines it now, or exit naming what is known."""
    from worker import book
    from worker.folder import yamlsource

    try:
        loaded = book.load_dir(project.rules_dir())
    except yamlsource.ProblemsFound as found:
        sys.exit("\n".join(str(p) for p in found.problems))
    if endpoint_id not in loaded.endpoints:
        known = ", ".join(sorted(loaded.endpoints)) or "none"
        sys.exit(f"no usable endpoint {endpoint_id!r} in {project.rules_dir()}/endpoints.yaml (usable: {known})")
    return loaded.endpoints[endpoint_id]


def _since(text: str) -> float:
    from worker.folder.yamlsource import parse_duration

    try:
        return time.time() - parse_duration(text)
    except ValueError as exc:
        sys.exit(f"--since: {exc} (how far back, e.g. 2h or 3d)")


def run(args: argparse.Namespace) -> None:
    from worker.delivery import attempts, health, recovery

    if args.action == "list":
        return records.deliveries_list(args.endpoint)
    if args.action == "replay":
        return records.deliveries_replay(args.id, args.endpoint, args.all)
    client, policy = records.connect(), _policy()
    if args.action == "attempts":
        found = attempts.read(client, args.endpoint, args.event)
        for line in found:
            print(json.dumps({k: v for k, v in line.items() if k not in ("n", "entry")}))
        if not found:
            records.none(f"no attempts recorded for {args.endpoint}{f' and {args.event}' if args.event else ''}")
    elif args.action == "recover":
        print(json.dumps(recovery.recover(client, policy.stream, args.endpoint, _since(args.since), args.all)))
    elif args.action == "resend":
        done = recovery.resend(client, policy.stream, args.endpoint, args.event_id)
        if done is None:
            sys.exit(f"no event {args.event_id!r} in the stream (older than UPSELL_EVENTS_RETENTION, or mistyped)")
        print(json.dumps(done))
    elif args.action == "test":
        answer = recovery.test(client, _endpoint(args.endpoint), policy.log_retention_seconds)
        print(json.dumps(answer))
        if answer["status"] is None or not 200 <= answer["status"] < 300:
            sys.exit(1)
    elif args.action == "enable":
        was = health.enable(client, policy, args.endpoint, "cli")
        print(f"{args.endpoint}: {'enabled again: what waited is delivered in order' if was else 'was not disabled'}")


def add(command: Callable[[str, str], argparse.ArgumentParser], action: Callable[..., argparse.ArgumentParser]) -> None:
    deliveries = command("deliveries", "outbound webhooks: dead ones, attempts, recovery (REDIS_URL, else dev's Redis)")
    sub = deliveries.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = action(sub, "list", "one JSON line per dead delivery; `none` when there is none")
    listing.add_argument("--endpoint", help="only this endpoint id")
    again = action(sub, "replay", "queue dead deliveries again, behind what their list holds now")
    again.add_argument("id", nargs="?", help="delivery id from `deliveries list` (<endpoint>:<event id>)")
    again.add_argument("--endpoint", help="with --all: every dead delivery of this endpoint")
    again.add_argument("--all", action="store_true", help="replay all of --endpoint's dead deliveries")
    tried = action(sub, "attempts", "one JSON line per attempt to an endpoint, oldest first (the attempt log)")
    tried.add_argument("--endpoint", required=True, help="endpoint id")
    tried.add_argument("--event", help="only this event id's attempts")
    recover = action(sub, "recover", "queue again what went dead in a window (--all: what was sent too), in order")
    recover.add_argument("--endpoint", required=True, help="endpoint id")
    recover.add_argument("--since", required=True, help="how far back: 2h, 3d")
    recover.add_argument("--all", action="store_true", help="also every event delivered in that window")
    resend = action(sub, "resend", "send one event to an endpoint again, behind what its customer's list holds")
    resend.add_argument("event_id", help="the event's id")
    resend.add_argument("--endpoint", required=True, help="endpoint id")
    test = action(sub, "test", "POST a signed endpoint.test event now and print the answer; exit 1 unless 2xx")
    test.add_argument("endpoint", help="endpoint id (as endpoints.yaml has it now)")
    enable = action(sub, "enable", "enable a disabled endpoint: what waited for it is delivered, in order")
    enable.add_argument("endpoint", help="endpoint id")
    deliveries.set_defaults(func=run)
