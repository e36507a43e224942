"""The YAML settings source: ``<config dir>/base.yaml`` with ``<config dir>/<env>.yaml`` on top.

Kept apart from the settings model, like pydantic-settings keeps one source per module, so the
file handling (reading, merging, remembering which file said what) reads on its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from cloudtasks_kit._errors import ConfigurationError

__all__ = [
    "BASE_LAYER",
    "DEFAULT_CONFIG_DIR",
    "DEFAULT_ENV",
    "ENV_NAME_PATTERN",
    "LayeredYamlSettingsSource",
]

BASE_LAYER = "base"
DEFAULT_ENV = "dev"
DEFAULT_CONFIG_DIR = Path("config")
# The env name becomes a file name, so it must not be able to climb out of the config directory.
ENV_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# These two choose which files are read, so a file cannot meaningfully set them.
_SELECTORS = {"env": "CLOUDTASKS_ENV", "config_dir": "CLOUDTASKS_CONFIG_DIR"}

_KeyPath = tuple[str, ...]


class LayeredYamlSettingsSource(PydanticBaseSettingsSource):
    """Settings from ``base.yaml`` deep-merged with ``<env>.yaml`` (the env file wins).

    Mappings merge key by key; lists and scalars from the env file replace the base value.
    Missing files are skipped, as is a missing default directory, so a deployment may configure
    itself from the environment alone. Files are read when the source is called, never earlier.

    After a call, :meth:`origin` tells which file supplied any key, so that a validation error
    can name the file to fix.

    :param settings_cls: the settings model the data is for.
    :param env: which ``<env>.yaml`` to layer over the base (default ``dev``).
    :param config_dir: the directory holding the files; ``None`` means ``./config`` relative to
        the current directory, and then a missing directory is fine. A directory given explicitly
        must exist: a wrong path would otherwise silently drop every file setting.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        *,
        env: str | None = None,
        config_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(settings_cls)
        self.env = env
        self.config_dir = config_dir
        self._origins: dict[_KeyPath, Path] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Required by the base class, but unused: ``__call__`` hands over the whole merged
        # mapping, because nested keys (``queues.kitchen.retry``) must merge across files.
        raise NotImplementedError  # pragma: no cover

    def __call__(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        self._origins = {}
        for file in self.files():
            layer = _read_mapping(file)
            if layer is None:
                continue
            for key, variable in _SELECTORS.items():
                if key in layer:
                    raise ConfigurationError(
                        f"{file}: '{key}' chooses which config files are read, so it cannot be "
                        f"set inside one; set {variable} instead"
                    )
            _merge(merged, layer, file, self._origins, ())
        return merged

    def files(self) -> tuple[Path, ...]:
        """The files this source reads, lowest priority first (existing or not).

        :raises ConfigurationError: the env name is not a plain name, or an explicitly given
            config directory does not exist.
        """
        env = DEFAULT_ENV if self.env is None else self.env
        if not isinstance(env, str) or not ENV_NAME_PATTERN.fullmatch(env):
            raise ConfigurationError(
                f"CLOUDTASKS_ENV={env!r} is not a valid environment name: use letters, digits,"
                " '-' or '_' (it names the file config/<env>.yaml)"
            )
        if self.config_dir is None:
            directory = DEFAULT_CONFIG_DIR
        else:
            directory = Path(self.config_dir)
            if not directory.is_dir():
                raise ConfigurationError(
                    f"CLOUDTASKS_CONFIG_DIR={str(directory)!r} is not a directory"
                )
        return directory / f"{BASE_LAYER}.yaml", directory / f"{env}.yaml"

    def origin(self, loc: Sequence[str | int]) -> Path | None:
        """The file that set the key at ``loc``, if a file did; for a mapping, the last file
        that set a key inside it.

        :param loc: a key path such as ``("queues", "kitchen", "dispatch_deadline")``, as found
            in a pydantic error's ``loc``.
        """
        return self._origins.get(tuple(str(part) for part in loc))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(env={self.env!r}, config_dir={self.config_dir!r})"


def _read_mapping(file: Path) -> dict[str, Any] | None:
    """The top-level mapping of ``file``, ``{}`` if empty, ``None`` if the file does not exist."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(f"{file}: cannot be read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{file}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{file}: the top level must be a mapping of settings, not a {type(data).__name__}"
        )
    # Top-level keys become keyword arguments of the model, which must be strings.
    for key in data:
        if not isinstance(key, str):
            raise ConfigurationError(f"{file}: unknown key {key!r} (setting names are text)")
    return data


def _merge(
    into: dict[str, Any],
    layer: Mapping[Any, Any],
    file: Path,
    origins: dict[_KeyPath, Path],
    prefix: _KeyPath,
) -> None:
    """Deep-merge ``layer`` into ``into``, recording ``file`` as the origin of every key it sets."""
    for key, value in layer.items():
        path = (*prefix, str(key))
        origins[path] = file
        if isinstance(value, dict):
            current = into.get(key)
            if not isinstance(current, dict):
                current = into[key] = {}
            _merge(current, value, file, origins, path)
        else:
            into[key] = value
            # A scalar or list replaces a whole base mapping: the base's deeper keys are gone,
            # so they must not be blamed for anything any more.
            for stale in [known for known in origins if known[: len(path)] == path]:
                if stale != path:
                    del origins[stale]
