"""The full example end to end on this machine: per-environment YAML (``config/``), queues
created by ``queues sync``, OIDC tokens signed by the emulator and checked by the worker
against its JWKS, a task asking to be retried later, and one trace from ``.delay()`` to the
worker's CONSUMER span, exported by the OpenTelemetry SDK.

``python -m examples.full.run`` (needs the ``[otel]`` extra for the SDK).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cloudtasks_kit import delayer, ensure_queues
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess

from .app import create_app
from .tasks import Email, build_report, received, send_email

CONFIG = Path(__file__).parent / "config"


def say(text: str) -> None:
    print(f"[full] {text}", flush=True)


def main() -> int:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    with EmulatorProcess() as emulator:
        os.environ.update(
            CLOUDTASKS_CONFIG_DIR=str(CONFIG),
            CLOUDTASKS_ENV="dev",
            CLOUDTASKS_EMULATOR_HOST=emulator.grpc_target,
            CLOUDTASKS_AUTH__ISSUER=emulator.http_url,
        )
        app = create_app()  # settings are read on first use, not here
        worker = BackgroundServer(app)  # binds a free port now, serves from start()
        os.environ["CLOUDTASKS_BASE_URL"] = worker.url
        with worker:
            container = app.state.container
            # This script enqueues outside the app's requests: the app's container is the one
            # to use here too.
            container.wire()
            settings = container.settings()
            say(f"environment {settings.env}: project {settings.project}, worker {worker.url}")
            plan = ensure_queues(settings, container.tasks_client())
            say(f"queues sync: {plan.summary()}")

            anonymous = httpx.post(
                f"{worker.url}/v1/tasks/emails/send",
                json={"to": ["x@example.com"], "subject": "s", "body": "b"},
                trust_env=False,
            )
            say(f"a call without a token -> {anonymous.status_code} {anonymous.json()['detail']}")

            sent = delayer(send_email).delay(
                email=Email(to=["ada@example.com"], subject="Hi", body="Tasks are typed.")
            )
            report = (
                delayer(build_report)
                .options(task_id="sales-2026-11-27")
                .delay(report="sales", day="2026-11-27")
            )
            say(f"enqueued {sent.task_id} on {sent.queue.rsplit('/', 1)[1]}")
            say(f"enqueued {report.task_id} on {report.queue.rsplit('/', 1)[1]}")
            if not received.wait_for(2, timeout=30):
                say("the worker did not run both tasks within 30 s")
                return 1
            container.shutdown_resources()

        for entry in received.requests:
            details = ", ".join(f"{k}={v}" for k, v in entry.items() if k != "task")
            say(f"{entry['task']} ran: {details}")
        spans = exporter.get_finished_spans()
        [producer] = [s for s in spans if s.name == "create emails"]
        consumers = [s for s in spans if s.name == "process emails"]
        linked = any(
            link.context.trace_id == producer.context.trace_id
            for span in consumers
            for link in span.links
        )
        same_trace = any(s.context.trace_id == producer.context.trace_id for s in consumers)
        say(
            f"producer span '{producer.name}' -> consumer span 'process emails': "
            f"linked={linked}, same trace={same_trace}"
        )
    # The link is the kit's doing; one trace as well needs FastAPI's own server span (0.142+).
    return 0 if linked else 1


if __name__ == "__main__":
    sys.exit(main())
