"""One settings object, read from the environment (and a .env file when present)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 - the value production refuses


class Settings(BaseSettings):
    """Configuration of one deployment of the front door."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./frontdoor.db"
    # Signs staff web sessions and CSRF tokens.
    secret_key: str = PLACEHOLDER_SECRET
    public_base_url: str = "http://127.0.0.1:8000"
    docs_enabled: bool = True
    log_level: str = "INFO"
    max_body_bytes: int = 256 * 1024
    db_pool_size: int = 10
    db_max_overflow: int = 20
    run_worker_in_server: bool = False
    # Webhook delivery: retries back off exponentially (with jitter) from the base up to the cap.
    webhook_max_attempts: int = 15
    webhook_backoff_base_seconds: float = 30.0
    webhook_backoff_max_seconds: float = 6 * 3600.0
    webhook_timeout_seconds: float = 10.0
    webhook_lease_seconds: float = 120.0
    webhook_batch_size: int = 20
    webhook_poll_seconds: float = 1.0
    # Per key, per minute, shared by every server process.
    rate_limit_intake_per_minute: int = 300
    rate_limit_polling_per_minute: int = 600
    # Signed-JWT client credentials: lifetime of the access tokens /oauth2/token issues.
    access_token_seconds: int = 600

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.environment == "production" and (self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32):
            raise ValueError("SECRET_KEY must be set to a random value of 32 characters or more in production")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings."""
    return Settings()
