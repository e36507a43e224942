"""The YAML settings source: ``<config dir>/base.yaml`` with ``<config dir>/<env>.yaml`` on top.

pydantic-settings' :class:`~pydantic_settings.YamlConfigSettingsSource` reads the files and
deep-merges them. This module adds only what it lacks: choosing the two files (and refusing an
env name or a config directory that would silently read nothing), errors that name the file,
and remembering which file set each key, so that a validation error can name the file to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings, YamlConfigSettingsSource

from cloudtasks_kit._errors import ConfigurationError

__all__: list[str] = []

BASE_LAYER = "base"
DEFAULT_ENV = "dev"
DEFAULT_CONFIG_DIR = Path("config")
# The env name becomes a file name, so it must not be able to climb out of the config directory.
ENV_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# These two choose which files are read, so a file cannot meaningfully set them.
_SELECTORS = {"env": "CLOUDTASKS_ENV", "config_dir": "CLOUDTASKS_CONFIG_DIR"}

_KeyPath = tuple[str, ...]


class LayeredYamlSettingsSource(YamlConfigSettingsSource):
    """Settings from ``base.yaml`` deep-merged with ``<env>.yaml`` (the env file wins).

    Mappings merge key by key; lists and scalars from the env file replace the base value.
    Missing files are skipped, as is a missing default directory, so a deployment may configure
    itself from the environment alone. The files are read when the source is built, which
    pydantic-settings does when the settings are built, never earlier.

    :meth:`origin` tells which file supplied any key, so that a validation error can name the
    file to fix.

    :param settings_cls: the settings model the data is for.
    :param env: which ``<env>.yaml`` to layer over the base (default ``dev``).
    :param config_dir: the directory holding the files; ``None`` means ``./config`` relative to
        the current directory, and then a missing directory is fine. A directory given explicitly
        must exist: a wrong path would otherwise silently drop every file setting.
    :param env_from: where the variable that chose ``env`` was set (``"the environment"`` or
        ``".env"``), if one did. An
        environment a variable names must have its file when the directory holds YAML files:
        ``CLOUDTASKS_ENV=staging`` without ``config/staging.yaml`` would otherwise run with
        another environment's settings, or Google's defaults. An ``env`` argument may name an
        environment without a file (the pytest plugin's ``test``).
    :raises ConfigurationError: see :meth:`files`; or a file cannot be read, is not valid YAML,
        is not a mapping of settings, or sets ``env`` / ``config_dir``.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        *,
        env: str | None = None,
        config_dir: str | os.PathLike[str] | None = None,
        env_from: str | None = None,
    ) -> None:
        # Set before the base class reads the files: it calls _read_file once per file.
        self.env = env
        self.config_dir = config_dir
        self.env_from = env_from
        self._origins: dict[_KeyPath, Path | Traversable] = {}
        super().__init__(settings_cls, yaml_file=list(self.files()), deep_merge=True)

    def __call__(self) -> dict[str, Any]:
        # The base class hands over its init_kwargs, whose top-level keys it has matched to the
        # fields regardless of case. A file's keys are meant exactly as written, at the top as
        # below it, so that "Project:" fails as an unknown key instead of setting project.
        return self.yaml_data

    def files(self) -> tuple[Path, ...]:
        """The files this source reads, lowest priority first (existing or not).

        :raises ConfigurationError: the env name is not a plain name, an explicitly given
            config directory does not exist, or something other than a file stands at a
            file's path.
        """
        env = DEFAULT_ENV if self.env is None else self.env
        if not isinstance(env, str) or not ENV_NAME_PATTERN.fullmatch(env):
            raise ConfigurationError(
                f"{_SELECTORS['env']}={env!r} is not a valid environment name: use letters,"
                " digits, '-' or '_' (it names the file config/<env>.yaml)"
            )
        if self.config_dir is None:
            directory = DEFAULT_CONFIG_DIR
        else:
            directory = Path(self.config_dir)
            if not directory.is_dir():
                raise ConfigurationError(
                    f"{_SELECTORS['config_dir']}={str(directory)!r} is not a directory"
                )
        files = directory / f"{BASE_LAYER}.yaml", directory / f"{env}.yaml"
        self._check_env_file(env, files[1])
        for file in files:
            # pydantic-settings passes over a directory as it does over a missing file; here
            # that would drop the settings of a whole environment without a word.
            if file.exists() and not file.is_file():
                raise ConfigurationError(f"{file}: cannot be read: not a file")
        return files

    def _check_env_file(self, env: str, file: Path) -> None:
        if self.env_from is None or file.exists() or not file.parent.is_dir():
            return
        found = sorted(path.name for path in file.parent.glob("*.yaml") if path.is_file())
        if not found:
            return  # no YAML at all: configured from the environment alone
        envs = [name.removesuffix(".yaml") for name in found if name != f"{BASE_LAYER}.yaml"]
        fix = (
            f"set {_SELECTORS['env']} to one of {', '.join(envs)} or create {file}"
            if envs
            else f"create {file} (empty will do) or unset {_SELECTORS['env']}"
        )
        raise ConfigurationError(
            f"{_SELECTORS['env']}={env!r} (from {self.env_from}) names no config file: there is"
            f" no {file} ({file.parent} holds {', '.join(found)}); {fix}"
        )

    def origin(self, loc: Sequence[str | int]) -> Path | Traversable | None:
        """The file that set the key at ``loc``, if a file did; for a mapping, the last file
        that set a key inside it.

        :param loc: a key path such as ``("queues", "kitchen", "dispatch_deadline")``, as found
            in a pydantic error's ``loc``.
        """
        return self._origins.get(tuple(str(part) for part in loc))

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        # The base class calls this once per existing file, lowest priority first, and merges
        # what it returns in that order: the place to check a file and note what it set.
        try:
            data: object = super()._read_file(file_path)
        except OSError as exc:
            raise ConfigurationError(f"{file_path}: cannot be read: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{file_path}: not valid YAML{_where(exc)}") from exc
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"{file_path}: the top level must be a mapping of settings,"
                f" not a {type(data).__name__}"
            )
        for key in data:
            # Top-level keys become keyword arguments of the model, which must be strings.
            if not isinstance(key, str):
                raise ConfigurationError(
                    f"{file_path}: unknown key {key!r} (setting names are text)"
                )
            if key in _SELECTORS:
                raise ConfigurationError(
                    f"{file_path}: '{key}' chooses which config files are read, so it cannot"
                    f" be set inside one; set {_SELECTORS[key]} instead"
                )
        self._note_origins(data, file_path, ())
        return data

    def _note_origins(
        self, layer: Mapping[Any, Any], file: Path | Traversable, prefix: _KeyPath
    ) -> None:
        """Record ``file`` as the origin of every key ``layer`` sets, as the merge applies it."""
        for key, value in layer.items():
            path = (*prefix, str(key))
            self._origins[path] = file
            if isinstance(value, dict):
                self._note_origins(value, file, path)
                continue
            # A scalar or list replaces a whole base mapping: the base's deeper keys are gone,
            # so they must not be blamed for anything any more.
            for stale in [known for known in self._origins if known[: len(path)] == path]:
                if stale != path:
                    del self._origins[stale]


def _where(exc: yaml.YAMLError) -> str:
    """`` at line L, column C: problem``, counted from 1 as editors do; what the parser was in
    the middle of, with where that began, when it says."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f": {exc}"
    mark = exc.problem_mark
    text = f" at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context and exc.context_mark is not None:
        start = exc.context_mark
        text += f" ({exc.context} that began at line {start.line + 1}, column {start.column + 1})"
    return text
