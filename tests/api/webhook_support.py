"""A real webhook receiver on 127.0.0.1 that checks every signature with `standardwebhooks`, and webhook helpers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas.enums import FeedbackEventKind
from schemas.tables import WebhookDelivery
from tests.conftest import Actor
from triage.webhook_message import DeliveryPolicy
from triage.webhook_worker import run_worker

# (webhook-id, how many times that id has arrived before, counting this one) -> (status, extra headers)
Script = Callable[[str, int], tuple[int, dict[str, str]]]


@dataclass
class Delivery:
    """One request that reached the receiver with a valid signature."""

    msg_id: str
    arrived: float
    payload: dict[str, Any]
    headers: dict[str, str]
    answered: int


@dataclass
class Receiver:
    """Collects deliveries; answers as SCRIPT says (204 by default), after DELAY(n) seconds for the n-th arrival."""

    script: Script = field(default=lambda _msg_id, _n: (204, {}))
    delay: Callable[[int], float] = field(default=lambda _n: 0.0)
    secret: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrivals: dict[str, int] = field(default_factory=dict)

    def ids(self) -> list[str]:
        with self._lock:
            return [d.msg_id for d in self.deliveries]

    def arrivals(self, msg_id: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.msg_id == msg_id]

    def wait_for(self, condition: Callable[[Receiver], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver waited {timeout}s; got {len(self.deliveries)} deliveries")
            time.sleep(0.02)

    def _handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        assert self.secret, "set receiver.secret to the subscription's secret"
        arrived = time.monotonic()
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self._lock:
                self.rejected.append(str(exc))
            return 400, {}
        msg_id = headers["webhook-id"]
        with self._lock:
            self._arrivals[msg_id] = n = self._arrivals.get(msg_id, 0) + 1
        status, extra = self.script(msg_id, n)
        time.sleep(self.delay(n))
        with self._lock:
            self.deliveries.append(Delivery(msg_id, arrived, payload, headers, status))
        return status, extra


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    """Serve RECEIVER on a free local port for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, extra = receiver._handle(body, headers)
            try:
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def event_of(delivery: Delivery) -> str:
    """The feedback event kind a delivery carries."""
    return str(delivery.payload["data"]["event"])


FAST = DeliveryPolicy(max_attempts=5, backoff_base=0.05, backoff_max=5.0, timeout=2.0, lease=30.0, poll=0.02)
ALL_KINDS = [str(kind) for kind in FeedbackEventKind]


def subscribe(client: TestClient, actor: Actor, receiver: Receiver, events: list[str] | None = None) -> dict[str, Any]:
    """Subscribe ACTOR's organisation to RECEIVER, which then checks signatures with the secret given."""
    body: dict[str, Any] = {"url": receiver.url}
    if events is not None:
        body["events"] = events
    response = client.post("/v1/webhooks", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    return dict(response.json())


def outbox(engine: sa.Engine) -> list[WebhookDelivery]:
    """Every delivery row, in event order."""
    with Session(engine) as session:
        return list(session.execute(sa.select(WebhookDelivery).order_by(WebhookDelivery.event_id)).scalars())


@contextmanager
def workers(engine: sa.Engine, policy: DeliveryPolicy = FAST, count: int = 1) -> Iterator[None]:
    """Delivery workers in threads of this process, stopped at the end of the block."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=run_worker, kwargs={"engine": engine, "once": False, "stop": stop, "policy": policy})
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
            assert not thread.is_alive()


def settled(engine: sa.Engine, count: int) -> Callable[[Receiver], bool]:
    """A receiver condition: COUNT outbox rows are no longer pending."""
    return lambda _r: sum(1 for d in outbox(engine) if d.state != "pending") >= count
