"""The settings model: :class:`KitSettings`, its sections, and the checks on their values.

Values are checked against Cloud Tasks' own rules (:mod:`cloudtasks_kit._protocol`) here, so that
a bad value fails at start, not at the first task. The model also declares its sources and their
order (:meth:`KitSettings.settings_customise_sources`); the YAML files are read by
:mod:`._source_yaml`.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cloudtasks_kit._errors import ConfigurationError
from cloudtasks_kit._protocol import (
    JOB_ID_CHARACTERS,
    LOCATION_ID,
    MAX_CONCURRENT_DISPATCHES,
    MAX_DEADLINE,
    MAX_DISPATCHES_PER_SECOND,
    MIN_DEADLINE,
    PROJECT_ID,
    QUEUE_ID,
    QUEUE_PATH,
)

from ._source_yaml import (
    DEFAULT_CONFIG_DIR,
    DEFAULT_ENV,
    ENV_NAME_PATTERN,
    LayeredYamlSettingsSource,
)

__all__ = [
    "KitSettings",
    "OidcSettings",
    "QueueSettings",
    "RateLimitSettings",
    "RetrySettings",
    "WorkerAuthSettings",
    "queue_path",
]

ENV_PREFIX = "CLOUDTASKS_"
NESTED_DELIMITER = "__"

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_NOT_A_QUEUE = (
    "is neither a key of queues, a queue id nor a full queue path (projects/P/locations/L/queues/Q)"
)


# --- value types -------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _parse_duration(value: object) -> object:
    # Environment variables are always strings, and pydantic does not read "60" or "30s" as a
    # timedelta; gcloud and the Cloud Tasks docs write durations as "30s", "10m". Anything else
    # (a number, ISO 8601 "PT30S", "00:00:30") is left to pydantic.
    if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        amount, unit = match.groups()
        return timedelta(seconds=float(amount) * _UNIT_SECONDS[(unit or "s").lower()])
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


def _within_dispatch_limits(value: timedelta) -> timedelta:
    if not MIN_DEADLINE <= value <= MAX_DEADLINE:
        raise ValueError("must be between 15s and 30m, the limits Cloud Tasks puts on HTTP tasks")
    return value


def _matching(pattern: re.Pattern[str], problem: str) -> AfterValidator:
    """A check that ``pattern`` matches the whole value; ``problem`` may quote it: ``{value!r}``."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(problem.format(value=value))
        return value

    return AfterValidator(check)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL such as http://127.0.0.1:8000")
    return value


def _base_url(value: str) -> str:
    # Route paths start with '/', so a trailing one here would double it.
    return _http_url(value).rstrip("/")


def _host_port(value: str) -> str:
    host, colon, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if (
        not colon
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
        or any(char in value for char in "/ \t")
        or (":" in host and not bracketed)
    ):
        raise ValueError("must be host:port without a scheme, e.g. 127.0.0.1:8123")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration), AfterValidator(_not_negative)]
DispatchDeadline = Annotated[Duration, AfterValidator(_within_dispatch_limits)]
# project / location go into resource paths: "projects/p" or "us central" would build a wrong
# path that only fails at the first RPC. Google's rules for the ids (Queue.name, Job.name).
ProjectId = Annotated[
    str,
    _matching(
        PROJECT_ID,
        "{value!r} is not a project id or number (letters, digits, '-', ':' and '.' only, "
        "e.g. 'my-project' or '123456789012')",
    ),
]
LocationId = Annotated[
    str,
    _matching(
        LOCATION_ID, "{value!r} is not a location id (letters, digits and '-', e.g. 'us-central1')"
    ),
]
QueueId = Annotated[
    str,
    _matching(
        QUEUE_ID,
        "{value!r} is not a Cloud Tasks queue id (1-100 letters, digits or '-');"
        " for a queue key that is not a valid id, set its 'id'",
    ),
]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
BaseUrl = Annotated[str, AfterValidator(_base_url)]
HostPort = Annotated[str, AfterValidator(_host_port)]
Email = Annotated[str, _matching(_EMAIL, "{value!r} is not an email address")]
JobPrefix = Annotated[
    str,
    _matching(JOB_ID_CHARACTERS, "may only hold letters, digits, '-' and '_' (it starts job ids)"),
]
EnvName = Annotated[
    str, _matching(ENV_NAME_PATTERN, "must be a plain name such as dev, test or prod")
]


# --- nested sections ---------------------------------------------------------------------------


class _Section(BaseModel):
    # An unknown key is almost always a typo; ignoring it would silently keep the default.
    model_config = ConfigDict(extra="forbid")


