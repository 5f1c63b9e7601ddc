"""Every state the apiserver stored for one resource of a namespace, in its order, from a
watch run by the test in a thread: the history between two reads, not samples of it.

    with WatchRecorder(kube, namespace, PIPELINE_RUNS) as history:
        ...                                    # the operator works
        history.catch_up(objects_just_read)    # every version read is recorded by now
        history.of("run-1")                    # that object's states, oldest first
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import watch

from support.cluster import Cluster
from support.cluster_objects import CustomResource

# The type of the states found by the first LIST (those that existed before the watch).
LISTED = "LISTED"


@dataclass
class Seen:
    """One recorded state: when the test received it, the event type (or `LISTED`), the object."""

    at: float
    type: str
    object: dict[str, Any]

    @property
    def name(self) -> str:
        name: str = self.object["metadata"]["name"]
        return name


@dataclass
class WatchRecorder:
    """LIST, then one continuous WATCH from that resourceVersion (resumed from the last one
    seen when a stream ends), recording every state. A watch error or a failure of the
    thread is kept in `error`: a history with a hole in it proves nothing."""

    kube: Cluster
    namespace: str
    resource: CustomResource
    events: list[Seen] = field(default_factory=list)
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> WatchRecorder:
        api = self.kube.custom_objects
        args = (self.resource.group, self.resource.version, self.namespace, self.resource.plural)
        listed = api.list_namespaced_custom_object(*args)
        now = time.monotonic()
        self.events.extend(Seen(now, LISTED, item) for item in listed.get("items", []))
        since = listed["metadata"]["resourceVersion"]

        def record() -> None:
            nonlocal since
            while not self._stop.is_set():
                stream = watch.Watch()
                try:
                    for event in stream.stream(
                        api.list_namespaced_custom_object,
                        *args,
                        resource_version=since,
                        timeout_seconds=2,
                    ):
                        if event["type"] == "ERROR":
                            self.error = f"watch error: {event['raw_object']}"
                            return
                        found: dict[str, Any] = event["object"]
                        since = found["metadata"]["resourceVersion"]
                        with self._lock:
                            self.events.append(Seen(time.monotonic(), event["type"], found))
                        if self._stop.is_set():
                            stream.stop()
                except Exception as error:  # a lost event would void the history: say so
                    self.error = f"watch failed: {error!r}"
                    return

        self._thread = threading.Thread(target=record, daemon=True, name="watch-recorder")
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def snapshot(self) -> list[Seen]:
        with self._lock:
            return list(self.events)

    def of(self, name: str) -> list[Seen]:
        return [seen for seen in self.snapshot() if seen.name == name]

    def catch_up(self, stored: Iterable[Mapping[str, Any]], timeout: float = 60) -> None:
        """Wait until the versions of these objects, as just read, have been recorded."""
        wanted = {(o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in stored}

        def recorded() -> bool:
            seen = {(s.name, s.object["metadata"]["resourceVersion"]) for s in self.snapshot()}
            return wanted <= seen or self.error is not None

        self.kube.wait_for(recorded, timeout=timeout, description="the watch caught up")
        assert self.error is None, self.error
