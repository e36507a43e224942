"""Why the settings failed: pydantic's errors turned into a message that says what to fix.

pydantic-settings merges every source before validating, so an error knows only its key. Each
line of the message names the key as a dotted path, the file or variable that set it (found by
asking the sources again) and, for an unknown key, the nearest known one. Values are never
repeated: they may be secrets.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Any, TypeGuard, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import (
    DotEnvSettingsSource,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsError,
)

from ._model import ENV_PREFIX, NESTED_DELIMITER, KitSettings, env_var_key
from ._source_yaml import LayeredYamlSettingsSource

__all__: list[str] = []


def describe_validation_error(exc: ValidationError, overrides: dict[str, Any]) -> str:
    """One line per error: the key, where it came from, and what is wrong with it.

    :param overrides: the keyword arguments the settings were built with.
    """
    # This reads the environment and files a second time, but only once start-up has failed.
    sources = KitSettings.settings_customise_sources(
        KitSettings,
        init_settings=InitSettingsSource(KitSettings, init_kwargs=overrides),
        env_settings=EnvSettingsSource(KitSettings),
        dotenv_settings=DotEnvSettingsSource(KitSettings),
        file_secret_settings=SecretsSettingsSource(KitSettings),
    )
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        where = _origin(loc, sources)
        key = ".".join(str(part) for part in loc) or "settings"
        lines.append(f"  {key}{f' (from {where})' if where else ''}: {_message(error)}")
    count = f"{len(lines)} error{'s' if len(lines) != 1 else ''}"
    return f"invalid settings ({count}):\n" + "\n".join(lines)


def describe_settings_error(exc: SettingsError) -> str:
    """The variable that holds a mapping or list which is not JSON, named in full."""
    # A mapping or list set by one variable (CLOUDTASKS_QUEUES='{...}') must be JSON; when it
    # is not, pydantic-settings stops before validation and names only the top-level field and
    # the source. Finding the variable itself means asking that source for its variables.
    found = re.search(r'field "(\w+)" from source "(\w+)"', str(exc))
    if found is None:
        return f"invalid settings: {exc}"
    field, source_name = found.groups()
    source = (
        DotEnvSettingsSource(KitSettings)
        if source_name == DotEnvSettingsSource.__name__
        else EnvSettingsSource(KitSettings)
    )
    variable = _undecodable_variable(source.env_vars, field) or (ENV_PREFIX + field).upper()
    return (
        f"invalid settings (1 error):\n  {field} (from {_variable_origin(source, variable)}):"
        " not valid JSON, which a mapping or list set by one variable must be"
    )


def _undecodable_variable(env_vars: Mapping[str, str | None], field: str) -> str | None:
    """The variable under ``field`` that needs JSON (its target is a list, dict or model) but
    does not hold valid JSON."""
    prefix = env_var_key([field])
    for name in sorted(env_vars):
        if name != prefix and not name.startswith(prefix + NESTED_DELIMITER):
            continue
        target = _target_at(name.removeprefix(ENV_PREFIX.lower()).split(NESTED_DELIMITER))
        needs_json = get_origin(target) in (list, dict) or _is_model(target)
        try:
            json.loads(env_vars[name] or "null")
        except ValueError:
            if needs_json:
                return name.upper()
    return None


def _origin(loc: Sequence[str | int], sources: Sequence[PydanticBaseSettingsSource]) -> str | None:
    """Which source set ``loc``: the longest matching key path wins, then source priority."""
    for end in range(len(loc), 0, -1):
        path = loc[:end]
        for source in sources:
            # The YAML source first: pydantic-settings builds it on InitSettingsSource.
            if isinstance(source, LayeredYamlSettingsSource):
                file = source.origin(path)
                if file is not None:
                    return str(file)
            elif isinstance(source, InitSettingsSource):
                if _has_path(source.init_kwargs, path):
                    return f"load_settings() argument {path[0]!r}"
            elif isinstance(source, EnvSettingsSource):
                variable = _env_var_for(source.env_vars, path)
                if variable is not None:
                    return _variable_origin(source, variable)
    return None


def _has_path(data: Mapping[str, Any], path: Sequence[str | int]) -> bool:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _env_var_for(env_vars: Mapping[str, str | None], path: Sequence[str | int]) -> str | None:
    """The variable that set ``path``, or (for a missing nested key) one that set a key below it."""
    name = env_var_key(path)
    if name in env_vars:
        return name.upper()
    below = sorted(var for var in env_vars if var.startswith(name + NESTED_DELIMITER))
    return below[0].upper() if below else None


def _variable_origin(source: EnvSettingsSource, variable: str) -> str:
    """Where ``variable`` was set: the environment, or the ``.env`` file ``source`` read."""
    if not isinstance(source, DotEnvSettingsSource):
        return f"environment variable {variable}"
    env_file = source.env_file
    return f"{variable} in {env_file if isinstance(env_file, str | Path) else '.env'}"


def _message(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        known = _known_keys(error["loc"][:-1])
        guess = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        return "unknown key" + (f"; did you mean {guess[0]!r}?" if guess else "")
    return error["msg"].removeprefix("Value error, ")


def _known_keys(loc: Sequence[str | int]) -> list[str]:
    """The field names of the model at ``loc`` (empty when ``loc`` is not a model)."""
    target = _target_at(loc)
    return list(target.model_fields) if _is_model(target) else []


def _target_at(loc: Sequence[str | int]) -> Any:
    """The type the settings model expects at ``loc`` (``None`` if it has no such key)."""
    target: Any = KitSettings
    for part in loc:
        target = _without_none(target)
        if _is_model(target):
            field = target.model_fields.get(str(part))
            if field is None:
                return None
            target = field.annotation
        elif get_origin(target) is dict:
            target = get_args(target)[-1]  # ``part`` is a key chosen by the user
        else:
            return None
    return _without_none(target)


def _without_none(annotation: Any) -> Any:
    """``X`` for ``X | None``; anything else unchanged."""
    if get_origin(annotation) in (Union, UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
