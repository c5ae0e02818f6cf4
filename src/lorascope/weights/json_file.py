"""Small JSON files beside weights (config.json, adapter_config.json), with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lorascope.errors import InputError


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; unreadable, malformed or non-object content is an InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err})") from err
    try:
        parsed = json.loads(text)
    except ValueError as err:
        raise InputError(f"{path}: malformed JSON ({err})") from err
    if not isinstance(parsed, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(parsed).__name__}")
    return parsed
