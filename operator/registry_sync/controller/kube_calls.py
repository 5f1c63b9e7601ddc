"""Kubernetes writes the operator makes, through the official (synchronous) client.

Every call here blocks: async code reaches it through `asyncio.to_thread`, never directly.
Nothing here decides anything; callers pass in what the domain core decided.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from registry_sync.domain.answer import format_instant
from registry_sync.domain.escaping import escaped
from registry_sync.domain.metadata import (
    INFERENCE_SERVICES,
    MODEL_BINDINGS,
    PIPELINE_RUNS,
    Resource,
)

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
MODEL_POD_PAGE = 250  # pods a LIST page
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


# The apiserver refused, or could not be reached at all (restarting, network): both are
# a failed call the caller handles, never an exception that ends a handler.
_API_FAILURES = (ApiException, urllib3.exceptions.HTTPError)


class KubeCallError(RuntimeError):
    """A call to the apiserver failed; the message names the object and the status (or
    that the apiserver could not be reached)."""

    def __init__(
        self, action: str, target: str, error: ApiException | urllib3.exceptions.HTTPError
    ) -> None:
        self.status: int | None = error.status if isinstance(error, ApiException) else None
        self.forbidden = self.status == 403
        self.conflict = self.status == 409
        self.gone = self.status == 404
        if isinstance(error, ApiException):
            failure = f"HTTP {error.status} {_api_message(error)}".rstrip()
        else:
            failure = f"the apiserver could not be reached ({type(error).__name__}: {error})"
        super().__init__(f"{action} {target}: {failure}")


class NotLeading(KubeCallError):
    """A write asked of a replica that may not write now (it does not hold the Lease, or
    its term ran out): nothing was sent."""

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)
        self.status = None
        self.forbidden = self.conflict = self.gone = False


class WriteGate:
    """What every write asks first (controller/leadership.py). This one, for a process that
    is alone (the CLI's tools, tests of one component), is always open."""

    def may_write(self) -> bool:
        return True

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Around one write; raises `NotLeading` when it may not be made."""
        yield


ALWAYS_OPEN: Final = WriteGate()
_Method = TypeVar("_Method", bound=Callable[..., Any])


def _gated(action: str) -> Callable[[_Method], _Method]:
    """A write of `KubeObjects`: made only through its gate."""

    def wrap(method: _Method) -> _Method:
        @functools.wraps(method)
        def gated(self: KubeObjects, *args: Any, **kwargs: Any) -> Any:
            with self.gate.writing(action):
                return method(self, *args, **kwargs)

        return cast(_Method, gated)

    return wrap


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message", error.reason or ""))
    except (ValueError, AttributeError):
        return str(error.reason or "")


# Every request gives up when the apiserver has not answered in time (the official client
# waits forever by default): a peer gone without a word (a network partition) must not hold
# a handler, or the Lease loop, for good. The read bound is above the apiserver's own 60 s.
REQUEST_TIMEOUT_S: tuple[float, float] = (10.0, 75.0)  # connect, read


class BoundedApiClient(client.ApiClient):
    """The official ApiClient with `REQUEST_TIMEOUT_S` for every call that names none."""

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None and len(args) < 6:
            kwargs["_request_timeout"] = REQUEST_TIMEOUT_S
        return super().call_api(*args, **kwargs)


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """In a pod: the service account; elsewhere: the kubeconfig (KUBECONFIG or ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except config.ConfigException:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration
        )
    return BoundedApiClient(configuration)


class KubeConfigError(Exception):
    """No Kubernetes configuration could be loaded; the message says from where and what to do."""


def connect(kubeconfig: str | None) -> client.ApiClient:
    """An ApiClient for a command run by a person or a pipeline step: `kubeconfig` when
    given (it wins, also inside a pod), else the pod's service account, else KUBECONFIG or
    ~/.kube/config. Raises `KubeConfigError`.

    A configuration that skips TLS verification is said once, on stderr, in one line
    (`INSECURE_APISERVER_NOTICE`), instead of urllib3's warning on every request."""
    try:
        if kubeconfig is None:
            api_client = load_api_client(None)
        else:
            configuration = client.Configuration()
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration
            )
            api_client = BoundedApiClient(configuration)
    except (config.ConfigException, OSError, ValueError) as error:
        where = kubeconfig or "KUBECONFIG / ~/.kube/config"
        raise KubeConfigError(
            f"cannot load a Kubernetes configuration from {where}: {error}; "
            "give --kubeconfig or log in (oc login / kubectl config use-context)"
        ) from None
    if not api_client.configuration.verify_ssl:
        _say_apiserver_unverified(str(api_client.configuration.host))
    return api_client


