"""The worker's side: a task route with :class:`~cloudtasks_kit.TaskContext`, OIDC verification
(keys cached) and consumer tracing vs the same route with the OpenTelemetry SDK alone (the
kit's own share: an application that traces has the SDK's cost, and FastAPI's spans, anyway),
and vs the same route plain.

Each variant is served by uvicorn in its own process; this process is the load generator: a
fixed number of keep-alive HTTP/1.1 connections on loopback, each sending the next request as
soon as the previous answer arrived, the bytes of every request prepared in advance. Both
servers get the same request: the route of :mod:`bench.kit_delay` (path, query, header,
nested JSON body) with the headers Cloud Tasks sends, a bearer token signed for the request's
URL by an emulator-style :class:`~cloudtasks_kit.emulator._tokens.TokenSigner`, and a
``traceparent``; the plain server ignores them. The full server verifies the token against
the key set it fetched (from itself, standing in for Google's) once, then cached; it has an
OpenTelemetry SDK with a batch processor whose exporter drops the spans.

Rounds alternate which server goes first; a figure is the median of the per-round ratios of
time per request. Server CPU per request (from /proc) is printed as context.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from bench._common import (
    Figure,
    child_process,
    listening_socket,
    median_ratio,
    print_figures,
)
from bench.kit_delay import ORDER, TABLE, Order
from cloudtasks_kit import TaskContextDep  # at module level: FastAPI resolves annotations here

__all__ = ["run"]

BENCH = "kit_worker"
TARGET = 1.15
FEATURES = ("ctx", "oidc", "sdk", "trace")
FULL = "ctx+oidc+trace"
# Each compared with plain in the same rounds, as context: where the full route's time goes.
# ``sdk`` is an SDK tracer provider alone (FastAPI's own spans, no kit middleware), so
# ``trace`` over ``sdk`` is the kit's consumer span.
PARTS = ("ctx", "oidc", "sdk", "trace")
CONNECTIONS = 8
EMAIL = "tasks@bench.iam.gserviceaccount.com"
PATH = f"/tables/{TABLE}/orders?rush=true"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


# -- the servers (child processes) ----------------------------------------------------------


def serve_kit_worker(announce: Callable[[int], None], variant: str, key_file: str) -> None:
    """A worker process: ``variant`` is ``full`` (context, OIDC, tracing) or ``plain``."""
    import uvicorn

    sock = listening_socket(nodelay=True)
    port = sock.getsockname()[1]
    app = build_worker_app(variant, f"http://127.0.0.1:{port}", Path(key_file).read_bytes())
    announce(port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=2048,
        # The load generator's connections idle while the other servers are measured.
        timeout_keep_alive=3600,
    )
    uvicorn.Server(config).run(sockets=[sock])


def build_worker_app(variant: str, issuer: str, private_key_pem: bytes) -> Any:
    """The worker app; ``variant`` is ``plain`` or features joined by ``+``: ``ctx`` (the
    handler takes a ``TaskContextDep``), ``oidc`` (the route depends on an
    :class:`~cloudtasks_kit.OidcVerifier`), ``sdk`` (an OpenTelemetry SDK tracer provider),
    ``trace`` (that and :class:`~cloudtasks_kit.TaskTracingMiddleware`)."""
    from fastapi import APIRouter, Depends, FastAPI, Header

    from cloudtasks_kit import DelayedRoute, TaskTracingMiddleware, load_settings, oidc_verifier
    from cloudtasks_kit.emulator._tokens import TokenSigner

    features = set() if variant == "plain" else set(variant.split("+"))
    if not features <= set(FEATURES):
        raise ValueError(f"unknown worker variant {variant!r}")
    app = FastAPI()
    router = APIRouter(route_class=DelayedRoute)
    settings = load_settings(
        env="bench",
        config_dir=Path(tempfile.mkdtemp(prefix="bench-worker-")),
        auth={"issuer": issuer, "allowed_emails": [EMAIL]},
        # The audience the worker expects: this server's URL for the route, as tasks get it.
        base_url=issuer,
    )
    dependencies = [Depends(oidc_verifier(settings))] if "oidc" in features else []
    if "ctx" in features:

        @router.post("/tables/{table}/orders", dependencies=dependencies)
        async def place_order_in_context(
            table: int,
            order: Order,
            ctx: TaskContextDep,
            rush: bool = False,
            x_request_id: Annotated[str, Header()] = "",
        ) -> dict[str, Any]:
            return {"table": table, "items": len(order.items), "attempt": ctx.attempt}

    else:

        @router.post("/tables/{table}/orders", dependencies=dependencies)
        async def place_order(
            table: int,
            order: Order,
            rush: bool = False,
            x_request_id: Annotated[str, Header()] = "",
        ) -> dict[str, Any]:
            return {"table": table, "items": len(order.items), "attempt": 1}

    # The issuer's discovery document and key set, as Google (or the emulator) serves them;
    # on every variant, so that all route the same table.
    signer = TokenSigner(issuer, private_key_pem)

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return signer.openid_configuration()

    @app.get("/oauth2/v3/certs")
    async def certs() -> dict[str, Any]:
        return signer.jwks()

    if features & {"sdk", "trace"}:
        _install_tracing()
    if "trace" in features:
        app.add_middleware(TaskTracingMiddleware)
    app.include_router(router)
    return app


def _install_tracing() -> None:
    from collections.abc import Sequence

    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Discard(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)


# -- the load generator -------------------------------------------------------------------------


def task_request(port: int, token: str, index: int = 1) -> bytes:
    """The bytes of one task attempt as Cloud Tasks sends it to this route."""
    body = json.dumps(ORDER, separators=(",", ":")).encode()
    headers = [
        f"POST {PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "User-Agent: Google-Cloud-Tasks",
        f"X-Request-Id: req-{index}",
        "X-CloudTasks-QueueName: bench",
        f"X-CloudTasks-TaskName: {4611686018427387904 + index}",
        "X-CloudTasks-TaskRetryCount: 0",
        "X-CloudTasks-TaskExecutionCount: 0",
        "X-CloudTasks-TaskETA: 1700000000.000000",
        f"Authorization: Bearer {token}",
        f"traceparent: 00-{index:032x}-{index:016x}-01",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request whenever the previous answer is complete,
    until the shared budget is spent."""

    def __init__(self, request: bytes, budget: list[int], finished: asyncio.Future[None]) -> None:
        self.request = request
        self.budget = budget
        self.finished = finished
        self.buffer = b""
        self.statuses: dict[int, int] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send_next(self) -> None:
        assert self.transport is not None
        if self.budget[0] <= 0:
            if not self.finished.done():
                self.finished.set_result(None)
            return
        self.budget[0] -= 1
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            match = _CONTENT_LENGTH.search(self.buffer, 0, end + 2)
            size = end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buffer) < size:
                return
            status = int(self.buffer[9:12])
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.buffer = self.buffer[size:]
            self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self.finished.set_exception(exc or ConnectionError("the server closed the connection"))


