"""A stand-in for vLLM's `GET /v1/models`, on loopback, for the served-name probe's tests.

It answers in vLLM's own schema: `ModelList` {"object": "list", "data": [ModelCard]}, one
`ModelCard` per served name {"id", "object": "model", "created", "owned_by": "vllm",
"root", "parent", "max_model_len", "permission": [ModelPermission]} — declared in
vllm/entrypoints/openai/engine/protocol.py and filled by `show_available_models` in
vllm/entrypoints/openai/models/serving.py (id: the `--served-model-name`, root: the model
path). With `api_key`, it behaves as vLLM started with `--api-key` (`AuthenticationMiddleware`
in vllm/entrypoints/openai/api_server.py): every `/v1` request without
`Authorization: Bearer <key>` gets 401 `{"error": "Unauthorized"}`.

    async with VllmModelsServer(["mistral-24b-quantized"]) as vllm:
        ... vllm.models_url ...

`tls=(cert_file, key_file)` serves HTTPS. Requests are recorded (`requests`) so a test can
see what a client sent.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

MODEL_PATH = "/mnt/models"  # where KServe's storage initializer or a ModelCar puts the model


@dataclass(frozen=True)
class SeenRequest:
    path: str
    authorization: str | None


def model_card(
    served_name: str, root: str = MODEL_PATH, max_model_len: int = 32768
) -> dict[str, Any]:
    """One `ModelCard` as vLLM serialises it for a base model."""
    created = int(time.time())
    return {
        "id": served_name,
        "object": "model",
        "created": created,
        "owned_by": "vllm",
        "root": root,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [
            {
                "id": f"modelperm-{uuid.uuid4().hex}",
                "object": "model_permission",
                "created": created,
                "allow_create_engine": False,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
    }


class VllmModelsServer:
    """`GET /v1/models` listing `served_names`, on 127.0.0.1 (a free port).

    `served_names` may be changed while it runs (a restarted predictor serving another name).
    """

    def __init__(
        self,
        served_names: Sequence[str],
        *,
        api_key: str | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.served_names = list(served_names)
        self.api_key = api_key
        self.requests: list[SeenRequest] = []
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def models_url(self) -> str:
        return self.url + "/v1/models"

    async def __aenter__(self) -> Self:
        application = web.Application()
        application.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(application, handle_signals=False, access_log=None)
        await self._runner.setup()
        context: ssl.SSLContext | None = None
        if self._tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self._tls)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if context else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        self.requests.append(SeenRequest(request.path, authorization))
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        body = {"object": "list", "data": [model_card(name) for name in self.served_names]}
        return web.json_response(body)
