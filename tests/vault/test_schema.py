"""Profile schema and value codec: property tests plus the documented error cases."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.limits import MAX_INT
from vault._exceptions import CorruptRecord, InvalidValue, UnknownField
from vault.store.profile import ProfileField, decode_field, encode_field
from vault.store.schema import (
    Address,
    Contact,
    Name,
    ProfileDocument,
    field_label,
    format_value,
    parse_text,
    resolve,
    schema_paths,
    validate_value,
)

SLUG = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
#: Profile text is one line: no control characters (issue 13, §4).
_NO_CONTROL = st.characters(blacklist_categories=["Cc", "Cs"], blacklist_characters="\u2028\u2029")
TEXT = st.text(_NO_CONTROL, min_size=1, max_size=40).filter(lambda s: s.strip() == s and s != "")
ITEM = (
    st.text(
        alphabet=st.characters(
            blacklist_characters=",\u2028\u2029", blacklist_categories=["Cc", "Cs"]
        ),
        min_size=1,
        max_size=15,
    )
    .map(str.strip)
    .filter(bool)
)
FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_INT, MAX_INT),
    st.text(max_size=50),
    st.lists(st.text(max_size=20), max_size=5),
)


@given(
    path=st.sampled_from(["contact.email", "interests", "custom.a.b"]),
    value=FIELD_VALUES,
    version=st.integers(0, 2**40),
    at=st.integers(0, 2**50),
)
def test_field_codec_round_trips(path: str, value: object, version: int, at: int) -> None:
    rec = ProfileField(path, value, version, at)  # type: ignore[arg-type]
    assert decode_field(path, encode_field(rec)) == rec


@given(raw=st.binary(max_size=60))
def test_field_codec_rejects_garbage_as_corrupt(raw: bytes) -> None:
    try:
        rec = decode_field("x", raw)
    except CorruptRecord as exc:
        assert exc.name == "x"
    else:
        assert isinstance(rec.version, int)


@given(label=SLUG, field=st.sampled_from(["street", "city", "region"]), text=TEXT)
def test_address_text_is_kept_and_idempotent(label: str, field: str, text: str) -> None:
    path = f"address.{label}.{field}"
    clean = validate_value(path, text)
    assert clean == text.strip()
    assert validate_value(path, clean) == clean


@given(
    key=SLUG,
    value=st.one_of(
        st.booleans(),
        st.integers(-MAX_INT, MAX_INT),
        st.from_regex(r"[a-z ]{1,20}", fullmatch=True),
    ),
)
def test_preference_text_round_trip(key: str, value: object) -> None:
    path = f"preferences.{key}"
    text = format_value(value)  # type: ignore[arg-type]
    parsed = parse_text(path, text)
    if isinstance(value, str) and value.strip().lower() in (
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
    ):
        return
    assert validate_value(path, parsed) == value


@given(items=st.lists(ITEM, min_size=1, max_size=8, unique=True))
def test_interest_list_round_trips_through_text(items: list[str]) -> None:
    clean = validate_value("interests", parse_text("interests", ", ".join(items)))
    assert clean == items
    assert parse_text("interests", format_value(clean)) == items


@given(day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()))
def test_birth_dates(day: dt.date) -> None:
    assert validate_value("birth_date", day.isoformat()) == day.isoformat()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("contact.email", "not-an-email"),
        ("contact.email", "a@b@c"),
        ("birth_date", "1990-02-30"),
        ("birth_date", "yesterday"),
        ("birth_date", "2999-01-01"),
        ("language", "english please"),
        ("address.home.country", "Netherlands"),
        ("contact.phone", "call me"),
        ("name.given", ""),
        ("name.given", "x" * 201),
    ],
)
def test_invalid_values_are_refused_without_echoing_them(path: str, value: str) -> None:
    with pytest.raises(InvalidValue) as info:
        validate_value(path, value)
    assert info.value.path == path
    assert value not in str(info.value) or len(value) < 4


@pytest.mark.parametrize(
    "path",
    [
        "foo",
        "contact",
        "contact.email.x",
        "address.Home.city",
        "address.home",
        "name.middle",
        "preferences",
        "custom",
        "custom.UPPER",
        "",
        "address..city",
    ],
)
def test_unknown_paths(path: str) -> None:
    with pytest.raises(UnknownField):
        resolve(path)


def test_normalisation() -> None:
    assert validate_value("language", "en_gb") == "en-GB"
    assert validate_value("address.work.country", "nl") == "NL"
    assert validate_value("interests", ["a", "b", "a"]) == ["a", "b"]
    assert parse_text("custom.shoe.size", "43") == 43
    assert parse_text("custom.code", "007") == "007"
    assert parse_text("preferences.newsletter", "yes") is True


def test_every_schema_path_resolves() -> None:
    for pattern in schema_paths():
        path = pattern.replace("<label>", "home").replace("<key...>", "a.b").replace("<key>", "k")
        assert resolve(path).path == path


def test_integers_stay_within_what_every_peer_reads_exactly() -> None:
    assert validate_value("custom.big", MAX_INT) == MAX_INT
    assert validate_value("custom.big", -MAX_INT) == -MAX_INT
    for big in (MAX_INT + 1, -MAX_INT - 1, int(parse_text("custom.big", "9" * 18))):
        with pytest.raises(InvalidValue):
            validate_value("custom.big", big)


def test_every_field_has_a_label_a_person_reads() -> None:
    """Labels come from the schema's titles (one source): every model field has one."""
    for model in (ProfileDocument, Name, Contact, Address):
        for name, field in model.model_fields.items():
            assert field.title, f"{model.__name__}.{name} has no title"
    assert field_label("address.home.city") == "City (home)"
    assert field_label("contact.email") == "E-mail"
    assert field_label("name.family") == "Family name"
    assert field_label("birth_date") == "Date of birth"
    assert field_label("preferences.dark_mode") == "Dark mode (preference)"
    assert field_label("custom.shoe_size") == "Shoe size (custom field)"
    for pattern in schema_paths():
        path = pattern.replace("<label>", "home").replace("<key...>", "x").replace("<key>", "x")
        label = field_label(path)
        assert label and "." not in label and "_" not in label, (path, label)
    with pytest.raises(UnknownField):
        field_label("totally.bogus")
