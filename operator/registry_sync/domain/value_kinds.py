"""What a value read from an untrusted body is, named for a message: `spec is a string,
expected a mapping`. One function; each reader names things in its users' words (Tekton
says "array" and "object", the YAML of an InferenceService "list" and "mapping")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KindWords:
    missing: str = "missing"
    mapping: str = "a mapping"
    sequence: str = "a list"


YAML_WORDS = KindWords()
TEKTON_WORDS = KindWords(missing="no value", mapping="an object", sequence="an array")


def kind_of(value: object, words: KindWords = YAML_WORDS) -> str:
    if value is None:
        return words.missing
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return words.mapping
    if isinstance(value, list | tuple):
        return words.sequence
    return f"a {type(value).__name__}"
