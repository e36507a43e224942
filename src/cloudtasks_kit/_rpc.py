"""Every call to Cloud Tasks / Cloud Scheduler: its deadline, its retry, and what its failure
means.

The generated clients retry UNAVAILABLE until their own deadline, 600 s for Cloud Scheduler: an
emulator that is not running was a ten-minute silence ending in a 70-line ``RetryError``. Here
each call gets the settings' ``rpc_timeout`` (short against the emulator) for all its attempts,
and a failure that says nothing to a user becomes one of the kit's errors with one line naming
the endpoint and what to do. ``NotFound``, ``AlreadyExists`` and the like pass through: callers
act on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import AsyncRetry, Retry, if_exception_type

from ._errors import ConfigurationError, ServiceUnreachable
from ._protocol import DEFAULT_RPC_TIMEOUT
from .settings import KitSettings

__all__: list[str] = []

#: Against the emulator on this machine an answer takes milliseconds; longer means it is not
#: there (or stuck), which the user should hear about at once.
EMULATOR_RPC_TIMEOUT = 5.0

CLOUD_TASKS = "Cloud Tasks"
CLOUD_SCHEDULER = "Cloud Scheduler"
_GOOGLE_HOSTS = {
    CLOUD_TASKS: "cloudtasks.googleapis.com",
    CLOUD_SCHEDULER: "cloudscheduler.googleapis.com",
}

# A refused connection is UNAVAILABLE at once: worth trying again within the deadline (the
# emulator may be starting). Anything else is an answer, not an outage.
_RETRYABLE = if_exception_type(api_exceptions.ServiceUnavailable)
_UNREACHABLE = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.RetryError,
)
_DENIED = (api_exceptions.PermissionDenied, api_exceptions.Unauthenticated)


def rpc_deadline(settings: KitSettings) -> float:
    """Seconds one call may take, retries included."""
    if settings.rpc_timeout is not None:
        return settings.rpc_timeout
    return EMULATOR_RPC_TIMEOUT if settings.emulator_host else DEFAULT_RPC_TIMEOUT


def call_options(settings: KitSettings) -> dict[str, Any]:
    """``timeout=`` and ``retry=`` for a call of a sync client: pass them to every method."""
    deadline = rpc_deadline(settings)
    retry = Retry(predicate=_RETRYABLE, initial=0.1, maximum=1.0, multiplier=2.0, timeout=deadline)
    return {"timeout": deadline, "retry": retry}


def async_call_options(settings: KitSettings) -> dict[str, Any]:
    """:func:`call_options` for an async client."""
    deadline = rpc_deadline(settings)
    retry = AsyncRetry(
        predicate=_RETRYABLE, initial=0.1, maximum=1.0, multiplier=2.0, timeout=deadline
    )
    return {"timeout": deadline, "retry": retry}


def is_unreachable(exc: BaseException) -> bool:
    """No answer came: refused, timed out, or retried until the deadline."""
    return isinstance(exc, _UNREACHABLE)


def unreachable_message(settings: KitSettings, service: str, exc: BaseException) -> str:
    """One line: which endpoint did not answer, and what to check."""
    why = _reason(exc)
    if settings.emulator_host:
        host = settings.emulator_host
        return (
            f"cannot reach the {service} emulator at {host} ({why}): "
            f"is `cloudtasks-kit emulator` running on {host}? "
            "Start it, or set CLOUDTASKS_EMULATOR_HOST to where it listens"
        )
    return (
        f"cannot reach {service} ({_GOOGLE_HOSTS[service]}) within "
        f"{rpc_deadline(settings):g} s ({why}): check the network and the credentials "
        "(gcloud auth application-default login); to use the local emulator instead, set "
        "CLOUDTASKS_EMULATOR_HOST (config/dev.yaml does)"
    )


def denied_message(settings: KitSettings, service: str, exc: BaseException) -> str:
    project = settings.project or "(CLOUDTASKS_PROJECT is not set)"
    return (
        f"{service} refused the call ({_reason(exc)}): check the credentials "
        "(gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS), that "
        f"project {project} is the right one and that the {service} API is enabled in it"
    )


def credentials_message(service: str) -> str:
    return (
        f"no Google credentials for {service}: run `gcloud auth application-default login` "
        "(or set GOOGLE_APPLICATION_CREDENTIALS); to use the local emulator instead, set "
        "CLOUDTASKS_EMULATOR_HOST (config/dev.yaml does, with CLOUDTASKS_ENV=dev)"
    )


@contextmanager
def rpc_errors(settings: KitSettings, service: str) -> Iterator[None]:
    """Calls inside become the kit's errors when no answer came or access was refused.

    :raises ServiceUnreachable: the endpoint did not answer within the deadline.
    :raises ConfigurationError: Google refused the credentials or the project.
    """
    try:
        yield
    except _UNREACHABLE as exc:
        raise ServiceUnreachable(unreachable_message(settings, service, exc)) from None
    except _DENIED as exc:
        raise ConfigurationError(denied_message(settings, service, exc)) from None


def _reason(exc: BaseException) -> str:
    """The gRPC status and the first line of its detail, without the channel's debug text."""
    if isinstance(exc, api_exceptions.RetryError):
        cause = exc.cause
        if cause is None:
            return "no answer before the deadline"
        exc = cause
    if isinstance(exc, api_exceptions.DeadlineExceeded):
        return "no answer before the deadline"
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        detail = (exc.message or "").splitlines()[0] if exc.message else ""
        # gRPC's text for a refused connection is long; its last clause is the useful part.
        detail = detail.rsplit("last error: ", 1)[-1]
        code = exc.grpc_status_code.name if exc.grpc_status_code is not None else exc.code
        return f"{code}: {detail}" if detail else str(code)
    return f"{type(exc).__name__}: {exc}"
