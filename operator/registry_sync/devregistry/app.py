"""The stand-in's HTTP surface: the v1alpha3 routes, their query parameters and answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from registry_sync.devregistry.entities import (
    ANY_ARTIFACT,
    INFERENCE_SERVICE,
    MODEL_ARTIFACT,
    MODEL_VERSION,
    REGISTERED_MODEL,
    SERVING_ENVIRONMENT,
    EntityKind,
    Json,
)
from registry_sync.devregistry.errors import ApiError, bad_request, not_found
from registry_sync.devregistry.filtering import FilterSyntaxError, parse_filter
from registry_sync.devregistry.paging import cut_page, page_request, parse_id
from registry_sync.devregistry.store import RegistryStore, VersionArtifactWrite

API_BASE = "/api/model_registry/v1alpha3"

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Query = Mapping[str, str]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body, sort_keys=True),
        status=status,
        content_type="application/json",
        charset="UTF-8",
    )


@web.middleware
async def _answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a `{"code", "message"}` body; the server itself never falls over."""
    try:
        return await handler(request)
    except ApiError as error:
        return _json(error.body(), error.status)
    except web.HTTPNotFound:
        message = f"no such endpoint: {request.method} {request.path}"
        return _json({"code": "Not Found", "message": message}, 404)
    except web.HTTPMethodNotAllowed as error:
        message = (
            f"{request.method} is not served on {request.path}; use {sorted(error.allowed_methods)}"
        )
        return _json({"code": "Method Not Allowed", "message": message}, 405)
    except Exception as error:
        logger.exception("request %s %s failed", request.method, request.path)
        message = f"the stand-in failed on {request.method} {request.path}: {error!r}"
        return _json({"code": "Internal Server Error", "message": message}, 500)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        # The real server's JSON decoder reports an empty body as bare "EOF".
        raise ApiError(400, "Bad Request", "EOF")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise bad_request(f"request body is not JSON: {error}") from None


def _query(request: web.Request) -> dict[str, str]:
    return {key: request.query[key] for key in request.query}


def _matching(entities: Iterable[Json], query: Query, honour_filter_query: bool) -> list[Json]:
    """Entities passing the request's `name`, `externalId` and (optionally) `filterQuery`."""
    selected = list(entities)
    for parameter in ("name", "externalId"):
        if query.get(parameter):
            selected = [e for e in selected if e.get(parameter) == query[parameter]]
    if honour_filter_query:
        try:
            expression = parse_filter(query.get("filterQuery", ""))
        except FilterSyntaxError as error:
            raise bad_request(
                f"invalid filter query syntax: error parsing filter query: {error}"
            ) from None
        if expression is not None:
            selected = [e for e in selected if expression.matches(e)]
    return selected


def _of_artifact_type(artifacts: Iterable[Json], query: Query) -> list[Json]:
    wanted = query.get("artifactType", "")
    if not wanted:
        return list(artifacts)
    if wanted not in ("model-artifact", "doc-artifact", "dataset-artifact", "metric", "parameter"):
        raise bad_request(f"invalid artifactType {wanted!r}")
    return [a for a in artifacts if a.get("artifactType") == wanted]


def _page(entities: Iterable[Json], query: Query, honour_filter_query: bool = True) -> web.Response:
    request = page_request(query)
    return _json(cut_page(_matching(entities, query, honour_filter_query), request).body())


def _first(kind: EntityKind, candidates: Iterable[Json], looked_for: str) -> web.Response:
    ordered = sorted(candidates, key=lambda e: int(e["id"]))
    if not ordered:
        raise not_found(f"no {kind.noun}s found for {looked_for}")
    return _json(ordered[0])


