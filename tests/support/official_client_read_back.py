"""Run by the official client's own python (tests/support/official_client.py): what a
user's notebook does to see a model version's results, printed as JSON.

    python official_client_read_back.py http://127.0.0.1:PORT MODEL VERSION
"""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

from model_registry import ModelRegistry


def main() -> None:
    url, model, version = sys.argv[1:4]
    parts = urlsplit(url)
    registry = ModelRegistry(
        f"{parts.scheme}://{parts.hostname}",
        parts.port,
        author="notebook",
        is_secure=parts.scheme == "https",
    )
    found = registry.get_model_version(model, version)
    if found is None or found.id is None:
        raise SystemExit(f"no version {version} of {model}")
    # The public class lists model artifacts only; its API client lists every type.
    artifacts = registry.async_runner(registry._api.get_model_version_artifacts(found.id))
    print(
        json.dumps(
            [
                {"class": type(artifact).__name__, **artifact.model_dump(mode="json")}
                for artifact in artifacts
            ]
        )
    )


if __name__ == "__main__":
    main()
