"""The shape of every error answer: RFC 9457 problem details, rendered as application/problem+json."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Problem(BaseModel):
    """Problem details (RFC 9457). Some problems add members, e.g. `assigned_to` on a claim conflict."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "There is no referral with this id that you may see.",
                    "instance": "/v1/referrals/6f1c1d3e-9f0a-4c55-8a61-0f0e7b1f2a3b",
                }
            ]
        },
    )
    type: str = Field(description="A URI reference naming the kind of problem, e.g. /problems/validation.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(ge=400, le=599, description="The HTTP status code of this answer.")
    detail: str = Field(description="What went wrong with this request, and what to do about it.")
    instance: str = Field(description="The path of the request that met the problem.")


class ProblemItem(BaseModel):
    """One thing to correct: where it is, a stable code, and a prompt a referrer can act on."""

    model_config = ConfigDict(extra="allow")
    pointer: str = Field(description="A JSON Pointer (RFC 6901) into the submitted body; empty for a parameter.")
    code: str = Field(description="A stable code for the rule broken, e.g. child_voice_missing.")
    message: str = Field(description="What to record or correct.")
    parameter: str | None = Field(default=None, description="The query, path or header parameter at fault.")


class ValidationProblem(Problem):
    """A 422: every problem with the request at once."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/validation",
                    "title": "Unprocessable content",
                    "status": 422,
                    "detail": "The submission has problems to correct; each error says what to record.",
                    "instance": "/v1/referrals",
                    "errors": [
                        {
                            "pointer": "/children/0/voice",
                            "code": "child_voice_missing",
                            "message": "Record the child's own words, or why they could not be heard.",
                        }
                    ],
                }
            ]
        },
    )
    errors: list[ProblemItem] = Field(description="Every problem found, not only the first.")
