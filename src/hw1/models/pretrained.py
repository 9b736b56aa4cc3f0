"""Loading a pretrained transformers checkpoint by hub id or local folder, with one clear error.

Used by the gpu profiles (models/beit.py, models/segmentation.py). Offline, or without the
checkpoint in the local Hugging Face cache, from_pretrained raises OSError/ValueError deep inside
huggingface_hub; we turn that into a ConfigError that names the option, the checkpoint and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from hw1.errors import ConfigError


def looks_local(name: str) -> bool:
    """'./x', '/x', '~/x' or 'a/b/c' are folders; 'org/model' is a hub id."""
    return name.startswith((".", "/", "~")) or os.sep in name.replace("/", "", 1)


def from_pretrained(model_class, name: str, option: str, fallback: str, **kwargs):
    """model_class.from_pretrained(name, **kwargs), or a ConfigError naming `option` and `name`.

    `fallback` completes the message with what else the user can do (e.g. train from scratch).
    """
    path = Path(name).expanduser()
    if looks_local(name) and not path.is_dir():
        raise ConfigError(f"{option}={name}: no such local folder")
    try:
        return model_class.from_pretrained(str(path) if path.is_dir() else name, **kwargs)
    except (OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"{option}={name}: cannot load this pretrained {model_class.__name__}: not a local folder, and "
            f"not in the Hugging Face cache ({os.environ.get('HF_HOME', '~/.cache/huggingface')}) nor reachable "
            f"online. Download it once with network access (hf download {name}), or pass {option}=FOLDER "
            f"(saved with save_pretrained){fallback}. ({first})"
        ) from None
