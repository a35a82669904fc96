"""The profile schema: which dotted paths exist and what values they accept.

The schema is one pydantic model, :class:`ProfileDocument`. A field path walks
it: a model attribute per segment, and for a ``dict`` one segment as the key
(``address.<label>.city``, ``preferences.<key>``). ``custom.<anything>`` takes
the rest of the path as its key, so owners can add fields the schema does not
know. Anything else is an :class:`UnknownField`.

A value is validated by building the smallest document that holds it (every
model field is optional) and letting pydantic validate that; the normalised
JSON form (dates as ISO strings, e-mail domains lower-cased, ...) is what gets
stored. Error messages come from pydantic's ``msg`` only, never its ``input``,
so a rejected value does not leak into logs (the models also set
``hide_input_in_errors``, so even a raw ``str()`` of their errors holds no value).

**The vault stores only what the wire can carry.** Every bound here comes from
:mod:`protocol.limits`, the wire's own constants: integers within
±(2**53 − 1), at most ``MAX_LIST_ITEMS`` interests, text no longer than
``MAX_VALUE_CHARS``, no control characters. A value the wire would refuse
used to be stored, and then every read and update that touched it failed.
As a last check, the normalised value is validated against the wire's own
``FieldValue`` type (:func:`validate_value`), so the two cannot drift apart.

:func:`parse_text` turns CLI text into a typed value: comma-separated lists,
``true``/``false`` and integers for preference and custom fields.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import re
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import core_schema

from protocol import limits
from protocol.messages import FieldValue as WireFieldValue
from vault._exceptions import InvalidValue, UnknownField

if TYPE_CHECKING:
    EmailAddress = str
else:

    class EmailAddress:
        """pydantic's ``EmailStr`` (the same check, normalisation and JSON schema), but
        email-validator is imported at the first address checked, not when this module
        builds the profile schema: ``kluis get`` never checks one (issue 14 §2)."""

        @classmethod
        def __get_pydantic_core_schema__(
            cls, source: type[Any], handler: GetCoreSchemaHandler
        ) -> core_schema.CoreSchema:
            return core_schema.no_info_after_validator_function(
                cls._validate, core_schema.str_schema()
            )

        @classmethod
        def __get_pydantic_json_schema__(
            cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
        ) -> dict[str, Any]:
            field_schema = handler(schema)
            field_schema.update(type="string", format="email")
            return field_schema

        @staticmethod
        def _validate(value: str) -> str:
            from pydantic.networks import validate_email

            return validate_email(value)[1]


__all__ = [
    "Address",
    "Contact",
    "FieldSpec",
    "FieldValue",
    "Name",
    "ProfileDocument",
    "check_pattern",
    "describe_error",
    "field_label",
    "parse_text",
    "resolve",
    "schema_paths",
    "validate_value",
]

#: What a stored field holds once normalised (JSON-compatible).
FieldValue = str | int | bool | list[str]


class _RestOfPath:
    """Marker on a dict key type: the key is the whole remaining dotted path."""


#: Control characters (Unicode category Cc, which includes CR, LF and TAB), the
#: line and paragraph separators, and lone surrogates: a superset of what the wire
#: refuses in a value. Profile values are single lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

#: Characters in a text value of ``preferences`` and ``custom`` (names, streets and
#: the like stay at 200). Below the wire's :data:`~protocol.limits.MAX_VALUE_CHARS`.
MAX_SCALAR_TEXT = min(1000, limits.MAX_VALUE_CHARS)


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters (line breaks, tabs and the like) are not allowed")
    return value


def _wire_int(value: int) -> int:
    if not -limits.MAX_INT <= value <= limits.MAX_INT:
        raise ValueError(
            f"integers must be between -{limits.MAX_INT} and {limits.MAX_INT} (±(2^53 − 1))"
        )
    return value


SingleLine = AfterValidator(_single_line)
WireInt = Annotated[int, AfterValidator(_wire_int)]

_SLUG_RE = r"^[a-z][a-z0-9_-]{0,31}$"
Slug = Annotated[str, StringConstraints(pattern=_SLUG_RE)]
CustomKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}(\.[a-z][a-z0-9_-]{0,31}){0,7}$"),
    _RestOfPath(),
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine
]
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().-]{2,30}$")


def _phone(value: str) -> str:
    value = value.strip()
    if not _PHONE_RE.match(value) or sum(c.isdigit() for c in value) < 3:
        raise ValueError("expected a phone number such as +31 20 123 4567")
    return value


def _country(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z]{2}", value):
        raise ValueError("expected a two-letter ISO 3166 country code such as NL")
    return value.upper()


Phone = Annotated[str, AfterValidator(_phone)]
Country = Annotated[str, AfterValidator(_country)]
PostalCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16), SingleLine
]
Interest = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), SingleLine
]
Scalar = bool | WireInt | Annotated[str, StringConstraints(max_length=MAX_SCALAR_TEXT), SingleLine]

_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def _normalise_language(tag: str) -> str:
    """BCP-47-ish: ``en``, ``nl-NL``, ``zh-Hant-TW``; canonical case per subtag kind."""
    tag = tag.strip().replace("_", "-")
    if not _LANG_RE.match(tag):
        raise ValueError("expected a language tag such as en, nl-NL or zh-Hant-TW")
    first, *rest = tag.split("-")
    out = [first.lower()]
    for sub in rest:
        if len(sub) == 4 and sub.isalpha():
            out.append(sub.title())
        elif len(sub) == 2 and sub.isalpha():
            out.append(sub.upper())
        else:
            out.append(sub.lower())
    return "-".join(out)


Language = Annotated[str, AfterValidator(_normalise_language)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Name(_Strict):
    given: Text | None = Field(None, title="Given name")
    family: Text | None = Field(None, title="Family name")


class Contact(_Strict):
    email: EmailAddress | None = Field(None, title="E-mail")
    phone: Phone | None = Field(None, title="Phone")


class Address(_Strict):
    street: Text | None = Field(None, title="Street and number")
    city: Text | None = Field(None, title="City")
    postal_code: PostalCode | None = Field(None, title="Postal code")
    region: Text | None = Field(None, title="Region")
    country: Country | None = Field(None, title="Country")


class ProfileDocument(_Strict):
    """The standard profile. Every field is optional; ``custom`` is free-form.

    Every field has a ``title``: the one source of the label a person reads
    (:func:`field_label`), in the dashboard and anywhere else a path would be jargon.
    """

    name: Name | None = Field(None, title="Name")
    contact: Contact | None = Field(None, title="Contact")
    address: dict[Slug, Address] | None = Field(None, title="Address")
    birth_date: dt.date | None = Field(None, title="Date of birth")
    language: Language | None = Field(None, title="Language")
    preferences: dict[Slug, Scalar] | None = Field(None, title="Preference")
    interests: list[Interest] | None = Field(None, title="Interests")
    custom: dict[CustomKey, Scalar] | None = Field(None, title="Custom field")

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth_date(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not dt.date(1900, 1, 1) <= value <= dt.date.today():
            raise ValueError("a birth date between 1900-01-01 and today")
        return value

    @field_validator("interests")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            value = list(dict.fromkeys(value))
            if len(value) > limits.MAX_LIST_ITEMS:
                raise ValueError(f"at most {limits.MAX_LIST_ITEMS} interests")
        return value


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A resolved path: the document keys to reach it and the leaf's type."""

    path: str
    keys: tuple[str, ...]
    annotation: Any

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.annotation) is list

    @property
    def is_scalar(self) -> bool:
        """Preference and custom values: bool, int or str, picked from the text."""
        return bool in _union_args(self.annotation)


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def _strip_optional(tp: Any) -> Any:
    args = [a for a in _union_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 else tp


def _is_model(tp: Any) -> bool:
    return inspect.isclass(tp) and issubclass(tp, BaseModel)


def _takes_rest(key_tp: Any) -> bool:
    return any(isinstance(m, _RestOfPath) for m in getattr(key_tp, "__metadata__", ()))


_NOT_A_LEAF = "not a leaf; try one of its sub-fields"
_NEEDS_KEY = "needs a key after it"


def check_pattern(pattern: str) -> None:
    """Refuse (:class:`UnknownField`) a field pattern that can match no field of the schema.

    A pattern is a path (``contact.email``, ``custom.shoe_size``) or a part of
    the profile followed by ``.*`` (``address.*``, ``address.home.*``,
    ``preferences.*``). A request or a rule for ``totally.bogus`` could never
    be served, and approving it would only mislead the owner.
    """
    if not pattern.endswith(".*"):
        resolve(pattern)
        return
    part = pattern[:-2]
    try:
        resolve(part)
    except UnknownField as exc:
        if exc.hint in (_NOT_A_LEAF, _NEEDS_KEY):
            return  # a part of the profile with fields below it
        raise UnknownField(pattern, "no such part of the profile") from None
    raise UnknownField(pattern, f"{part} is one field, with nothing below it")


@functools.lru_cache(maxsize=4096)
def resolve(path: str) -> FieldSpec:
    """Map a dotted path onto the schema, or raise :class:`UnknownField`."""
    segments = path.split(".")
    tp: Any = ProfileDocument
    keys: list[str] = []
    i = 0
    while True:
        if _is_model(tp):
            if i == len(segments):
                raise UnknownField(path, _NOT_A_LEAF)
            field = tp.model_fields.get(segments[i])
            if field is None:
                raise UnknownField(path, "see `kluis set --help` for the schema")
            keys.append(segments[i])
            tp = _strip_optional(field.annotation)
            i += 1
        elif typing.get_origin(tp) is dict:
            key_tp, value_tp = typing.get_args(tp)
            if i == len(segments):
                raise UnknownField(path, _NEEDS_KEY)
            key = ".".join(segments[i:]) if _takes_rest(key_tp) else segments[i]
            try:
                TypeAdapter(key_tp).validate_python(key)
            except ValidationError as exc:
                raise UnknownField(
                    path, "keys are lowercase letters, digits, '-' and '_', up to 32 long"
                ) from exc
            keys.append(key)
            i = len(segments) if _takes_rest(key_tp) else i + 1
            tp = _strip_optional(value_tp)
        else:
            if i != len(segments):
                raise UnknownField(path, "the path goes past a leaf")
            return FieldSpec(path, tuple(keys), tp)


def _nest(keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc: Any = value
    for key in reversed(keys):
        doc = {key: doc}
    assert isinstance(doc, dict)
    return doc


#: Error types that only say "not this member of a union": a union of bool, int and
#: text reports one per member, and the useful one is the member the value *is*.
_TYPE_MISMATCH = frozenset(
    {"bool_type", "bool_parsing", "int_type", "int_parsing", "int_from_float", "string_type"}
)

_WIRE_VALUE: TypeAdapter[Any] = TypeAdapter(
    WireFieldValue, config=ConfigDict(hide_input_in_errors=True)
)


def describe_error(exc: ValidationError) -> str:
    """One line saying what is wrong, never the input (it is personal data)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return "rejected"
    best = next((e for e in errors if e.get("type") not in _TYPE_MISMATCH), errors[0])
    return str(best.get("msg", "rejected")).removeprefix("Value error, ")


def validate_value(path: str, value: Any) -> FieldValue:
    """Validate ``value`` for ``path`` and return its normalised, storable form."""
    spec = resolve(path)
    try:
        doc = ProfileDocument.model_validate(_nest(spec.keys, value))
    except ValidationError as exc:
        # ``from None`` on purpose: pydantic's error carries the rejected input, which is
        # personal data and must not ride along in a chained traceback.
        raise InvalidValue(path, describe_error(exc)) from None
    out: Any = doc.model_dump(mode="json")
    for key in spec.keys:
        out = out[key]
    if not (
        isinstance(out, bool | int | str)
        or (isinstance(out, list) and all(isinstance(x, str) for x in out))
    ):
        raise InvalidValue(path, "unsupported value type")
    try:  # the wire's own type, strictly: what is stored can always be sent
        _WIRE_VALUE.validate_python(tuple(out) if isinstance(out, list) else out, strict=True)
    except ValidationError as exc:
        raise InvalidValue(path, f"not representable on the wire: {describe_error(exc)}") from None
    return out


def parse_text(path: str, text: str) -> Any:
    """Turn command-line text into a value of the type ``path`` expects (not yet validated)."""
    spec = resolve(path)
    if spec.is_list:
        return [part.strip() for part in text.split(",") if part.strip()]
    if spec.is_scalar:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "on"):
            return True
        if lowered in ("false", "no", "off"):
            return False
        if re.fullmatch(r"-?(0|[1-9][0-9]{0,29})", text.strip()):  # too big: refused, not text
            return int(text.strip())
    return text


def format_value(value: FieldValue) -> str:
    """The inverse of :func:`parse_text` for display: lists comma-joined, bools lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def schema_paths() -> list[str]:
    """Every path pattern the schema accepts, for help texts."""
    out: list[str] = []

    def walk(tp: Any, prefix: str) -> None:
        tp = _strip_optional(tp)
        if _is_model(tp):
            for name, field in tp.model_fields.items():
                walk(field.annotation, f"{prefix}{name}.")
        elif typing.get_origin(tp) is dict:
            key_tp, value_tp = typing.get_args(tp)
            placeholder = (
                "<key...>"
                if _takes_rest(key_tp)
                else "<label>"
                if _is_model(_strip_optional(value_tp))
                else "<key>"
            )
            walk(value_tp, f"{prefix}{placeholder}.")
        else:
            out.append(prefix.rstrip("."))

    walk(ProfileDocument, "")
    return out


def _humanise(key: str) -> str:
    text = key.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


@functools.lru_cache(maxsize=4096)
def field_label(path: str) -> str:
    """What a person calls the field at ``path``, from the schema's titles.

    ``contact.email`` → "E-mail"; ``address.home.city`` → "City (home)": the leaf's
    title, with the owner's own keys on the way in brackets. A key that is itself
    the leaf (``preferences.dark_mode``, ``custom.shoe_size``) is the label, with its
    group's title: "Dark mode (preference)". Raises :class:`UnknownField` like
    :func:`resolve`.
    """
    spec = resolve(path)
    tp: Any = ProfileDocument
    title, keys = "", []
    for key in spec.keys:
        if _is_model(tp):
            field = tp.model_fields[key]
            title = field.title or _humanise(key)
            tp = _strip_optional(field.annotation)
        else:  # a dict: the key is the owner's own name
            tp = _strip_optional(typing.get_args(tp)[1])
            if _is_model(tp):
                keys.append(key)
            else:
                return f"{_humanise(key)} ({title.lower()})"
    return f"{title} ({', '.join(keys)})" if keys else title
