"""Cloud Tasks / Cloud Scheduler clients, built when first used and closed on shutdown.

With ``emulator_host`` set they dial the local emulator over an insecure gRPC channel and
look up no credentials; otherwise they are Google's clients with Application Default
Credentials, which are only looked up here, when the container first needs a client. With
``transport: rest`` the sync clients speak JSON over HTTP/1.1 instead (to the emulator's HTTP
port, or to Google).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import scheduler_v1, tasks_v2
from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
    CloudSchedulerGrpcTransport,
)
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from ._errors import ConfigurationError
from ._rpc import CLOUD_SCHEDULER, CLOUD_TASKS, credentials_message
from .settings import KitSettings

__all__: list[str] = []


def tasks_client(settings: KitSettings) -> Iterator[tasks_v2.CloudTasksClient]:
    client = _build(settings, tasks_v2.CloudTasksClient, CloudTasksGrpcTransport, CLOUD_TASKS)
    try:
        yield client
    finally:
        client.transport.close()


async def async_tasks_client(
    settings: KitSettings,
) -> AsyncIterator[tasks_v2.CloudTasksAsyncClient]:
    client = _abuild(
        settings, tasks_v2.CloudTasksAsyncClient, CloudTasksGrpcAsyncIOTransport, CLOUD_TASKS
    )
    try:
        yield client
    finally:
        await client.transport.close()


def scheduler_client(settings: KitSettings) -> Iterator[scheduler_v1.CloudSchedulerClient]:
    client = _build(
        settings, scheduler_v1.CloudSchedulerClient, CloudSchedulerGrpcTransport, CLOUD_SCHEDULER
    )
    try:
        yield client
    finally:
        client.transport.close()


_Client = TypeVar("_Client")


def _build(
    settings: KitSettings, client: Callable[..., _Client], transport: Any, service: str
) -> _Client:
    """Google's client, or one on an insecure channel to the emulator (no credentials)."""
    if settings.transport == "rest":
        return _rest(settings, client, service)
    if settings.emulator_host:
        return client(transport=transport(channel=grpc.insecure_channel(settings.emulator_host)))
    return _google(client, service)


def _rest(settings: KitSettings, client: Callable[..., _Client], service: str) -> _Client:
    if not settings.emulator_host:
        return _google(client, service, transport="rest")
    http_host = settings.emulator_http_host
    if http_host is None:
        host, _, port = settings.emulator_host.rpartition(":")
        http_host = f"{host}:{int(port) + 1}"
    return client(
        transport="rest",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": f"http://{http_host}"},
    )


def _abuild(
    settings: KitSettings, client: Callable[..., _Client], transport: Any, service: str
) -> _Client:
    if settings.transport == "rest":
        # google-cloud-tasks ships no async REST transport (its async client awaits the
        # sync REST transport's answers and fails on the first call): say so at once.
        raise ConfigurationError(
            "transport 'rest': adelay() and adelay_many() need the async client, which "
            "google-cloud-tasks provides for gRPC only; use delay() / delay_many() over REST, "
            "or transport 'grpc'"
        )
    # Called inside the running loop: a grpc.aio channel belongs to the loop it was made in.
    if settings.emulator_host:
        channel = grpc.aio.insecure_channel(settings.emulator_host)
        return client(transport=transport(channel=channel))
    return _google(client, service)


def _google(client: Callable[..., _Client], service: str, **options: Any) -> _Client:
    try:
        return client(**options)
    except DefaultCredentialsError:
        # google-auth's own message is a paragraph and a link; say what to run instead.
        raise ConfigurationError(credentials_message(service)) from None
