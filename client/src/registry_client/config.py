"""Where the command line finds its registry: flags, then the environment, then a profile file.

The profile file is TOML, ``$REGISTRY_CONFIG`` or ``~/.config/registry/config.toml``, one table per profile::

    [default]
    url = "http://127.0.0.1:8000"
    api_key = "..."

    [staging]
    url = "https://registry.staging.example"
    api_key_env = "STAGING_REGISTRY_KEY"   # read the key from this variable instead of the file

``--profile`` (or ``REGISTRY_PROFILE``) picks a table; ``REGISTRY_URL`` and ``REGISTRY_API_KEY`` override what the
table says, and the ``--url`` / ``--api-key`` flags override both.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    url: str
    api_key: str | None
    profile: str | None
    source: str  # where the URL came from, for `registry config`


def config_path() -> Path:
    explicit = os.environ.get("REGISTRY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "registry" / "config.toml"


def read_profile(name: str | None) -> tuple[dict, str | None]:
    path = config_path()
    if not path.exists():
        if name and name != "default":
            raise ConfigError(f"Profile {name!r} asked for, but there is no profile file at {path}.")
        return {}, None
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the profile file {path}: {exc}") from exc
    chosen = name or "default"
    table = data.get(chosen)
    if table is None:
        if name:
            raise ConfigError(f"No profile [{name}] in {path} (it has: {', '.join(sorted(data)) or 'none'}).")
        return {}, None
    if not isinstance(table, dict):
        raise ConfigError(f"[{chosen}] in {path} is not a table.")
    return table, chosen


def resolve(url: str | None = None, api_key: str | None = None, profile: str | None = None) -> Settings:
    profile = profile or os.environ.get("REGISTRY_PROFILE") or None
    table, chosen = read_profile(profile)
    key_from_table = table.get("api_key")
    if table.get("api_key_env"):
        key_from_table = os.environ.get(str(table["api_key_env"])) or key_from_table
    if url:
        source = "--url"
    elif os.environ.get("REGISTRY_URL"):
        url, source = os.environ["REGISTRY_URL"], "REGISTRY_URL"
    elif table.get("url"):
        url, source = str(table["url"]), f"profile [{chosen}] of {config_path()}"
    else:
        url, source = DEFAULT_URL, "default"
    api_key = api_key or os.environ.get("REGISTRY_API_KEY") or key_from_table
    return Settings(url=url.rstrip("/"), api_key=api_key or None, profile=chosen, source=source)
