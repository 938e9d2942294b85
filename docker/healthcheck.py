"""Exit 0 when the Vigil server in this container answers /api/health (HTTP, else HTTPS)."""

import json
import os
import ssl
import sys
import urllib.request

PORT = int(os.environ.get("VIGIL_PORT", "8765"))


def healthy(scheme: str) -> bool:
    """Return whether the server answers its health check over this scheme."""
    context = None
    if scheme == "https":
        # The server's own certificate is for its clients' host name, not 127.0.0.1.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    url = f"{scheme}://127.0.0.1:{PORT}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:
            return bool(json.load(response).get("status") == "ok")
    except (OSError, ValueError):
        return False


sys.exit(0 if healthy("http") or healthy("https") else 1)
