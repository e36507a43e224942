"""Cloud Tasks / Cloud Scheduler clients, built when first used and closed on shutdown.

With ``emulator_host`` set they dial the local emulator over an insecure gRPC channel and
look up no credentials; otherwise they are Google's clients with Application Default
Credentials, which are only looked up here, when the container first needs a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.cloud import scheduler_v1, tasks_v2
from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
    CloudSchedulerGrpcTransport,
)
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from .settings import KitSettings

__all__: list[str] = []


def tasks_client(settings: KitSettings) -> Iterator[tasks_v2.CloudTasksClient]:
    client = _build(settings, tasks_v2.CloudTasksClient, CloudTasksGrpcTransport)
    try:
        yield client
    finally:
        client.transport.close()


async def async_tasks_client(
    settings: KitSettings,
) -> AsyncIterator[tasks_v2.CloudTasksAsyncClient]:
    client = _abuild(settings, tasks_v2.CloudTasksAsyncClient, CloudTasksGrpcAsyncIOTransport)
    try:
        yield client
    finally:
        await client.transport.close()


def scheduler_client(settings: KitSettings) -> Iterator[scheduler_v1.CloudSchedulerClient]:
    client = _build(settings, scheduler_v1.CloudSchedulerClient, CloudSchedulerGrpcTransport)
    try:
        yield client
    finally:
        client.transport.close()


_Client = TypeVar("_Client")


def _build(settings: KitSettings, client: Callable[..., _Client], transport: Any) -> _Client:
    """Google's client, or one on an insecure channel to the emulator (no credentials)."""
    if settings.emulator_host:
        return client(transport=transport(channel=grpc.insecure_channel(settings.emulator_host)))
    return client()


def _abuild(settings: KitSettings, client: Callable[..., _Client], transport: Any) -> _Client:
    # Called inside the running loop: a grpc.aio channel belongs to the loop it was made in.
    if settings.emulator_host:
        channel = grpc.aio.insecure_channel(settings.emulator_host)
        return client(transport=transport(channel=channel))
    return client()
