"""The environment: every variable the app reads, validated once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from escalator.errors import ConfigurationError

# What to tell an admin when a variable is missing or wrong, by variable name.
_HINTS = {
    "SLACK_BOT_TOKEN": "set it to the Bot User OAuth Token (xoxb-…) from your Slack app's "
    "OAuth & Permissions page",
    "SLACK_SIGNING_SECRET": "set it to the Signing Secret from your Slack app's Basic Information page",
    "SLACK_APP_TOKEN": "set it to an app-level token (xapp-…) with connections:write, "
    "or unset it for HTTP mode",
    "DATABASE_URL": "use sqlite:///escalator.db or postgresql+psycopg://user:password@host/dbname",
    "PORT": "use a TCP port number such as 3000",
    "SLACK_API_URL": "use https://slack.com/api/ or the base URL of your proxy",
    "ESCALATOR_WORKERS": "use a whole number of worker processes, 1 or more",
    "ESCALATOR_THREADS": "use a whole number of threads per worker, 1 or more",
    "ESCALATOR_TICK": "use a number of seconds, such as 2",
    "SLACK_API_TIMEOUT": "use a number of seconds, such as 10",
    "ESCALATOR_API_TOKEN": "use a long random string (16 characters or more), or unset it",
    "LOG_FORMAT": "use text (the default) or json",
}


def _api_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    # slack_sdk joins method names onto the base URL, which must end with a slash.
    return value if value.endswith("/") else value + "/"


ApiUrl = Annotated[str, AfterValidator(_api_url)]


class DatabaseSettings(BaseSettings):
    """What commands that only touch the database need (`escalator migrate`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    DATABASE_URL: str = "sqlite:///escalator.db"

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            # Use psycopg 3, the driver this project installs.
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite:", "postgresql+psycopg:")):
            raise ValueError("only SQLite and PostgreSQL (postgresql+psycopg://) are supported")
        return value


class PolicySettings(DatabaseSettings):
    """What commands that read the policy need as well (`escalator digest --dry-run`)."""

    ESCALATOR_POLICY: Path = Path("policy.yml")


class Settings(PolicySettings):
    """Configuration from the environment (and `.env` when present)."""

    SLACK_BOT_TOKEN: str = Field(min_length=1)
    SLACK_SIGNING_SECRET: str = Field(min_length=1)
    SLACK_APP_TOKEN: str | None = None
    # Bearer token for POST /api/contacts; the endpoint is off while this is unset.
    ESCALATOR_API_TOKEN: str | None = Field(default=None, min_length=16)
    PORT: int = Field(default=3000, ge=1, le=65535)
    SLACK_API_URL: ApiUrl = "https://slack.com/api/"
    ESCALATOR_WORKERS: int = Field(default=2, ge=1, le=64)
    ESCALATOR_THREADS: int = Field(default=8, ge=1, le=256)
    # Seconds between two passes of the background deliverer over what is due.
    ESCALATOR_TICK: float = Field(default=2.0, gt=0, le=3600)
    # Seconds one Web API call may take before it counts as failed (and is retried later).
    SLACK_API_TIMEOUT: float = Field(default=10.0, gt=0, le=120)
    # How log lines look: readable text, or one JSON object per line for a log pipeline.
    LOG_FORMAT: Literal["text", "json"] = "text"

    @field_validator(
        "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ESCALATOR_API_TOKEN", mode="before"
    )
    @classmethod
    def _secret_is_one_word(cls, value: object) -> object:
        """A pasted secret often brings a space or line break along; one inside it would reach an HTTP
        header, whose error message quotes it. The message here names the variable, never the value."""
        if isinstance(value, str):
            value = value.strip()
            if any(c.isspace() or not c.isprintable() for c in value):
                raise ValueError("it holds a space, line break or control character: paste the value again")
        return value

    @field_validator("SLACK_APP_TOKEN")
    @classmethod
    def _app_token_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith("xapp-"):
            raise ValueError("an app-level token starts with xapp-")
        return value

    @property
    def socket_mode(self) -> bool:
        return self.SLACK_APP_TOKEN is not None


class SetupSettings(PolicySettings):
    """What `escalator init` reads: where Slack's Web API is, and the secrets if they are set already."""

    SLACK_BOT_TOKEN: str | None = None
    SLACK_SIGNING_SECRET: str | None = None
    SLACK_API_URL: ApiUrl = Settings.model_fields["SLACK_API_URL"].default
    SLACK_API_TIMEOUT: float = Settings.model_fields["SLACK_API_TIMEOUT"].default


SettingsT = TypeVar("SettingsT", bound=DatabaseSettings)


def load_settings(kind: type[SettingsT] = Settings) -> SettingsT:  # type: ignore[assignment]
    """Read the environment, or raise one ConfigurationError naming every bad variable."""
    try:
        return kind()  # values come from the environment
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "environment"
            problem = "is not set" if error["type"] == "missing" else f"is invalid: {_reason(error['msg'])}"
            hint = _HINTS.get(name)
            lines.append(f"{name} {problem}" + (f"; {hint}" if hint else ""))
        raise ConfigurationError("\n".join(lines)) from None


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")
