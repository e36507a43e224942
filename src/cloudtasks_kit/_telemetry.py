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


# (provider, its tracer): the SDK's get_tracer() builds a new tracer on each call, which cost as
# much as the span itself; one per provider (tests swap providers) gives the same spans.
_tracer: tuple[object, trace.Tracer] | None = None


def kit_tracer() -> trace.Tracer | None:
    """The kit's tracer, or ``None`` with no SDK configured (see :func:`tracing_configured`)."""
    global _tracer
    provider = trace.get_tracer_provider()
    cached = _tracer
    if cached is not None and cached[0] is provider:
        return cached[1]
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    tracer = provider.get_tracer(TRACER_NAME)
    _tracer = (provider, tracer)
    return tracer
