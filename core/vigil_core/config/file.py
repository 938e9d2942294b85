"""Read a configuration file: YAML, relative paths resolved against the file's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vigil_core.config.engine import EngineConfig
from vigil_core.errors import ConfigInvalid


def load_config(path: Path) -> EngineConfig:
    """Read and validate a YAML config; paths inside are relative to the file."""
    raw = load_raw_config(path)
    try:
        return EngineConfig.parse(raw)
    except RecursionError:
        raise ConfigInvalid(f"config file {path} is nested too deep") from None


def load_raw_config(path: Path) -> dict[str, Any]:
    """Read a YAML config as data, relative paths resolved against the file's folder."""
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigInvalid(f"config file {path} must hold a mapping at the top level")
    return _relative_paths(raw, path.parent)


def _read_yaml(path: Path) -> Any:
    """Return the parsed YAML of a config file; raise ConfigInvalid with one line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigInvalid(f"config file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigInvalid(f"config file {path} is a folder, not a file") from None
    except UnicodeDecodeError as err:
        raise ConfigInvalid(
            f"config file {path} is not UTF-8 text (byte {err.start} cannot be read)"
        ) from None
    except OSError as err:
        raise ConfigInvalid(f"config file {path} cannot be read: {err.strerror or err}") from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        # PyYAML composes nodes recursively: thousands of nested brackets exhaust the stack.
        raise ConfigInvalid(f"config file {path} is nested too deep") from None
    except yaml.YAMLError as err:
        raise ConfigInvalid(f"config file {path}{_yaml_problem(err)}") from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """Return where and why a YAML text does not parse, in the parser's words, on one line.

    An unclosed bracket is found where the text ends: the line the construct began on says
    where to look.
    """
    mark = getattr(err, "problem_mark", None)
    where = f" line {mark.line + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None)
    why = f": {problem}" if problem else ""
    context, start = getattr(err, "context", None), getattr(err, "context_mark", None)
    if context and start is not None and (mark is None or start.line != mark.line):
        why += f" ({context} that begins on line {start.line + 1})"
    if problem and "\\t" in problem:
        why += "; YAML indents with spaces, not tabs"
    return f"{where} is not valid YAML{why}"


def _relative_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Resolve relative file sources and models_dir against the config file's folder.

    Anything of the wrong shape is left as it is, for validation to name.
    """
    out = dict(raw)
    if isinstance(out.get("models_dir"), str) and not Path(out["models_dir"]).is_absolute():
        out["models_dir"] = str(base / out["models_dir"])
    if isinstance(out.get("cameras"), list):
        out["cameras"] = [_relative_source(camera, base) for camera in out["cameras"]]
    return out


def _relative_source(camera: Any, base: Path) -> Any:
    """Return a camera with its file source resolved against `base`."""
    if not isinstance(camera, dict):
        return camera
    source = camera.get("source")
    url = source.get("url") if isinstance(source, dict) else source
    # An empty url stays empty (validation refuses it), not the config's own folder.
    if not isinstance(url, str) or not url.strip() or "://" in url or Path(url).is_absolute():
        return camera
    resolved = str(base / url)
    return {
        **camera,
        "source": {**source, "url": resolved} if isinstance(source, dict) else resolved,
    }
