"""What the producer's and the consumer's spans share: the tracer, the messaging system name,
and whether an OpenTelemetry SDK is configured at all (only ``opentelemetry-api`` is needed).
"""

from __future__ import annotations

from opentelemetry import trace

__all__: list[str] = []

# Semantic conventions have no registered value for Cloud Tasks; a custom one is allowed.
MESSAGING_SYSTEM = "gcp_cloud_tasks"
TRACER_NAME = "cloudtasks_kit"


def tracing_configured() -> bool:
    """An SDK is set up: with only the API, the tracer provider is a proxy and spans cost
    nothing, so the kit skips building them."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