class RegistryApi:
    """Request handlers over one `RegistryStore`; `on_write` runs after every change."""

    def __init__(self, store: RegistryStore, on_write: Callable[[], None]) -> None:
        self.store = store
        self._on_write = on_write

    def _written(self, body: Json, status: int) -> web.Response:
        self._on_write()
        return _json(body, status)

    # -- collections of one kind -------------------------------------------------------

    def _collection(self, kind: EntityKind, create: Callable[[Any], Json]) -> tuple[Handler, ...]:
        store = self.store

        async def list_all(request: web.Request) -> web.Response:
            return _page(store.all(kind), _query(request))

        async def create_one(request: web.Request) -> web.Response:
            return self._written(create(await _body(request)), 201)

        async def get_one(request: web.Request) -> web.Response:
            return _json(store.get(kind, parse_id(request.match_info["id"], kind.noun)))

        async def patch_one(request: web.Request) -> web.Response:
            entity_id = parse_id(request.match_info["id"], kind.noun)
            store.get(kind, entity_id)  # an unknown id is a 404 whatever the body says
            return self._written(store.update(kind, entity_id, await _body(request)), 200)

        return list_all, create_one, get_one, patch_one

    # -- model artifacts and generic artifacts ---------------------------------------

    def _all_model_artifacts(self) -> list[Json]:
        return [a for a in self.store.all(ANY_ARTIFACT) if a["artifactType"] == "model-artifact"]

    async def list_model_artifacts(self, request: web.Request) -> web.Response:
        # The real server ignores filterQuery here, even a malformed one.
        return _page(self._all_model_artifacts(), _query(request), honour_filter_query=False)

    async def list_inference_services(self, request: web.Request) -> web.Response:
        # The real server ignored filterQuery here too: `desiredState = 'UNDEPLOYED'`
        # answered records of both states.
        return _page(self.store.all(INFERENCE_SERVICE), _query(request), honour_filter_query=False)

    async def version_of_inference_service(self, request: web.Request) -> web.Response:
        service_id = parse_id(request.match_info["id"], INFERENCE_SERVICE.noun)
        return _json(self.store.version_of_inference_service(service_id))

    async def list_artifacts(self, request: web.Request) -> web.Response:
        query = _query(request)
        return _page(_of_artifact_type(self.store.all(ANY_ARTIFACT), query), query)

    async def get_artifact(self, request: web.Request) -> web.Response:
        return _json(self.store.get_artifact(parse_id(request.match_info["id"], "artifact")))

    async def patch_artifact(self, request: web.Request) -> web.Response:
        artifact_id = parse_id(request.match_info["id"], "artifact")
        self.store.get_artifact(artifact_id)  # an unknown id is a 404 whatever the body says
        return self._written(self.store.update_artifact(artifact_id, await _body(request)), 200)

    # -- children of a parent ------------------------------------------------------------

    async def list_versions_of_model(self, request: web.Request) -> web.Response:
        model_id = parse_id(request.match_info["id"], REGISTERED_MODEL.noun)
        self.store.get(REGISTERED_MODEL, model_id)
        versions = [v for v in self.store.all(MODEL_VERSION) if v["registeredModelId"] == model_id]
        return _page(versions, _query(request))

    async def create_version_of_model(self, request: web.Request) -> web.Response:
        model_id = parse_id(request.match_info["id"], REGISTERED_MODEL.noun)
        self.store.get(REGISTERED_MODEL, model_id)
        version = self.store.create_model_version(await _body(request), model_id)
        return self._written(version, 201)

    async def list_artifacts_of_version(self, request: web.Request) -> web.Response:
        version_id = parse_id(request.match_info["id"], MODEL_VERSION.noun)
        query = _query(request)
        return _page(_of_artifact_type(self.store.artifacts_of_version(version_id), query), query)

    async def add_artifact_to_version(self, request: web.Request) -> web.Response:
        version_id = parse_id(request.match_info["id"], MODEL_VERSION.noun)
        self.store.get(MODEL_VERSION, version_id)
        artifact, write = self.store.add_version_artifact(version_id, await _body(request))
        return self._written(artifact, 201 if write is VersionArtifactWrite.CREATED else 200)

    async def list_services_of_environment(self, request: web.Request) -> web.Response:
        environment_id = parse_id(request.match_info["id"], SERVING_ENVIRONMENT.noun)
        self.store.get(SERVING_ENVIRONMENT, environment_id)
        services = [
            s
            for s in self.store.all(INFERENCE_SERVICE)
            if s["servingEnvironmentId"] == environment_id
        ]
        return _page(services, _query(request))

    async def create_service_in_environment(self, request: web.Request) -> web.Response:
        environment_id = parse_id(request.match_info["id"], SERVING_ENVIRONMENT.noun)
        self.store.get(SERVING_ENVIRONMENT, environment_id)
        service = self.store.create_inference_service(await _body(request), environment_id)
        return self._written(service, 201)

    # -- find one by name ----------------------------------------------------------------

    def _find_top_level(self, kind: EntityKind) -> Handler:
        async def find(request: web.Request) -> web.Response:
            query = _query(request)
            name, external_id = query.get("name", ""), query.get("externalId", "")
            candidates = [
                e
                for e in self.store.all(kind)
                if (not name or e.get("name") == name)
                and (not external_id or e.get("externalId") == external_id)
                and (name or external_id)
            ]
            return _first(kind, candidates, f"name={name}, externalId={external_id}")

        return find

    def _find_child(
        self,
        kind: EntityKind,
        children_of: Callable[[str], list[Json]],
        parent: EntityKind,
        everything: Callable[[], list[Json]],
    ) -> Handler:
        async def find(request: web.Request) -> web.Response:
            query = _query(request)
            name, external_id = query.get("name", ""), query.get("externalId", "")
            parent_id = query.get("parentResourceId", "")
            if name and not parent_id:
                raise bad_request(
                    f"looking up a {kind.noun} by name needs parentResourceId (the "
                    f"{parent.noun} id), or look it up by externalId"
                )
            if not name and not external_id:
                raise bad_request(f"looking up a {kind.noun} needs name or externalId")
            if parent_id:
                candidates = children_of(parse_id(parent_id, parent.noun))
            else:
                candidates = everything()
            candidates = [
                e
                for e in candidates
                if (not name or e.get("name") == name)
                and (not external_id or e.get("externalId") == external_id)
            ]
            looked_for = f"name={name}, parentResourceId={parent_id}, externalId={external_id}"
            return _first(kind, candidates, looked_for)

        return find

    def _versions_of(self, model_id: str) -> list[Json]:
        return [v for v in self.store.all(MODEL_VERSION) if v["registeredModelId"] == model_id]

    def _services_of(self, environment_id: str) -> list[Json]:
        return [
            s
            for s in self.store.all(INFERENCE_SERVICE)
            if s["servingEnvironmentId"] == environment_id
        ]

    def _artifacts_of(self, version_id: str) -> list[Json]:
        try:
            return self.store.artifacts_of_version(version_id)
        except ApiError:
            return []

    def _model_artifacts_of(self, version_id: str) -> list[Json]:
        return [a for a in self._artifacts_of(version_id) if a["artifactType"] == "model-artifact"]

    # -- wiring ----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """Every route served, under `API_BASE`."""
        table: list[web.RouteDef] = []
        store = self.store
        for plural, kind, create in (
            ("registered_models", REGISTERED_MODEL, store.create_registered_model),
            ("model_versions", MODEL_VERSION, store.create_model_version),
            ("serving_environments", SERVING_ENVIRONMENT, store.create_serving_environment),
            ("inference_services", INFERENCE_SERVICE, store.create_inference_service),
            ("model_artifacts", MODEL_ARTIFACT, store.create_model_artifact),
        ):
            list_all, create_one, get_one, patch_one = self._collection(kind, create)
            if kind is MODEL_ARTIFACT:
                list_all = self.list_model_artifacts
            if kind is INFERENCE_SERVICE:
                list_all = self.list_inference_services
            table += [
                web.get(f"{API_BASE}/{plural}", list_all, allow_head=False),
                web.post(f"{API_BASE}/{plural}", create_one),
                web.get(f"{API_BASE}/{plural}/{{id}}", get_one, allow_head=False),
                web.patch(f"{API_BASE}/{plural}/{{id}}", patch_one),
            ]
        children = (
            (
                "registered_models/{id}/versions",
                self.list_versions_of_model,
                self.create_version_of_model,
            ),
            (
                "model_versions/{id}/artifacts",
                self.list_artifacts_of_version,
                self.add_artifact_to_version,
            ),
            (
                "serving_environments/{id}/inference_services",
                self.list_services_of_environment,
                self.create_service_in_environment,
            ),
        )
        for path, list_children, create_child in children:
            table += [
                web.get(f"{API_BASE}/{path}", list_children, allow_head=False),
                web.post(f"{API_BASE}/{path}", create_child),
            ]
        finders: tuple[tuple[str, Handler], ...] = (
            ("registered_model", self._find_top_level(REGISTERED_MODEL)),
            ("serving_environment", self._find_top_level(SERVING_ENVIRONMENT)),
            (
                "model_version",
                self._find_child(
                    MODEL_VERSION,
                    self._versions_of,
                    REGISTERED_MODEL,
                    lambda: store.all(MODEL_VERSION),
                ),
            ),
            (
                "inference_service",
                self._find_child(
                    INFERENCE_SERVICE,
                    self._services_of,
                    SERVING_ENVIRONMENT,
                    lambda: store.all(INFERENCE_SERVICE),
                ),
            ),
            (
                "model_artifact",
                self._find_child(
                    MODEL_ARTIFACT,
                    self._model_artifacts_of,
                    MODEL_VERSION,
                    self._all_model_artifacts,
                ),
            ),
            (
                "artifact",
                self._find_child(
                    ANY_ARTIFACT, self._artifacts_of, MODEL_VERSION, lambda: store.all(ANY_ARTIFACT)
                ),
            ),
        )
        table += [web.get(f"{API_BASE}/{path}", find, allow_head=False) for path, find in finders]
        table += [
            web.get(f"{API_BASE}/artifacts", self.list_artifacts, allow_head=False),
            web.get(f"{API_BASE}/artifacts/{{id}}", self.get_artifact, allow_head=False),
            web.patch(f"{API_BASE}/artifacts/{{id}}", self.patch_artifact),
            web.get(
                f"{API_BASE}/inference_services/{{id}}/version",
                self.version_of_inference_service,
                allow_head=False,
            ),
        ]
        return table


def build_application(
    store: RegistryStore, on_write: Callable[[], None] = lambda: None
) -> web.Application:
    """The stand-in as an aiohttp application over `store`."""
    application = web.Application(middlewares=[_answer_errors])
    application.add_routes(RegistryApi(store, on_write).routes())
    return application
