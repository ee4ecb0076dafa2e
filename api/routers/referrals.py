"""Partner and staff calls on referrals: send one, read one, list them."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import StringConstraints, TypeAdapter, ValidationError

from api.deps import CallerDep, CurrentReferral, SessionDep, bearer, intake_caller, json_body
from api.observability import REFERRALS_RECEIVED, REFERRALS_REJECTED
from api.openapi_docs import REFERRAL_CREATED_EXAMPLE, REFERRAL_REQUEST_BODY, RETRY_AFTER, PageCursor, problem
from schemas.enums import ReferralStatus
from schemas.types import utc_now
from triage import audit, intake, views
from triage.db import get_engine
from triage.errors import Invalid
from triage.pagination import DEFAULT_LIMIT, MAX_LIMIT
from triage.settings import get_settings

router = APIRouter(prefix="/v1/referrals", tags=["referrals"])


# The one call every partner makes for every referral: it reads its key, its Idempotency-Key and its body itself
# rather than through FastAPI's dependency solving (a large share of the framework's time per request), and
# declares them in the document as the parameters would.
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {
        "anyOf": [{"type": "string", "minLength": 1, "maxLength": 255}, {"type": "null"}],
        "description": "Retrying with the same key and body returns the first answer and creates nothing.",
        "title": "Idempotency-Key",
    },
    "description": "Retrying with the same key and body returns the first answer and creates nothing.",
}
_IDEMPOTENCY_KEY = TypeAdapter(Annotated[str, StringConstraints(min_length=1, max_length=255)])


def _idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header, refused (422) as FastAPI refuses a header parameter outside its limits."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    try:
        return _IDEMPOTENCY_KEY.validate_python(value)
    except ValidationError as error:
        raise RequestValidationError(
            [{**problem, "loc": ("header", "Idempotency-Key")} for problem in error.errors(include_url=False)]
        ) from None


@router.post(
    "",
    status_code=201,
    summary="Send a referral about one or more children",
    openapi_extra={
        "requestBody": REFERRAL_REQUEST_BODY,
        "parameters": [IDEMPOTENCY_KEY],
        "security": [{bearer.scheme_name: []}],
    },
    responses={
        201: {
            "description": "Received and acknowledged",
            "content": {"application/json": {"example": REFERRAL_CREATED_EXAMPLE}},
        },
        400: {"description": "The body is not JSON"},
        401: problem("No API key, or one that is unknown or revoked"),
        409: {"description": "A request with the same Idempotency-Key is still in flight"},
        413: {"description": "The body is over 256 KiB"},
        403: problem("Only a partner organisation's key may send referrals"),
        429: {"description": "Too many referrals from this key this minute; see Retry-After", "headers": RETRY_AFTER},
        422: {"description": "Problems to correct, each with a pointer and a prompt"},
    },
)
async def create_referral(request: Request) -> JSONResponse:
    caller = await intake_caller(await bearer(request))
    idempotency_key = _idempotency_key(request)
    body = await json_body(request)
    submission = intake.Submission(
        caller=caller,
        body=body,
        idempotency_key=idempotency_key,
        received_at=utc_now(),
        request_id=audit.current_request_id(),
    )
    try:
        result = await _writers().store(submission)
    except Invalid:
        REFERRALS_REJECTED.labels(caller.agency or "unknown").inc()
        raise
    if not result.replayed:
        REFERRALS_RECEIVED.labels(caller.agency or "unknown").inc()
    base = get_settings().public_base_url.rstrip("/")
    payload = dict(result.body)
    payload["feedback_url"] = (
        base + payload["feedback_url"] if payload["feedback_url"].startswith("/") else payload["feedback_url"]
    )
    return JSONResponse(payload, status_code=result.status_code, headers={"Location": f"/v1/referrals/{payload['id']}"})


# Referrals waiting to be stored are taken together, up to MAX_BATCH at a time, by one writer thread per process:
# one transaction and one commit for all of them (intake.submit_many). Under load a batch holds what arrived while
# the previous one was being stored; alone, a referral is stored at once. One writer stores more than several: a
# second one's batches are smaller, and the threads spend their time taking turns at the interpreter lock (at 64
# connections three writers stored about 930 referrals a second where one stored about 1,300).
WRITERS = 1
MAX_BATCH = 32
_Waiting = tuple[intake.Submission, asyncio.AbstractEventLoop, "asyncio.Future[intake.IntakeResult]"]
_Answer = tuple["asyncio.Future[intake.IntakeResult]", intake.IntakeResult | BaseException]


class _Writers:
    """The threads storing this process's referrals, and the referrals waiting for them."""

    def __init__(self) -> None:
        self.waiting: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._write, name=f"intake-writer-{n}", daemon=True) for n in range(WRITERS)
        ]
        for thread in self.threads:
            thread.start()

    async def store(self, submission: intake.Submission) -> intake.IntakeResult:
        """The answer to one submission, once its batch is committed (or what stopped it, raised)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[intake.IntakeResult] = loop.create_future()
        self.waiting.put((submission, loop, answer))
        # A client that goes away does not take its referral back: the batch stores it, and a retry with the same
        # Idempotency-Key gets the answer it missed.
        return await answer

    def _write(self) -> None:
        while True:
            batch = [self.waiting.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            outcomes: list[intake.IntakeResult | BaseException]
            try:
                outcomes = intake.submit_many(engine=get_engine(), submissions=[one[0] for one in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError("intake answered a batch with the wrong number of outcomes")
            except Exception as error:  # noqa: BLE001 - every waiting request is answered, whatever happened
                outcomes = [error] * len(batch)
            # One wake-up of each event loop for all the answers it waits for (a process has one).
            by_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
            for (_, loop, answer), outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((answer, outcome))
            for loop, answers in by_loop.items():
                with contextlib.suppress(RuntimeError):  # the requests' event loop has closed
                    loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[_Answer]) -> None:
    for answer, outcome in answers:
        if answer.done():
            continue
        if isinstance(outcome, BaseException):
            answer.set_exception(outcome)
        else:
            answer.set_result(outcome)


_started: _Writers | None = None
_starting = threading.Lock()


def _writers() -> _Writers:
    global _started
    with _starting:
        if _started is None:
            _started = _Writers()
        return _started


@router.get("", summary="List the referrals you may see, newest first")
def list_referrals(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[ReferralStatus | None, Query(description="Only referrals in this status.")] = None,
    cursor: PageCursor = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    return views.list_referrals(session=session, caller=caller, status=status, cursor=cursor, limit=limit)


@router.get("/{referral_id}", summary="One referral: what was sent, its status and what you may see of its triage")
def get_referral(referral: CurrentReferral, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return views.read_referral(session=session, caller=caller, referral=referral)
