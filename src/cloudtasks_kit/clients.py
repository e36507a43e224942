"""Cloud Tasks / Cloud Scheduler clients, built when first used and closed on shutdown.

With ``emulator_host`` set they dial the local emulator over an insecure gRPC channel and
look up no credentials; otherwise they are Google's clients with Application Default
Credentials, which are only looked up here, when the container first needs a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
from google.cloud import scheduler_v1, tasks_v2
from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
    CloudSchedulerGrpcAsyncIOTransport,
    CloudSchedulerGrpcTransport,
)
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)

from .settings import KitSettings

__all__ = [
    "async_scheduler_client",
    "async_tasks_client",
    "scheduler_client",
    "tasks_client",
]


def tasks_client(settings: KitSettings) -> Iterator[tasks_v2.CloudTasksClient]:
    if settings.emulator_host:
        channel = grpc.insecure_channel(settings.emulator_host)
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    else:
        client = tasks_v2.CloudTasksClient()
    try:
        yield client
    finally:
        client.transport.close()


async def async_tasks_client(
    settings: KitSettings,
) -> AsyncIterator[tasks_v2.CloudTasksAsyncClient]:
    # Built inside the running loop: a grpc.aio channel belongs to the loop it was made in.
    if settings.emulator_host:
        channel = grpc.aio.insecure_channel(settings.emulator_host)
        client = tasks_v2.CloudTasksAsyncClient(
            transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
        )
    else:
        client = tasks_v2.CloudTasksAsyncClient()
    try:
        yield client
    finally:
        await client.transport.close()


def scheduler_client(settings: KitSettings) -> Iterator[scheduler_v1.CloudSchedulerClient]:
    if settings.emulator_host:
        channel = grpc.insecure_channel(settings.emulator_host)
        client = scheduler_v1.CloudSchedulerClient(
            transport=CloudSchedulerGrpcTransport(channel=channel)
        )
    else:
        client = scheduler_v1.CloudSchedulerClient()
    try:
        yield client
    finally:
        client.transport.close()


async def async_scheduler_client(
    settings: KitSettings,
) -> AsyncIterator[scheduler_v1.CloudSchedulerAsyncClient]:
    if settings.emulator_host:
        channel = grpc.aio.insecure_channel(settings.emulator_host)
        client = scheduler_v1.CloudSchedulerAsyncClient(
            transport=CloudSchedulerGrpcAsyncIOTransport(channel=channel)
        )
    else:
        client = scheduler_v1.CloudSchedulerAsyncClient()
    try:
        yield client
    finally:
        await client.transport.close()
