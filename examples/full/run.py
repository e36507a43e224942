"""The full example end to end on this machine: per-environment YAML (``config/``), OIDC
tokens signed by the emulator and verified against its JWKS, and one trace from ``.delay()``
to the worker, exported by the OpenTelemetry SDK.

``python -m examples.full.run`` (needs the ``[otel]`` extra for the SDK).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jwt
from google.cloud import tasks_v2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cloudtasks_kit import delayer
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
        )
        app = create_app()  # settings are read on first use, not here
        worker = BackgroundServer(app)  # binds a free port now, serves from start()
        os.environ["CLOUDTASKS_BASE_URL"] = worker.url
        with worker:
            container = app.state.container
            settings = container.settings()
            client = container.tasks_client()
            for key in settings.queues:
                client.update_queue(queue=tasks_v2.Queue(name=settings.queue_path(key)))
            say(f"environment {settings.env}: project {settings.project}, worker {worker.url}")

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
                say("the worker did not receive both tasks within 30 s")
                return 1
            container.shutdown_resources()

        keys = jwt.PyJWKClient(f"{emulator.http_url}/oauth2/v3/certs")
        for entry in received.requests:
            token = entry["token"].removeprefix("Bearer ")
            claims = jwt.decode(
                token,
                keys.get_signing_key_from_jwt(token).key,
                algorithms=["RS256"],
                audience="full-example-worker",
                issuer=emulator.http_url,
            )
            say(f"{entry['task']}: OIDC token verified, email={claims['email']}")
        [email] = [e for e in received.requests if e["task"] == "send_email"]
        [producer] = [s for s in exporter.get_finished_spans() if s.name == "create emails"]
        trace_id = format(producer.context.trace_id, "032x")
        same = email["traceparent"].split("-")[1] == trace_id
        say(f"producer span '{producer.name}' trace {trace_id}; worker got it: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