class OidcSettings(_Section):
    """The OIDC token Cloud Tasks / Cloud Scheduler attach to each request to the worker."""

    service_account_email: Email
    #: ``None``: Cloud Tasks uses the task's URL as the audience.
    audience: str | None = None


class RateLimitSettings(_Section):
    """A queue's rate limits, for ``queues sync``; ``None`` leaves Cloud Tasks' value alone."""

    max_dispatches_per_second: float | None = Field(
        default=None, gt=0, le=MAX_DISPATCHES_PER_SECOND
    )
    #: Cloud Tasks derives this from the rate and reports it; it cannot be set through the API,
    #: so ``queues sync`` can only compare it.
    max_burst_size: int | None = Field(default=None, gt=0)
    max_concurrent_dispatches: int | None = Field(default=None, gt=0, le=MAX_CONCURRENT_DISPATCHES)


class RetrySettings(_Section):
    """A queue's retry policy, for ``queues sync``; ``None`` leaves Cloud Tasks' value alone."""

    #: ``-1`` means unlimited attempts, as in Cloud Tasks.
    max_attempts: int | None = Field(default=None, ge=-1)
    min_backoff: Duration | None = None
    max_backoff: Duration | None = None
    max_doublings: int | None = Field(default=None, ge=0)
    #: ``0`` means no limit, as in Cloud Tasks.
    max_retry_duration: Duration | None = None

    @model_validator(mode="after")
    def _backoff_in_order(self) -> RetrySettings:
        if self.min_backoff and self.max_backoff and self.min_backoff > self.max_backoff:
            raise ValueError("min_backoff must not be greater than max_backoff")
        return self


class QueueSettings(_Section):
    """One named queue; the fields other than ``id`` override the top-level ones for it."""

    #: The Cloud Tasks queue id; when omitted, the key under ``queues``.
    id: QueueId
    base_url: BaseUrl | None = None
    oidc: OidcSettings | None = None
    dispatch_deadline: DispatchDeadline | None = None
    rate_limits: RateLimitSettings | None = None
    retry: RetrySettings | None = None
    #: Another key of ``queues``: where the worker parks a copy of a task whose last attempt
    #: failed (``install_task_handlers``); ``queues sync`` keeps that queue paused. Needs
    #: ``retry.max_attempts`` and no ``retry.max_retry_duration``.
    dead_letter: str | None = None


class WorkerAuthSettings(_Section):
    """How the worker checks that a task request really comes from Cloud Tasks / Scheduler."""

    enabled: bool = True
    #: Must equal the ``iss`` claim exactly, so it is not normalised.
    issuer: HttpUrl = "https://accounts.google.com"
    #: ``None``: found through the issuer's ``/.well-known/openid-configuration``.
    jwks_url: HttpUrl | None = None
    #: ``None``: the task URL the kit builds for the route (``base_url``, or a queue's own,
    #: with the route's path and the request's query), never the request's ``Host``.
    audience: str | None = None
    #: Service accounts allowed to call the worker; empty: any, if issuer and audience match.
    allowed_emails: list[Email] = Field(default_factory=list)


# --- the settings model ------------------------------------------------------------------------


