"""An HTTPS admission webhook served from the test process on 127.0.0.1, and its
registration as a `url` MutatingWebhookConfiguration, to show what the apiserver really
does with a webhook (calls it, stores its patch, honours its selectors).
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import trustme
from kubernetes.client.exceptions import ApiException

from support.cluster import Cluster
from support.cluster_objects import PIPELINE_RUNS, pipeline_run

AdmissionRequest = Mapping[str, Any]
# Given an AdmissionReview's `request`, the JSON Patch operations to answer with.
PatchPlan = Callable[[AdmissionRequest], list[dict[str, Any]]]


def append_param(name: str, value: Any) -> PatchPlan:
    """A plan that appends the param {name, value} to a PipelineRun's spec.params."""

    def plan(request: AdmissionRequest) -> list[dict[str, Any]]:
        spec = request["object"].get("spec", {})
        if "params" in spec:
            return [
                {"op": "add", "path": "/spec/params/-", "value": {"name": name, "value": value}}
            ]
        return [{"op": "add", "path": "/spec/params", "value": [{"name": name, "value": value}]}]

    return plan


class AdmissionWebhookServer:
    """An HTTPS server on 127.0.0.1 (a trustme certificate) that allows every admission
    request, answers with the JSON Patch its plan builds, and records each request.

    Use as a context manager; `url` and `ca_bundle` go into the webhook configuration.
    """

    def __init__(self, plan: PatchPlan) -> None:
        self.plan = plan
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ca = trustme.CA()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the webhook server is not running"
        return f"https://127.0.0.1:{self._server.server_address[1]}/mutate"

    @property
    def ca_bundle(self) -> str:
        """The server's CA, base64-encoded PEM, as `clientConfig.caBundle` wants it."""
        return base64.b64encode(self._ca.cert_pem.bytes()).decode("ascii")

    def names_seen(self) -> list[str]:
        """`metadata.name` of every object the apiserver sent, in order."""
        with self._lock:
            return [r["object"]["metadata"].get("name", "") for r in self.requests]

    def _record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> AdmissionWebhookServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                review = json.loads(self.rfile.read(length))
                request = review["request"]
                owner._record(request)
                response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
                operations = owner.plan(request)
                if operations:
                    response["patchType"] = "JSONPatch"
                    response["patch"] = base64.b64encode(json.dumps(operations).encode()).decode()
                body = json.dumps(
                    {
                        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
                        "kind": "AdmissionReview",
                        "response": response,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                # The apiserver calls often; the recorded requests are the useful trace.
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ca.issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def pipeline_run_webhook_configuration(
    name: str,
    *,
    url: str,
    ca_bundle: str,
    namespace: str,
    match_labels: Mapping[str, str],
) -> dict[str, Any]:
    """A MutatingWebhookConfiguration calling `url` on PipelineRun CREATE, scoped to one
    namespace and to runs carrying `match_labels`."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "pipelineruns.registry-sync.io",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 5,
                "clientConfig": {"url": url, "caBundle": ca_bundle},
                "rules": [
                    {
                        "apiGroups": ["tekton.dev"],
                        "apiVersions": ["*"],
                        "resources": ["pipelineruns"],
                        "operations": ["CREATE"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "objectSelector": {"matchLabels": dict(match_labels)},
            }
        ],
    }


@contextlib.contextmanager
def registered_webhook(
    cluster: Cluster,
    server: AdmissionWebhookServer,
    *,
    namespace: str,
    match_labels: Mapping[str, str],
    marker: tuple[str, Any],
) -> Iterator[str]:
    """Register `server` for PipelineRun CREATE in `namespace`, wait until the apiserver
    calls it (a dry-run create comes back carrying the `marker` param), and remove the
    configuration afterwards. Yields the configuration's name."""
    name = f"registry-sync-test-{namespace}"
    cluster.apply(
        pipeline_run_webhook_configuration(
            name,
            url=server.url,
            ca_bundle=server.ca_bundle,
            namespace=namespace,
            match_labels=match_labels,
        )
    )
    try:
        marker_name, marker_value = marker

        def patched_on_dry_run() -> bool:
            probe = pipeline_run("webhook-probe", labels=match_labels)
            answer = PIPELINE_RUNS.create(cluster.api_client, namespace, probe, dry_run=True)
            params = answer.get("spec", {}).get("params", [])
            return {"name": marker_name, "value": marker_value} in params

        cluster.wait_for(patched_on_dry_run, description=f"webhook {name} in effect")
        yield name
    finally:
        with contextlib.suppress(ApiException):
            cluster.admission.delete_mutating_webhook_configuration(name)
