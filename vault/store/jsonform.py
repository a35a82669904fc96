"""The JSON form of the vault's record dataclasses, derived from their fields by pydantic.

A record is sealed as ``canonical_dumps(record.to_json())`` and read back with
``Record.from_json(canonical_loads(raw))``. Each record class used to write that
pair by hand, thirteen times over, and a hand-written pair drifts from the
fields it mirrors. :class:`JsonRecord` gives a dataclass both methods from one
:class:`pydantic.TypeAdapter` built from its own annotations: nested protocol
messages keep their own (signed) encoding, enums become their values, tuples
lists, and ``bytes`` fields annotated :data:`HexBytes` lowercase hex. The
stored bytes are those the hand-written methods wrote
(``tests/vault/test_record_json.py`` pins them), so existing vaults still load.

``from_json`` raises :class:`pydantic.ValidationError` (a ``ValueError``) for
data of the wrong shape; callers that load sealed records already treat a
``ValueError`` as a corrupt record.
"""

from __future__ import annotations

from typing import Annotated, Any, Self, TypeVar

from pydantic import BeforeValidator, PlainSerializer, TypeAdapter

__all__ = ["HexBytes", "JsonRecord", "parse_record"]

T = TypeVar("T")


def _from_hex(value: Any) -> Any:
    return bytes.fromhex(value) if isinstance(value, str) else value


#: ``bytes`` in Python, lowercase hex in JSON.
HexBytes = Annotated[
    bytes, BeforeValidator(_from_hex), PlainSerializer(bytes.hex, when_used="json")
]


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[T]) -> TypeAdapter[T]:
    # Built on first use, not at import: a schema costs milliseconds to build.
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def parse_record(cls: type[T], data: Any) -> T:
    """``cls.from_json(data)`` without an override: for the overrides that add checks.

    (A ``slots=True`` dataclass is a new class, so ``super()`` in its methods fails.)
    """
    return _adapter(cls).validate_python(data)


class JsonRecord:
    """Mixin for a dataclass: ``to_json`` and ``from_json`` from its field annotations."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON values (see the module docstring)."""
        data = _adapter(type(self)).dump_python(self, mode="json")
        assert isinstance(data, dict)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """The record that :meth:`to_json` wrote; raises ``pydantic.ValidationError``."""
        return parse_record(cls, data)