class KitSettings(BaseSettings):
    """Everything the kit needs to create tasks and jobs and to accept them in the worker.

    Build it with :func:`load_settings`, which turns validation errors into a
    :class:`ConfigurationError` naming each bad key and the file or variable it came from.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        # A .env file is often shared with other tools: only CLOUDTASKS_* lines are ours, and an
        # unknown one of those is a typo that must fail like an unknown YAML key.
        dotenv_filtering="match_prefix",
        extra="forbid",
    )

    #: Chooses ``config/<env>.yaml``; read before the files, so it cannot be set in them.
    env: EnvName = DEFAULT_ENV
    #: Where the YAML files live; ``None``: ``./config`` relative to the current directory.
    config_dir: Path | None = None
    project: ProjectId | None = None
    location: LocationId | None = None
    #: The worker's base URL, e.g. ``http://127.0.0.1:8000``; task URLs are built on it.
    base_url: BaseUrl | None = None
    # Declared before default_queue, whose check needs the validated queues.
    queues: dict[str, QueueSettings] = Field(default_factory=dict)
    #: A key of ``queues``, a bare queue id or a full queue path.
    default_queue: str | None = None
    oidc: OidcSettings | None = None
    dispatch_deadline: DispatchDeadline | None = None
    #: Seconds allowed for one CreateTask call.
    task_create_timeout: float = Field(default=10.0, gt=0)
    #: Retries of a failed CreateTask call (transient errors only).
    task_create_retries: int = Field(default=3, ge=0)
    tracing: bool = True
    #: The worker's CONSUMER span: a child of the producer span (one trace from ``.delay()`` to
    #: the handler) instead of the messaging conventions' default, a link to it.
    trace_producer_as_parent: bool = False
    #: Create a queue that does not exist on the first ``.delay()`` into it. Off by default:
    #: queues are infrastructure, declared in settings and created by ``queues sync``.
    create_missing_queues: bool = False
    #: The emulator's gRPC address, e.g. ``127.0.0.1:8123``; ``None``: the real Google APIs.
    emulator_host: HostPort | None = None
    #: How the clients talk to Cloud Tasks and Cloud Scheduler (or the emulator): ``grpc``, or
    #: ``rest`` (JSON over HTTP/1.1) where gRPC is blocked. The async client that ``adelay()``
    #: uses exists for gRPC only: over REST, ``adelay()`` raises ConfigurationError.
    transport: Literal["grpc", "rest"] = "grpc"
    #: The emulator's HTTP address, which serves its REST API, for ``transport: rest``;
    #: ``None``: ``emulator_host``'s port + 1 (the emulator's own default).
    emulator_http_host: HostPort | None = None
    #: Marks the Cloud Scheduler jobs this app owns, so that a sync never touches others.
    scheduler_job_prefix: JobPrefix = ""
    #: ``None``: the same as ``location``.
    scheduler_location: LocationId | None = None
    auth: WorkerAuthSettings = Field(default_factory=WorkerAuthSettings)
    # --- how long a call to Cloud Tasks / Cloud Scheduler may take ---
    #: Seconds each call the kit and the CLI make may take, retries included (``.delay()``'s
    #: CreateTask has ``task_create_timeout``). ``None``: 5 s against the emulator, Google's
    #: client default (20 s) otherwise, so an unreachable endpoint is an error, not a hang.
    rpc_timeout: float | None = Field(default=None, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML files are the checked-in defaults a deployment overrides, so they rank below
        # everything else. Which files to read is decided by the sources above them. The
        # secrets-directory source is left out: no setting is read from secret files.
        higher = (init_settings, env_settings, dotenv_settings)
        env, env_variable = _selector("env", higher)
        yaml_settings = LayeredYamlSettingsSource(
            settings_cls,
            env=env,
            config_dir=_selector("config_dir", higher)[0],
            env_from=env_variable,
        )
        return init_settings, env_settings, dotenv_settings, yaml_settings

    @field_validator("queues", mode="before")
    @classmethod
    def _queue_id_defaults_to_key(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value
        return {key: _with_default_id(key, entry) for key, entry in value.items()}

    @field_validator("queues")
    @classmethod
    def _dead_letters_are_other_queues(
        cls, queues: dict[str, QueueSettings]
    ) -> dict[str, QueueSettings]:
        problems = [
            f"queues.{key}.dead_letter: {problem}"
            for key, queue in queues.items()
            if (problem := _dead_letter_problem(key, queue, queues)) is not None
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return queues

    @field_validator("default_queue")
    @classmethod
    def _default_queue_resolvable(cls, value: str | None, info: ValidationInfo) -> str | None:
        queues: dict[str, QueueSettings] = info.data.get("queues", {})
        parked = {queues[q.dead_letter].id for q in queues.values() if q.dead_letter in queues}
        if value is not None and (queues[value].id if value in queues else value) in parked:
            raise ValueError(
                f"{value!r} is a dead-letter queue: it is kept paused, so its tasks never run"
            )
        if value is None or value in queues:
            return value
        if QUEUE_PATH.fullmatch(value) or QUEUE_ID.fullmatch(value):
            return value
        raise ValueError(f"{value!r} {_NOT_A_QUEUE}")

    @property
    def config_folder(self) -> Path:
        """The folder the YAML files are read from (``config_dir``, or ``./config``)."""
        return Path(self.config_dir) if self.config_dir is not None else DEFAULT_CONFIG_DIR

    def queue_path(self, name: str | None = None) -> str:
        """The full Cloud Tasks path of a queue.

        :param name: a key of ``queues`` (checked first), a bare queue id, or a full
            ``projects/P/locations/L/queues/Q`` path (returned as is); ``None``: ``default_queue``.
        :raises ConfigurationError: no queue given and no default, ``name`` fits none of the
            forms, or project / location are needed but not set.
        """
        ref = self._queue_ref(name)
        if QUEUE_PATH.fullmatch(ref):
            return ref
        configured = self.queues.get(ref)
        queue_id = configured.id if configured is not None else ref
        if not QUEUE_ID.fullmatch(queue_id):
            raise ConfigurationError(f"queue {ref!r} {_NOT_A_QUEUE}")
        if self.project is None or self.location is None:
            missing = [
                f"{ENV_PREFIX}{field.upper()}"
                for field, value in (("project", self.project), ("location", self.location))
                if value is None
            ]
            raise ConfigurationError(
                f"cannot build the path of queue {ref!r}: "
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set"
            )
        return _queue_path(self.project, self.location, queue_id)

    def queue_settings(self, name: str | None = None) -> QueueSettings | None:
        """The per-queue settings of a queue given in any form :meth:`queue_path` accepts.

        A key matches its entry; a bare id matches the entry with that ``id``; a full path
        matches the entry with that id only if it is in this project and location.

        :param name: the queue; ``None``: ``default_queue``.
        :returns: ``None`` when no entry of ``queues`` matches (or no queue is given at all).
        """
        ref = name if name is not None else self.default_queue
        if ref is None:
            return None
        if ref in self.queues:
            return self.queues[ref]
        if full := QUEUE_PATH.fullmatch(ref):
            project, location, ref = full.groups()
            if (project, location) != (self.project, self.location):
                return None
        return next((queue for queue in self.queues.values() if queue.id == ref), None)

    def _queue_ref(self, name: str | None) -> str:
        if name is not None:
            return name
        if self.default_queue is None:
            raise ConfigurationError(f"no queue given and {ENV_PREFIX}DEFAULT_QUEUE is not set")
        return self.default_queue


def queue_path(project: str, location: str, queue: str) -> str:
    """``projects/<project>/locations/<location>/queues/<queue>``, as in fastapi-cloud-tasks.

    :raises ValueError: a part is not an id of its kind as Google documents them (a project id
        or number, a location id, a queue id); a ``/`` in one would shift the path.
    """
    for part, value, pattern in (
        ("project", project, PROJECT_ID),
        ("location", location, LOCATION_ID),
        ("queue", queue, QUEUE_ID),
    ):
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"{part}: {value!r} is not a {part} id as Cloud Tasks documents it")
    return f"projects/{project}/locations/{location}/queues/{queue}"


# Every .delay() asks for its queue's path: the same few strings each time, checked once.
@functools.lru_cache(maxsize=256)
def _queue_path(project: str, location: str, queue: str) -> str:
    return queue_path(project, location, queue)


# --- helpers -----------------------------------------------------------------------------------


def _with_default_id(key: object, entry: object) -> object:
    if entry is None:  # "kitchen:" with nothing under it in YAML
        return {"id": key}
    if isinstance(entry, Mapping) and "id" not in entry:
        return {**entry, "id": key}
    return entry


def _dead_letter_problem(
    key: str, queue: QueueSettings, queues: Mapping[str, QueueSettings]
) -> str | None:
    target = queue.dead_letter
    if target is None:
        return None
    if target not in queues:
        guess = difflib.get_close_matches(target, list(queues), n=1)
        return f"{target!r} is not a key of queues" + (
            f"; did you mean {guess[0]!r}?" if guess else ""
        )
    if queues[target].id == queue.id:
        return f"{target!r} is this queue itself"
    if queues[target].dead_letter is not None:
        # A dead-letter queue is paused: nothing in it is dispatched, so nothing fails there.
        return f"{target!r} has a dead_letter of its own; a dead-letter queue cannot"
    retry = queue.retry
    # The worker parks on what it knows is the last attempt: a count, and no time limit (Cloud
    # Tasks retries past max_attempts until max_retry_duration has passed since the first
    # attempt, a time it does not send).
    if retry is None or retry.max_attempts is None or retry.max_attempts < 1:
        return "needs retry.max_attempts of 1 or more, so that the worker knows the last attempt"
    if retry.max_retry_duration:
        return "needs no retry.max_retry_duration: with one, the last attempt cannot be known"
    return None


def env_var_key(path: Sequence[object]) -> str:
    """The variable that sets the key at ``path``, as pydantic-settings' sources hold it.

    The model is case-insensitive, so pydantic-settings keeps variable names lower-cased.
    """
    return (ENV_PREFIX + NESTED_DELIMITER.join(str(part) for part in path)).lower()


def _selector(field: str, sources: Sequence[PydanticBaseSettingsSource]) -> tuple[Any, str | None]:
    """The value of ``env`` / ``config_dir`` from the highest source that sets it, if any, and
    where its variable was set (``"the environment"``, ``".env"``; ``None`` for an argument or
    the default).

    The YAML source needs it before any validation, so it is looked up here by hand.
    """
    for source in sources:
        if isinstance(source, InitSettingsSource):
            value = source.init_kwargs.get(field)
            variable = None
        elif isinstance(source, EnvSettingsSource):  # .env too: DotEnvSettingsSource is one
            value = source.env_vars.get(env_var_key([field]))
            variable = ".env" if isinstance(source, DotEnvSettingsSource) else "the environment"
        else:
            continue
        if value is not None:
            return value, variable
    return None, None