INSECURE_APISERVER_NOTICE: Final = (
    "registry-sync: warning: TLS verification of the apiserver {server} is off "
    "(insecure-skip-tls-verify in the kubeconfig): its certificate is not checked"
)
_told_unverified: set[str] = set()


def _say_apiserver_unverified(server: str) -> None:
    # urllib3 would warn on each request, several times per command, with a traceback line.
    warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    if server not in _told_unverified:
        _told_unverified.add(server)
        print(INSECURE_APISERVER_NOTICE.format(server=server), file=sys.stderr)


_POD_NAMESPACE_FILE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def default_namespace(kubeconfig: str | None) -> str:
    """The namespace a command works in when none is given, as kubectl picks it: the
    kubeconfig context's (`kubeconfig`, else KUBECONFIG or ~/.kube/config), else, in a pod,
    its service account's. Raises `KubeConfigError` saying there is none."""
    try:
        _, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=kubeconfig
        )
    except (config.ConfigException, OSError) as error:
        active, problem = None, f"no kubeconfig context to take one from ({error})"
    else:
        problem = "the kubeconfig's current context names no namespace"
    namespace = ((active or {}).get("context") or {}).get("namespace")
    if namespace:
        return str(namespace)
    if kubeconfig is None:
        try:
            namespace = _POD_NAMESPACE_FILE.read_text().strip()
        except OSError:
            namespace = None
        if namespace:
            return namespace
    raise KubeConfigError(f"no -n/--namespace given and {problem}")


