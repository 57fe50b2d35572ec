"""A small declarative schema: one definition gives both the strict body check (with an
error naming the field) and the JSON Schema published in the OpenAPI document.

Strict means: a JSON ``true`` is not an integer, ``5.0`` is not an integer, ``null`` is
accepted only where a field is declared nullable, and objects reject unknown keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from chalicelib.admin.errors import bad_request

MAX_ID = 2_147_483_647  # ids are 32-bit positive integers, as in AAM


class Field(Protocol):
    def check(self, value: Any, path: str) -> Any: ...

    def schema(self) -> dict[str, Any]: ...


def _type_error(path: str, expected: str) -> Exception:
    return bad_request("invalid_type", f"{path} must be {expected}", path)


@dataclass(frozen=True)
class Str:
    min_len: int = 0
    max_len: int = 255
    pattern: str | None = None
    what: str = ""  # what the pattern means, for the error message
    description: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise _type_error(path, "a string")
        if len(value) < self.min_len:
            detail = "must not be empty" if self.min_len == 1 else (
                f"must have at least {self.min_len} characters")
            raise bad_request("out_of_range", f"{path} {detail}", path)
        if len(value) > self.max_len:
            raise bad_request(
                "out_of_range", f"{path} must have at most {self.max_len} characters", path
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise bad_request("invalid_value", f"{path} must be {self.what or self.pattern}", path)
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_len}
        if self.min_len:
            out["minLength"] = self.min_len
        if self.pattern is not None:
            out["pattern"] = f"^(?:{self.pattern})$"
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Int:
    minimum: int = 0
    maximum: int = MAX_ID
    description: str = ""

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, "an integer")
        if not self.minimum <= value <= self.maximum:
            raise bad_request(
                "out_of_range",
                f"{path} must be between {self.minimum} and {self.maximum}",
                path,
            )
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "integer", "minimum": self.minimum, "maximum": self.maximum
        }
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Bool:
    description: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise _type_error(path, "true or false")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "boolean"}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]
    description: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise _type_error(path, "a string")
        if value not in self.values:
            raise bad_request(
                "invalid_value", f"{path} must be one of {', '.join(self.values)}", path
            )
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "enum": list(self.values)}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Nullable:
    inner: Field

    def check(self, value: Any, path: str) -> Any:
        return None if value is None else self.inner.check(value, path)

    def schema(self) -> dict[str, Any]:
        inner = dict(self.inner.schema())
        kind = inner.get("type")
        if isinstance(kind, str):
            inner["type"] = [kind, "null"]
            if "enum" in inner:
                inner["enum"] = [*inner["enum"], None]
            return inner
        return {"anyOf": [inner, {"type": "null"}]}


@dataclass(frozen=True)
class ListOf:
    inner: Field
    max_items: int = 100
    unique: bool = True
    description: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            raise _type_error(path, "a list")
        if len(value) > self.max_items:
            raise bad_request(
                "out_of_range", f"{path} must have at most {self.max_items} items", path
            )
        checked = [self.inner.check(item, f"{path}[{i}]") for i, item in enumerate(value)]
        if self.unique:
            seen: set[Any] = set()
            for i, item in enumerate(checked):
                if item in seen:
                    raise bad_request(
                        "invalid_value", f"{path}[{i}] repeats an earlier item", f"{path}[{i}]"
                    )
                seen.add(item)
        return checked

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "array", "items": self.inner.schema(), "maxItems": self.max_items
        }
        if self.unique:
            out["uniqueItems"] = True
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Obj:
    """A JSON object with known fields. ``optional_on_write`` fields may be left out of a
    body even though they are required in a stored object (the write-only ``secretRef``)."""

    fields: Mapping[str, Field]
    required: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _type_error(path or "the body", "a JSON object")
        prefix = f"{path}." if path else ""
        for key in value:
            if key not in self.fields:
                raise bad_request("unknown_field", f"{prefix}{key} is not a known field",
                                  f"{prefix}{key}")
        for key in self.fields:
            if key in self.required and key not in value:
                raise bad_request("missing_field", f"{prefix}{key} is required", f"{prefix}{key}")
        out: dict[str, Any] = {}
        for key, spec in self.fields.items():
            if key in value:
                out[key] = spec.check(value[key], f"{prefix}{key}")
            elif key in self.defaults:
                out[key] = self.defaults[key]
        return out

    def schema(self) -> dict[str, Any]:
        props = {}
        for key, spec in self.fields.items():
            prop = dict(spec.schema())
            if key in self.defaults:
                prop["default"] = self.defaults[key]
            props[key] = prop
        out: dict[str, Any] = {
            "type": "object", "properties": props, "additionalProperties": False
        }
        if self.required:
            out["required"] = sorted(self.required)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class OneOf:
    """Objects told apart by a string ``type`` field (provider and destination ``auth``)."""

    variants: Mapping[str, Obj]
    discriminator: str = "type"
    description: str = ""

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise _type_error(path, "a JSON object")
        key = f"{path}.{self.discriminator}"
        if self.discriminator not in value:
            raise bad_request("missing_field", f"{key} is required", key)
        kind = value[self.discriminator]
        if not isinstance(kind, str):
            raise _type_error(key, "a string")
        if kind not in self.variants:
            raise bad_request(
                "invalid_value", f"{key} must be one of {', '.join(self.variants)}", key
            )
        return self.variants[kind].check(value, path)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"oneOf": [v.schema() for v in self.variants.values()]}
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Const:
    value: str

    def check(self, value: Any, path: str) -> Any:
        if value != self.value:
            raise bad_request("invalid_value", f"{path} must be {self.value!r}", path)
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "const": self.value}
