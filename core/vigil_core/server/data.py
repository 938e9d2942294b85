"""The server's data folder: everything that must survive a restart.

```
<data>/token              the clients' token (generated on first start, mode 0600)
<data>/server_id          this server's stable id (announced by zeroconf and in Hello)
<data>/config.json        the last configuration applied (mode 0600: it holds credentials)
<data>/state/             line totals, plate stores and their keys, learned plate formats
<data>/access_log.jsonl   the tamper-evident access log (and its key and anchor)
<data>/onvif_topics.json  the topics each ONVIF camera announced
<data>/documents/         the impact assessment, record and signs last generated
<data>/models/            downloaded models (the cache), unless --models-dir says otherwise
```
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import logging
from pathlib import Path
import secrets
import uuid

from vigil_core.errors import VigilError
from vigil_core.store.files import write_atomically

_LOGGER = logging.getLogger(__name__)

TOKEN_BYTES = 32
"""256 bits of randomness, URL-safe base64 encoded."""


class DataFolderError(VigilError):
    """The data folder cannot be used (not writable, a file in its place)."""

    translation_key = "data_folder"


@dataclass(frozen=True, slots=True)
class DataFolder:
    """Paths of the server's persistent state under one folder."""

    root: Path

    @property
    def state_dir(self) -> Path:
        """Return the engine's state folder (line totals, plate stores)."""
        return self.root / "state"

    @property
    def config_file(self) -> Path:
        """Return the file holding the last applied configuration."""
        return self.root / "config.json"

    @property
    def access_log(self) -> Path:
        """Return the access log's path."""
        return self.root / "access_log.jsonl"

    @property
    def topics_file(self) -> Path:
        """Return the ONVIF topics file."""
        return self.root / "onvif_topics.json"

    @property
    def documents_dir(self) -> Path:
        """Return where generated documents go."""
        return self.root / "documents"

    @property
    def models_dir(self) -> Path:
        """Return the model cache of this server."""
        return self.root / "models"

    def prepare(self) -> None:
        """Create the folder and its subfolders; refuse one that cannot be written."""
        if self.root.exists() and not self.root.is_dir():
            raise DataFolderError(f"data folder {self.root} is a file, not a folder")
        try:
            for folder in (self.root, self.state_dir, self.documents_dir, self.models_dir):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            probe = self.root / ".write-check"
            probe.write_text("ok", encoding="utf-8")
            probe.unlink()
        except OSError as err:
            raise DataFolderError(
                f"data folder {self.root} cannot be written: {err.strerror or err}"
            ) from None

    def token(self) -> str:
        """Return the clients' token, generating it on first start."""
        return self._secret("token", lambda: secrets.token_urlsafe(TOKEN_BYTES))

    def rotate_token(self) -> str:
        """Replace the token with a new one (old clients must re-authenticate)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        _write_private(self.root / "token", token)
        return token

    def server_id(self) -> str:
        """Return this server's stable id, generating it on first start."""
        return self._secret("server_id", lambda: uuid.uuid4().hex)

    def _secret(self, name: str, make: object) -> str:
        path = self.root / name
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            value = ""
        if value:
            return value
        assert callable(make)
        value = str(make())
        # A crash between creating and writing the file leaves nothing behind: write, then rename.
        _write_private(path, value)
        _LOGGER.info("Generated a new %s in %s", name.replace("_", " "), self.root)
        return value

    def load_config(self) -> dict[str, object] | None:
        """Return the last applied configuration, or None."""
        try:
            data = json.loads(self.config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            _LOGGER.warning("The saved configuration is unreadable (%s); waiting for one", err)
            return None
        return data if isinstance(data, dict) else None

    def save_config(self, config: dict[str, object]) -> None:
        """Keep the configuration (atomically, readable by the server's user only)."""
        _write_private(self.config_file, json.dumps(config, sort_keys=True, indent=1))


def _write_private(path: Path, text: str) -> None:
    """Write `text` atomically, readable by the server's user only."""
    write_atomically(path, text.encode("utf-8"))