@dataclass(frozen=True, slots=True)
class ObjectRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class KubeObjects:
    """The handful of API calls the operator makes, each mapped to `KubeCallError` on failure."""

    def __init__(
        self,
        api_client: client.ApiClient,
        component: str = "registry-sync",
        gate: WriteGate = ALWAYS_OPEN,
    ) -> None:
        # Several replicas: only the Lease holder writes (controller/leadership.py).
        self.gate = gate
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._authorization = client.AuthorizationV1Api(api_client)
        self._component = component

    def list_inference_service_metadata(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's InferenceServices, metadata only (no specs: small even for
        thousands of them)."""
        try:
            result = self._custom.list_namespaced_custom_object(
                INFERENCE_SERVICES.group,
                INFERENCE_SERVICES.version,
                namespace,
                INFERENCE_SERVICES.plural,
                _headers={"Accept": METADATA_LIST},
            )
        except _API_FAILURES as error:
            raise KubeCallError("listing InferenceServices in", namespace, error) from None
        return _items(result)

    @_gated("patching labels")
    def patch_labels(
        self,
        resource: Resource,
        ref: ObjectRef,
        labels: Mapping[str, str | None],
        resource_version: str | None,
    ) -> dict[str, Any]:
        """Merge-patch the labels of a `resource` object (an InferenceService or an
        LLMInferenceService) and nothing else (spec is atomic in KServe's CRDs: never touch it).

        With a resource version the patch applies only to the object the decision was made
        from; a 409 then means "look again", never "apply anyway".
        """
        metadata: dict[str, Any] = {"labels": dict(labels)}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        try:
            result = self._custom.patch_namespaced_custom_object(
                resource.group,
                resource.version,
                ref.namespace,
                resource.plural,
                ref.name,
                {"metadata": metadata},
                _content_type=MERGE_PATCH,
            )
        except _API_FAILURES as error:
            raise KubeCallError(f"patching labels of {resource.kind}", str(ref), error) from None
        return _object(result)

    def find_binding(self, ref: ObjectRef) -> dict[str, Any] | None:
        """One ModelBinding by name (the Role grants no `get`)."""
        return self._find_by_name(MODEL_BINDINGS, ref)

    def list_bindings(self, namespace: str) -> list[dict[str, Any]]:
        try:
            result = self._custom.list_namespaced_custom_object(
                MODEL_BINDINGS.group, MODEL_BINDINGS.version, namespace, MODEL_BINDINGS.plural
            )
        except _API_FAILURES as error:
            raise KubeCallError("listing ModelBindings in", namespace, error) from None
        return _items(result)

    @_gated("creating a ModelBinding")
    def create_binding(self, body: Mapping[str, Any]) -> dict[str, Any]:
        namespace = body["metadata"]["namespace"]
        try:
            result = self._custom.create_namespaced_custom_object(
                MODEL_BINDINGS.group,
                MODEL_BINDINGS.version,
                namespace,
                MODEL_BINDINGS.plural,
                dict(body),
            )
        except _API_FAILURES as error:
            target = f"{namespace}/{body['metadata']['name']}"
            raise KubeCallError("creating ModelBinding", target, error) from None
        return _object(result)

    @_gated("updating a ModelBinding's status")
    def patch_binding_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result = self._custom.patch_namespaced_custom_object_status(
                MODEL_BINDINGS.group,
                MODEL_BINDINGS.version,
                ref.namespace,
                MODEL_BINDINGS.plural,
                ref.name,
                {"status": dict(status)},
                _content_type=MERGE_PATCH,
            )
        except _API_FAILURES as error:
            raise KubeCallError("updating status of ModelBinding", str(ref), error) from None
        return _object(result)

    @_gated("deleting a ModelBinding")
    def delete_binding(self, ref: ObjectRef) -> None:
        try:
            self._custom.delete_namespaced_custom_object(
                MODEL_BINDINGS.group,
                MODEL_BINDINGS.version,
                ref.namespace,
                MODEL_BINDINGS.plural,
                ref.name,
            )
        except _API_FAILURES as error:
            if not (isinstance(error, ApiException) and error.status == 404):
                raise KubeCallError("deleting ModelBinding", str(ref), error) from None

    @_gated("posting an Event")
    def post_event(
        self,
        subject: Mapping[str, Any],
        type_: str,
        reason: str,
        message: str,
        at_ms: int | None = None,
    ) -> None:
        """Record a core/v1 Event about `subject` (apiVersion, kind, name, namespace, uid),
        stamped `at_ms` (default: now)."""
        metadata = subject["metadata"]
        now = format_instant(int(time.time() * 1000) if at_ms is None else at_ms)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{metadata['name']}.",
                "namespace": metadata["namespace"],
            },
            "involvedObject": {
                "apiVersion": subject["apiVersion"],
                "kind": subject["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata.get("uid"),
            },
            "type": type_,
            "reason": reason,
            # Other people's text (registry names and errors): escaped, then cut to size.
            "message": escaped(message)[:1024],
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": self._component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            # The client sends a plain dict as it is; its stubs ask for a CoreV1Event.
            self._core.create_namespaced_event(metadata["namespace"], body)  # type: ignore[arg-type]
        except _API_FAILURES as error:
            raise KubeCallError(
                "posting Event about", f"{metadata['namespace']}/{metadata['name']}", error
            ) from None

    @_gated("creating a PipelineRun")
    def create_pipeline_run(self, body: Mapping[str, Any]) -> bool:
        """Create a PipelineRun; False when one of that name exists already."""
        namespace = body["metadata"]["namespace"]
        try:
            self._custom.create_namespaced_custom_object(
                PIPELINE_RUNS.group,
                PIPELINE_RUNS.version,
                namespace,
                PIPELINE_RUNS.plural,
                dict(body),
            )
        except _API_FAILURES as error:
            if isinstance(error, ApiException) and error.status == 409:
                return False
            target = f"{namespace}/{body['metadata']['name']}"
            raise KubeCallError("creating PipelineRun", target, error) from None
        return True

    def get_object(self, resource: Resource, ref: ObjectRef) -> dict[str, Any] | None:
        """One object by name through `get` (what a pipeline task's Role grants), or None."""
        try:
            result = self._custom.get_namespaced_custom_object(
                resource.group, resource.version, ref.namespace, resource.plural, ref.name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise KubeCallError(f"reading {resource.kind}", str(ref), error) from None
        except urllib3.exceptions.HTTPError as error:
            raise KubeCallError(f"reading {resource.kind}", str(ref), error) from None
        return result if isinstance(result, dict) else None

    def find_pipeline_run(self, ref: ObjectRef) -> dict[str, Any] | None:
        """One PipelineRun by name (the no-webhook Role grants no `get`)."""
        return self._find_by_name(PIPELINE_RUNS, ref)

    def _find_by_name(self, resource: Resource, ref: ObjectRef) -> dict[str, Any] | None:
        """One object by name through `list` with a field selector, or None."""
        try:
            result = self._custom.list_namespaced_custom_object(
                resource.group,
                resource.version,
                ref.namespace,
                resource.plural,
                field_selector=f"metadata.name={ref.name}",
            )
        except _API_FAILURES as error:
            raise KubeCallError(f"looking up {resource.kind}", str(ref), error) from None
        found = _items(result)
        return found[0] if found else None

    def list_model_pods(self, namespace: str, label: str) -> list[dict[str, Any]]:
        """The namespace's pods carrying `label` (KServe's InferenceService label), as JSON."""
        return [pod for page in self.model_pod_pages(namespace, label) for pod in page]

    def model_pod_pages(
        self, namespace: str, label: str, page_size: int = MODEL_POD_PAGE
    ) -> Iterator[list[dict[str, Any]]]:
        """Those pods a page at a time: a caller that keeps a few fields of each never
        holds thousands of whole pod bodies at once (their peak would stay in the RSS)."""
        token: str | None = None
        while True:
            try:
                response = self._core.list_namespaced_pod(
                    namespace,
                    label_selector=label,
                    limit=page_size,
                    _continue=token,
                    _preload_content=False,
                )
                page = _object(_raw_json(response))
            except _API_FAILURES as error:
                raise KubeCallError("listing model pods in", namespace, error) from None
            except ValueError as error:  # not JSON: the apiserver never does this
                raise KubeCallError(
                    "listing model pods in", namespace, urllib3.exceptions.HTTPError(str(error))
                ) from None
            yield _items(page)
            metadata = page.get("metadata")
            token = metadata.get("continue") if isinstance(metadata, dict) else None
            if not token:
                return

    def serves(self, resource: Resource) -> bool:
        """Whether the apiserver serves `resource` at its version (one discovery GET of the
        group version's resource list; 404 when the version is not served at all)."""
        path = f"/apis/{resource.group}/{resource.version}"
        try:
            response = self._custom.get_api_resources(
                resource.group, resource.version, _preload_content=False
            )
            listed = _object(_raw_json(response)).get("resources")
        except _API_FAILURES as error:
            if isinstance(error, ApiException) and error.status == 404:
                return False
            raise KubeCallError("discovering", path, error) from None
        except ValueError:
            return False
        return isinstance(listed, list) and any(
            isinstance(item, dict) and item.get("name") == resource.plural for item in listed
        )

    def may(self, namespace: str, verb: str, resource: str) -> bool:
        """Whether this client may `verb` `resource` (core group) in the namespace: asked
        once at start, so that a missing Role rule is one log line, not a failing watch."""
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb=verb, resource=resource
                )
            )
        )
        try:
            result = self._authorization.create_self_subject_access_review(
                review, _preload_content=False
            )
            return bool(_object(_raw_json(result)).get("status", {}).get("allowed"))
        except _API_FAILURES as error:
            raise KubeCallError(f"asking whether it may {verb}", resource, error) from None
        except ValueError:
            return False

    def read_secret(self, ref: ObjectRef) -> dict[str, Any]:
        """One Secret (the pull secret the Role names by name)."""
        try:
            response = self._core.read_namespaced_secret(
                ref.name, ref.namespace, _preload_content=False
            )
            return _object(_raw_json(response))
        except _API_FAILURES as error:
            raise KubeCallError("reading Secret", str(ref), error) from None
        except ValueError:
            return {}

    @_gated("patching a PipelineRun")
    def patch_pipeline_run(self, ref: ObjectRef, patch: Mapping[str, Any]) -> None:
        try:
            self._custom.patch_namespaced_custom_object(
                PIPELINE_RUNS.group,
                PIPELINE_RUNS.version,
                ref.namespace,
                PIPELINE_RUNS.plural,
                ref.name,
                dict(patch),
                _content_type=MERGE_PATCH,
            )
        except _API_FAILURES as error:
            raise KubeCallError("patching PipelineRun", str(ref), error) from None


def _raw_json(response: object) -> object:
    """The JSON of a call made with `_preload_content=False` (the raw urllib3 response:
    no model objects built for bodies the operator reads a few fields of)."""
    return json.loads(getattr(response, "data", b"") or b"null")


def _object(result: object) -> dict[str, Any]:
    """An object the client returned as JSON (typed `object` by the client)."""
    return result if isinstance(result, dict) else {}


def _items(result: object) -> list[dict[str, Any]]:
    """The objects of a LIST the client returned."""
    items = _object(result).get("items")
    return (
        [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []
    )
