"""The fault suite's moving parts: referrers that retry, a feed poller, and a webhook receiver that can go down."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.api.webhook_support import Receiver
from tests.validation_cases import valid_referral

# A request that takes longer than this is a hang, whatever it finally answers.
HANG_SECONDS = 15.0


@dataclass
class Tally:
    """What the referrers saw."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> referral id
    statuses: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    unavailable: list[dict[str, Any]] = field(default_factory=list)  # a sample of the 503 answers
    server_errors: list[str] = field(default_factory=list)  # every 500 body, to show what went wrong
    transport_errors: Counter[str] = field(default_factory=Counter)
    replays: int = 0
    slowest: float = 0.0
    slowest_unavailable: float = 0.0
    longest_wait: float = 0.0  # from a referral's first attempt to its 201
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def retries(self) -> int:
        """Requests beyond the first for each referral (the checked replays aside)."""
        return self.requests - len(self.acknowledged) - self.replays


def _post_until_acknowledged(
    http: httpx.Client, body: dict[str, Any], idempotency_key: str, tally: Tally
) -> httpx.Response:
    """POST the referral with its key until the answer is 201, retrying on anything else with the same key."""
    for attempt in range(400):
        started = time.monotonic()
        try:
            response = http.post("/v1/referrals", json=body, headers={"Idempotency-Key": idempotency_key})
        except httpx.HTTPError as exc:
            # A killed worker drops its connections; a hang would show here as a timeout.
            with tally.lock:
                tally.requests += 1
                tally.transport_errors[type(exc).__name__] += 1
            time.sleep(min(0.1 * 2**attempt, 1.0))
            continue
        elapsed = time.monotonic() - started
        with tally.lock:
            tally.requests += 1
            tally.statuses[response.status_code] += 1
            tally.slowest = max(tally.slowest, elapsed)
            if response.status_code == 503:
                tally.slowest_unavailable = max(tally.slowest_unavailable, elapsed)
                if len(tally.unavailable) < 20:
                    tally.unavailable.append(
                        {
                            "content_type": response.headers.get("content-type"),
                            "retry_after": response.headers.get("retry-after"),
                            "body": response.text,
                        }
                    )
            if response.status_code >= 500 and response.status_code != 503:
                tally.server_errors.append(response.text[:500])
        if response.status_code == 201:
            return response
        if response.status_code == 422:
            raise AssertionError(f"a valid referral was refused: {response.text}")
        # 409 (the first try is in flight or died mid-way), 429, 5xx: retry with the same key.
        time.sleep(min(0.1 * 2**attempt, 2.0))
    raise AssertionError("a referral was never acknowledged")


def referrer_loop(base_url: str, key: str, stop: threading.Event, tally: Tally, *, replay_every: int = 10) -> None:
    """Post referrals with fresh keys until STOP; every REPLAY_EVERY-th one is sent again to check the replay."""
    sent = 0
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        while not stop.is_set():
            idempotency_key = str(uuid.uuid4())
            body = valid_referral("police", today=dt.date.today())
            first_tried = time.monotonic()
            referral_id = _post_until_acknowledged(http, body, idempotency_key, tally).json()["id"]
            with tally.lock:
                tally.longest_wait = max(tally.longest_wait, time.monotonic() - first_tried)
                assert idempotency_key not in tally.acknowledged, "a key was acknowledged twice"
                tally.acknowledged[idempotency_key] = referral_id
            sent += 1
            if sent % replay_every == 0:
                again = _post_until_acknowledged(http, body, idempotency_key, tally).json()["id"]
                with tally.lock:
                    tally.replays += 1
                assert again == referral_id, "a retry with the same key got a different referral"


@dataclass
class FeedReader:
    """Follows GET /v1/feedback the way a partner polls it, through every fault."""

    base_url: str
    key: str
    events: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None
    polls: int = 0
    failed_polls: int = 0
    _tag: str | None = None

    def poll_once(self, http: httpx.Client) -> tuple[int, bool]:
        """One poll from the cursor: (events received, whether more are waiting now)."""
        params: dict[str, Any] = {"limit": 200}
        if self.cursor:
            params["after"] = self.cursor
        headers = {"If-None-Match": self._tag} if self._tag else {}
        self.polls += 1
        try:
            response = http.get("/v1/feedback", params=params, headers=headers)
        except httpx.HTTPError:
            self.failed_polls += 1
            time.sleep(0.2)
            return 0, True
        if response.status_code == 304:
            return 0, False
        if response.status_code != 200:
            assert response.status_code in (429, 503), response.text
            self.failed_polls += 1
            time.sleep(0.2)
            return 0, True
        page = response.json()
        self.events.extend(page["items"])
        self.cursor = page["next_cursor"]
        self._tag = response.headers.get("etag")
        return len(page["items"]), bool(page["has_more"])

    def follow(self, stop: threading.Event, every: float = 0.25) -> None:
        with httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as http:
            while not stop.is_set():
                _, more = self.poll_once(http)
                if not more:
                    stop.wait(every)

    def drain(self, expected: int, timeout: float = 60.0) -> None:
        """Poll until EXPECTED events have arrived and nothing more is waiting (or TIMEOUT passes)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as http:
            while time.monotonic() < deadline:
                _, more = self.poll_once(http)
                if not more and len(self.events) >= expected:
                    return
                if not more:
                    time.sleep(0.2)


class RestartableReceiver:
    """A Standard Webhooks receiver on a fixed port that can be taken down (connections refused) and brought back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.receiver = Receiver()
        self.url = f"http://127.0.0.1:{port}/hooks"
        self._server: ThreadingHTTPServer | None = None
        self.outages = 0

    def up(self) -> None:
        receiver = self.receiver

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, _ = receiver._handle(body, headers)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.outages += 1

    def event_ids(self) -> list[int]:
        """The feedback event of every delivery that arrived with a valid signature."""
        with self.receiver._lock:
            return [int(d.payload["data"]["event_id"]) for d in self.receiver.deliveries]
