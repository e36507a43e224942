"""The kit's settings: one model, filled from keyword arguments, the environment, ``.env`` and YAML.

Priority, highest first: ``load_settings(**overrides)`` > ``CLOUDTASKS_*`` environment variables
> ``.env`` > ``config/<env>.yaml`` > ``config/base.yaml`` > the model's defaults. Nested keys use
``__`` in variable names (``CLOUDTASKS_QUEUES__KITCHEN__ID``), and nested mappings merge across
sources rather than replace each other. Nothing is read until the settings are built.

Inside: ``_model`` (the model, its sections, value checks, queue paths and the order of the
sources), ``_source_yaml`` (the two YAML files, read by pydantic-settings, and which file set
each key), ``_diagnostics`` (a failed validation turned into a message naming each key and where
it came from) and ``_load`` (:func:`load_settings`, which ties them together).
"""

from ._load import load_settings
from ._model import (
    KitSettings,
    OidcSettings,
    QueueSettings,
    RateLimitSettings,
    RetrySettings,
    WorkerAuthSettings,
    queue_path,
)

__all__ = [
    "KitSettings",
    "OidcSettings",
    "QueueSettings",
    "RateLimitSettings",
    "RetrySettings",
    "WorkerAuthSettings",
    "load_settings",
    "queue_path",
]
