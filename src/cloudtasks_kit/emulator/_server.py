"""The emulator process: both APIs (Cloud Tasks and Cloud Scheduler) served by one gRPC server
and, as REST, by one HTTP server that also serves OIDC discovery and admin calls, all on one
event loop with the dispatcher and the job runner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import grpc
import uvicorn

from ._clock import Clock
from ._config import EmulatorConfig
from ._errors import StartError
from ._http_app import build_http_app
from ._http_attempt import new_http_client
from ._insight import QueueCounts
from ._methods import Api
from ._operations import OperationsApi
from ._paging import PageTokens
from ._stats import Stats
from ._store import Database
from ._tokens import TokenSigner
from .console import ConsoleSource, console_routes
from .faces import generic_handler, rest_routes
from .scheduler import CloudSchedulerApi, JobRunner, JobStore, new_job_client
from .tasks import CloudTasksApi, Dispatcher, TaskStore

__all__ = ["Emulator", "run"]

log = logging.getLogger("cloudtasks_kit.emulator")

_SIGNING_KEY = "oidc_signing_key"
_HOUSEKEEPING_INTERVAL = 60.0


class _EmbeddedUvicorn(uvicorn.Server):
    # The emulator owns the process's signals; uvicorn must not take them over.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Emulator:
    """Cloud Tasks and Cloud Scheduler on loopback. ``start()`` inside a running
    loop, then ``grpc_target`` is what clients dial and ``issuer`` what workers trust."""

    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock(config.clock_offset)
        self.stats = Stats()
        self.grpc_port = 0
        self.http_port = 0
        self._database: Database | None = None
        self._task_store: TaskStore | None = None
        self._grpc: grpc.aio.Server | None = None
        self._http: _EmbeddedUvicorn | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._dispatcher: Dispatcher | None = None
        self._job_runner: JobRunner | None = None
        self._tasks_api: CloudTasksApi | None = None
        self._scheduler_api: CloudSchedulerApi | None = None
        self._housekeeping: asyncio.Task[None] | None = None

    @property
    def grpc_target(self) -> str:
        return f"{self.config.host}:{self.grpc_port}"

    @property
    def issuer(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    async def start(self) -> None:
        config = self.config
        database = self._database = _open(config)
        task_store = self._task_store = TaskStore(database, history_ttl=config.task_tombstone_ttl)
        job_store = JobStore(database)
        try:
            if config.port:
                # Probed before gRPC binds it: a failed add_insecure_port logs gRPC's own line.
                _bind(config.host, config.port, "the gRPC port, --port").close()
            http_socket = _bind(
                config.host, config.resolved_http_port(), "the HTTP port, --http-port"
            )
        except StartError:
            database.close()
            raise
        self.http_port = http_socket.getsockname()[1]
        signer = self._signer(database)
        self._dispatcher = Dispatcher(
            task_store,
            self.clock,
            signer,
            self.stats,
            new_http_client(),
            tombstone_ttl=config.task_tombstone_ttl,
        )
        # One signing secret for the page tokens of both APIs, new with each process.
        tokens = PageTokens()
        # The batch methods' long-running operations, at the path Cloud Tasks' clients poll.
        operations = OperationsApi(database, self.clock, CloudTasksApi.rest_transport)
        tasks_api = self._tasks_api = CloudTasksApi(
            task_store, self._dispatcher, self.clock, self.stats, config, tokens, operations
        )
        tasks_api.declare_queues(config.declared_queues)
        self._job_runner = JobRunner(job_store, self.clock, signer, self.stats, new_job_client())
        scheduler_api = self._scheduler_api = CloudSchedulerApi(
            job_store, self._job_runner, self.clock, self.stats, config, tokens
        )

        self._grpc = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", 8 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ]
        )
        # Two faces over the same methods: what one serves, the other serves alike.
        apis: list[Api] = [tasks_api, operations, scheduler_api]
        self._grpc.add_generic_rpc_handlers([generic_handler(api, self.stats) for api in apis])
        try:
            self.grpc_port = self._grpc.add_insecure_port(f"{config.host}:{config.port}")
        except RuntimeError:  # grpcio raises where older versions returned 0
            self.grpc_port = 0
        if self.grpc_port == 0:
            http_socket.close()
            database.close()
            raise StartError(_cannot_listen(config.host, config.port, "the gRPC port, --port"))
        await self._grpc.start()

        dispatcher = self._dispatcher

        def queue_counts(name: str) -> QueueCounts:
            tasks, attempted = task_store.counts(name)
            return QueueCounts(tasks, attempted, dispatcher.in_flight(name))

        metrics = self.stats.metrics
        metrics.watch_queues(lambda: {name: queue_counts(name) for name, _ in task_store.queues()})
        console = ConsoleSource(
            tasks=tasks_api,
            scheduler=scheduler_api,
            task_store=task_store,
            job_store=job_store,
            queue_counts=queue_counts,
            is_running=dispatcher.is_in_flight,
            dispatch_rate=metrics.dispatch_rate,
            clock=self.clock,
        )
        routes = [*rest_routes(apis, self.stats), *console_routes(console)]
        app = build_http_app(signer, self.stats, self.clock, self.reset, routes)
        self._http = _EmbeddedUvicorn(
            uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        )
        self._http_task = asyncio.get_running_loop().create_task(
            self._http.serve(sockets=[http_socket])
        )
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
            await asyncio.sleep(0.005)

        self._dispatcher.start()
        self._job_runner.start()
        self._housekeeping = asyncio.get_running_loop().create_task(self._expire_tombstones())

    def reset(self, queue: str | None = None) -> dict[str, Any]:
        """For test suites sharing one emulator: with no ``queue``, forget every queue, task,
        tombstone and job (the ``--config`` queues are declared again); with a queue's name,
        forget that queue's tasks and the names they keep taken. The clock is left alone.

        :raises ApiError: ``queue`` is not a queue name (INVALID_ARGUMENT) or not a queue
            (NOT_FOUND).
        """
        assert self._tasks_api is not None
        assert self._scheduler_api is not None
        if queue is not None:
            tasks = self._tasks_api.reset_queue(queue)
            log.info("reset queue %s: %d task(s) forgotten", queue, tasks)
            return {"reset": queue, "tasks": tasks}
        self._scheduler_api.reset()
        self._tasks_api.reset()
        log.info("reset: every queue, task, tombstone and job forgotten")
        return {"reset": "all"}

    def _signer(self, database: Database) -> TokenSigner:
        # The key persists with the state, so tokens stay verifiable across restarts.
        pem = database.get_meta(_SIGNING_KEY)
        signer = TokenSigner(self.issuer, pem)
        if pem is None:
            database.set_meta(_SIGNING_KEY, signer.private_key_pem())
        return signer

    async def _expire_tombstones(self) -> None:
        assert self._task_store is not None
        while True:
            self._task_store.expire_tombstones(self.clock.now())
            await asyncio.sleep(_HOUSEKEEPING_INTERVAL)

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=0.5)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        if self._dispatcher is not None:
            await self._dispatcher.stop()
        if self._job_runner is not None:
            await self._job_runner.stop()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
        if self._database is not None:
            self._database.close()


def _open(config: EmulatorConfig) -> Database:
    try:
        return Database(config.data)
    except (OSError, sqlite3.Error) as exc:
        # sqlite's own words ("unable to open database file") name neither the file nor the flag.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartError(
            f"cannot open the state file {config.data} (--data): {reason}; pick a writable "
            "path, or leave --data out to keep the state in memory"
        ) from None


def _bind(host: str, port: int, which: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without, uvicorn's h11 answers each request after the
    # first on a kept-alive connection 40 ms late (Nagle against the client's delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartError(_cannot_listen(host, port, which, exc.strerror)) from None
    sock.set_inheritable(True)
    return sock


def _cannot_listen(host: str, port: int, which: str, why: str | None = None) -> str:
    return (
        f"cannot listen on {host}:{port} ({which}): {why or 'address already in use'}; "
        "stop what listens there (another emulator?) or choose other ports (--port 0: any "
        "free ones)"
    )


async def _serve(config: EmulatorConfig) -> None:
    emulator = Emulator(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await emulator.start()
    print(
        f"cloudtasks-kit emulator ready grpc={emulator.grpc_target} http={emulator.issuer} "
        f"data={config.data or ':memory:'}",
        flush=True,
    )
    try:
        await stopping.wait()
    finally:
        await emulator.stop()
        log.info("emulator stopped")


def run(config: EmulatorConfig) -> int:
    """Serve until SIGINT or SIGTERM; the ready line on stdout tells where."""
    asyncio.run(_serve(config))
    return 0
