"""The params a model-testing PipelineRun must carry, and the change that gets it there.

A run is told three names: the one vLLM serves the model under (to benchmark it) and the
registered model and version names (to publish the results to). `plan_params` computes the
corrected `spec.params` list and records what it replaced.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from registry_sync.domain.nesting import deeper_than
from registry_sync.domain.value_kinds import TEKTON_WORDS, kind_of

DEFAULT_PARAM_NAMES_SETTING: Final = "vllm_model_name,model_name,version_name"

# Tekton's rule for a param name (without bracket notation).
_TEKTON_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*", re.ASCII)
# A Tekton param holds a string, an array or an object of strings: two levels. Far deeper
# entries are refused before they are copied (a copy recurses once per level).
MAX_ENTRY_DEPTH: Final = 32


class InvalidParamNames(ValueError):
    """The param names setting is not three distinct Tekton param names."""


class ParamPlanError(ValueError):
    """The run's params cannot be corrected without overwriting something that is not a name."""


@dataclass(frozen=True, slots=True)
class ParamNames:
    """The names of the three params the operator sets, in the order it appends them."""

    served_name: str = "vllm_model_name"
    model_name: str = "model_name"
    version_name: str = "version_name"

    @classmethod
    def parse(cls, setting: str) -> ParamNames:
        """Parse `served,model,version` (spaces around names allowed).

        Raises `InvalidParamNames` unless there are exactly three distinct valid Tekton param
        names (a letter or `_`, then letters, digits, `_`, `.`, `-`).
        """
        if not isinstance(setting, str):
            raise InvalidParamNames(
                f"param names must be a comma-separated string, got {type(setting).__name__}"
            )
        names = [name.strip() for name in setting.split(",")]
        if len(names) != 3:
            raise InvalidParamNames(
                f"param names {setting!r} must be three comma-separated names (vLLM served "
                f"name, registered model name, version name), like {DEFAULT_PARAM_NAMES_SETTING!r}"
            )
        invalid = [name for name in names if not _TEKTON_PARAM_NAME.fullmatch(name)]
        if invalid:
            raise InvalidParamNames(
                f"param names {setting!r}: {', '.join(repr(name) for name in invalid)} "
                "not a valid Tekton param name (a letter or '_', then letters, digits, "
                "'_', '.', '-')"
            )
        if len(set(names)) != 3:
            raise InvalidParamNames(f"param names {setting!r} must be three different names")
        return cls(*names)

    def as_tuple(self) -> tuple[str, str, str]:
        """The names in append order: served name, model name, version name."""
        return (self.served_name, self.model_name, self.version_name)


@dataclass(frozen=True, slots=True)
class ModelNames:
    """The values the three params must hold."""

    served_name: str
    model_name: str
    version_name: str


@dataclass(frozen=True, slots=True)
class ParamChange:
    """One param the plan sets: its value before (None if it was missing) and after."""

    name: str
    original: str | None
    value: str


@dataclass(frozen=True, slots=True)
class ParamPlan:
    """The corrected `spec.params` list and the changes that make it.

    `params` is a new list of new dicts, sharing nothing with the input. `changes` lists only
    the params whose value changes, or that were missing, in param-name order.
    """

    params: list[dict[str, object]]
    changes: tuple[ParamChange, ...]

    @property
    def changed(self) -> bool:
        """Whether the run's params differ from what they must be."""
        return bool(self.changes)

    @property
    def originals(self) -> dict[str, str | None]:
        """The replaced values by param name (None: the param was missing), for the record."""
        return {change.name: change.original for change in self.changes}


def plan_params(
    params: object, names: ModelNames, param_names: ParamNames | None = None
) -> ParamPlan:
    """The params the run must carry: ours set, everything else as it was.

    Other params keep their position and value; ours are replaced where they stand, and
    those missing are appended in `ParamNames` order. `params` is a PipelineRun's
    `spec.params` (None means no params) and is never modified. Raises `ParamPlanError`, and
    nothing else, when `params` is not a list, an entry is not a mapping, or one of our params
    appears twice or holds something other than a string (an array or object value is not
    ours to overwrite).
    """
    param_names = param_names or ParamNames()
    wanted = dict(
        zip(
            param_names.as_tuple(),
            (names.served_name, names.model_name, names.version_name),
            strict=True,
        )
    )
    if params is None:
        params = []
    if not isinstance(params, list | tuple):
        raise ParamPlanError(
            f"spec.params is {_kind(params)}, expected a list of {{name, value}} entries"
        )
    originals: dict[str, str] = {}
    planned: list[dict[str, object]] = []
    for position, entry in enumerate(params):
        if not isinstance(entry, Mapping):
            raise ParamPlanError(
                f"spec.params[{position}] is {_kind(entry)}, expected a {{name, value}} entry"
            )
        if deeper_than(entry, MAX_ENTRY_DEPTH):
            raise ParamPlanError(
                f"spec.params[{position}] nests more than {MAX_ENTRY_DEPTH} levels deep; a "
                "Tekton param holds a string, an array or an object of strings"
            )
        name = entry.get("name")
        if not (isinstance(name, str) and name in wanted):
            planned.append(_copy_entry(entry))
            continue
        if name in originals:
            raise ParamPlanError(
                f"spec.params holds param {name!r} more than once (again at position "
                f"{position}); remove the duplicates so the run's value is unambiguous"
            )
        value = entry.get("value")
        if not isinstance(value, str):
            raise ParamPlanError(
                f"param {name!r} holds {_kind(value)}, expected a string; it is set by "
                "registry-sync, so give it a string value or leave it out"
            )
        originals[name] = value
        planned.append({**_copy_entry(entry), "value": wanted[name]})
    planned.extend(
        {"name": name, "value": value} for name, value in wanted.items() if name not in originals
    )
    changes = tuple(
        ParamChange(name, originals.get(name), value)
        for name, value in wanted.items()
        if originals.get(name) != value
    )
    return ParamPlan(params=planned, changes=changes)


def _copy_entry(entry: Mapping[object, object]) -> dict[str, object]:
    """A deep copy, so that editing the plan can never edit the request it came from."""
    return {str(key): copy.deepcopy(value) for key, value in entry.items()}


def _kind(value: object) -> str:
    return kind_of(value, TEKTON_WORDS)