class LoadGenerator:
    """``CONNECTIONS`` open connections to one server, reused across bursts."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port = port
        self.request = request
        self.connections: list[_Connection] = []

    async def burst(self, n: int) -> float:
        """Send ``n`` requests over the connections; seconds until the last answer."""
        loop = asyncio.get_running_loop()
        budget = [n]
        done: list[asyncio.Future[None]] = []
        # Open (or reopen, should the server have closed one) every connection.
        self.connections = [
            c for c in self.connections if c.transport is not None and not c.transport.is_closing()
        ]
        while len(self.connections) < CONNECTIONS:
            _, protocol = await loop.create_connection(
                lambda: _Connection(self.request, budget, loop.create_future()),
                "127.0.0.1",
                self.port,
            )
            self.connections.append(protocol)
        began = time.perf_counter()
        for connection in self.connections:
            connection.budget = budget
            connection.finished = loop.create_future()
            done.append(connection.finished)
            connection.send_next()
        await asyncio.wait_for(asyncio.gather(*done), timeout=300)
        return time.perf_counter() - began

    def statuses(self) -> dict[int, int]:
        total: dict[int, int] = {}
        for connection in self.connections:
            for status, count in connection.statuses.items():
                total[status] = total.get(status, 0) + count
        return total

    def close(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(
    servers: dict[str, tuple[int, int]], key_pem: bytes, n: int, rounds: int
) -> list[Figure]:
    from cloudtasks_kit.emulator._tokens import TokenSigner

    generators: dict[str, LoadGenerator] = {}
    for variant, (_, port) in servers.items():
        issuer = f"http://127.0.0.1:{port}"
        token = TokenSigner(issuer, key_pem).token(
            audience=f"{issuer}{PATH}", email=EMAIL, now=time.time()
        )
        generators[variant] = LoadGenerator(port, task_request(port, token))
    for generator in generators.values():
        await generator.burst(min(n, 500))  # warm up; OIDC servers fetch their keys here
    # variant -> per round (seconds per request, server CPU seconds per request)
    took: dict[str, list[tuple[float, float]]] = {variant: [] for variant in servers}
    variants = list(servers)
    for round_no in range(rounds):
        # Rotate (and reverse every other round) so that no variant always runs first.
        shift = round_no % len(variants)
        order = variants[shift:] + variants[:shift]
        for variant in order if round_no % 2 == 0 else order[::-1]:
            pid = servers[variant][0]
            used = _cpu_seconds(pid)
            wall = await generators[variant].burst(n)
            took[variant].append((wall / n, (_cpu_seconds(pid) - used) / n))
        full, sdk = took[FULL][-1][0], took["sdk"][-1][0]
        print(
            f"    worker round {round_no}: full {1 / full:6.0f}/s  SDK alone {1 / sdk:6.0f}/s  "
            f"ratio {full / sdk:.3f}",
            flush=True,
        )
    for variant, generator in generators.items():
        statuses = generator.statuses()
        generator.close()
        if set(statuses) != {200}:
            raise RuntimeError(f"the {variant} worker answered {statuses}, not only 200")

    def versus(variant: str, baseline: str = "plain") -> list[tuple[float, float]]:
        return [(m[0], b[0]) for m, b in zip(took[variant], took[baseline], strict=True)]

    ratio = median_ratio(versus(FULL, "sdk"))
    figures = [
        Figure(
            BENCH,
            f"task route ctx+OIDC+tracing / SDK alone, time per request ({n}/round, "
            f"c={CONNECTIONS}, {rounds} rounds)",
            f"{ratio:.3f}x",
            f"<= {TARGET}x",
            ratio <= TARGET,
        ),
        Figure(BENCH, "  full requests/s (median)", f"{_rate(took[FULL]):.0f}"),
        Figure(BENCH, "  SDK alone requests/s (median)", f"{_rate(took['sdk']):.0f}"),
        Figure(BENCH, "  per-round ratios min/max", _spread(versus(FULL, "sdk"))),
        Figure(
            BENCH,
            "  server CPU per request full/SDK alone/plain (us)",
            f"{_median_us(took[FULL], 1)}/{_median_us(took['sdk'], 1)}/"
            f"{_median_us(took['plain'], 1)}",
        ),
        Figure(
            BENCH,
            "  full / plain (no SDK at all), time per request",
            f"{median_ratio(versus(FULL)):.3f}x",
        ),
    ]
    for part in PARTS:
        if part in took:
            figures.append(
                Figure(
                    BENCH,
                    f"  {part} alone / plain, time per request",
                    f"{median_ratio(versus(part)):.3f}x",
                )
            )
    return figures


def _rate(samples: list[tuple[float, float]]) -> float:
    return statistics.median(1 / wall for wall, _ in samples)


def _median_us(samples: list[tuple[float, float]], side: int) -> str:
    return f"{statistics.median(sample[side] for sample in samples) * 1e6:.0f}"


def _spread(pairs: list[tuple[float, float]]) -> str:
    ratios = [m / b for m, b in pairs]
    return f"{min(ratios):.2f}/{max(ratios):.2f}"


def run(quick: bool = False) -> list[Figure]:
    """Both servers, and in a full run one per part of the full route, as context."""
    from cloudtasks_kit.emulator._tokens import TokenSigner

    n, rounds = (500, 2) if quick else (3000, 5)
    variants = ["plain", "sdk", FULL] if quick else ["plain", FULL, *PARTS]
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as directory:
        key_file = Path(directory) / "signer.pem"
        key_pem = TokenSigner("http://unused").private_key_pem()
        key_file.write_bytes(key_pem)
        with contextlib.ExitStack() as stack:
            servers = {
                variant: stack.enter_context(
                    child_process("bench.kit_worker:serve_kit_worker", variant, str(key_file))
                )
                for variant in variants
            }
            return asyncio.run(_measure(servers, key_pem, n, rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    print_figures(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
