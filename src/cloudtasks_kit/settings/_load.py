"""Building the settings: :func:`load_settings`, the one way in that explains its failures."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from cloudtasks_kit._errors import ConfigurationError

from ._diagnostics import describe_settings_error, describe_validation_error
from ._model import KitSettings

__all__ = ["load_settings"]


def load_settings(**overrides: Any) -> KitSettings:
    """Build the settings from every source, or fail with one error that says what to fix.

    :param overrides: field values that beat every other source, e.g. ``env="test"`` or
        ``config_dir=tmp_path`` in tests.
    :raises ConfigurationError: listing each bad key as a dotted path with the file or
        environment variable it came from.
    """
    try:
        return KitSettings(**overrides)
    except ValidationError as exc:
        # ``from None``: pydantic's own message repeats the input values, which may be secrets.
        raise ConfigurationError(describe_validation_error(exc, overrides)) from None
    except SettingsError as exc:
        raise ConfigurationError(describe_settings_error(exc)) from None
