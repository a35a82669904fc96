"""The signed business profile, the .well-known file, and the checks on names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol import (
    AccessRequest,
    MalformedFrame,
    Offer,
    Purpose,
    PurposeCode,
    Scope,
    SignatureError,
    canonical_dumps,
    dump_message,
    parse_message,
    sign,
    verify,
)
from protocol.business import (
    BusinessProfile,
    PostalAddress,
    parse_well_known,
    well_known_document,
)
from protocol.confusables import check_name, name_flags, skeleton
from protocol.limits import MAX_PROFILE_BYTES

from .business_helpers import NOW, profile
from .strategies import IDENTITIES

BIZ, VAULT, OTHER = IDENTITIES


def request(business: BusinessProfile | None, signer=BIZ) -> AccessRequest:  # type: ignore[no-untyped-def]
    return sign(
        AccessRequest(
            request_id="r1",
            requester=signer.peer_id,
            vault=VAULT.peer_id,
            scope=Scope.of(["contact.email"], ["read"]),
            purpose=Purpose(code=PurposeCode.DELIVERY_OF_GOODS),
            duration_days=30,
            retention_days=0,
            offer=Offer(),
            nonce="00" * 16,
            ts=NOW,
            business=business,
        ),
        signer,
    )


def test_profile_signs_verifies_and_names_its_domain() -> None:
    p = profile(BIZ)
    verify(p, BIZ.peer_id)
    assert p.domain == "despaak.nl"
    assert profile(BIZ, website="").domain is None
    with pytest.raises(SignatureError):
        verify(p.model_copy(update={"display_name": "Someone Else"}))
    with pytest.raises(SignatureError):
        verify(p, OTHER.peer_id)


def test_profile_travels_inside_an_access_request() -> None:
    req = request(profile(BIZ))
    back = parse_message(dump_message(req))
    assert isinstance(back, AccessRequest) and back.business == req.business
    verify(back, BIZ.peer_id)


def test_a_request_without_a_profile_keeps_its_old_bytes() -> None:
    # D7: new optional fields are omitted when unset, so older signatures stay valid.
    req = request(None)
    assert b'"business"' not in dump_message(req)


def test_a_bad_inner_signature_fails_the_request() -> None:
    forged = profile(BIZ).model_copy(update={"legal_name": "Forged Ltd"})
    req = request(forged)  # the outer signature is fine
    with pytest.raises(SignatureError):
        verify(req)


def test_a_profile_of_another_peer_is_refused() -> None:
    with pytest.raises(ValidationError):
        request(profile(OTHER))


@pytest.mark.parametrize(
    "changes",
    [
        {"display_name": "De Spaak\u202e"},  # bidi override
        {"display_name": "De\u200bSpaak"},  # zero-width space
        {"display_name": "De\u00a0Spaak"},  # no-break space
        {"display_name": " De Spaak"},
        {"display_name": "De  Spaak"},
        {"display_name": "Cafe\u0301"},  # not NFC
        {"display_name": ""},
        {"display_name": "x" * 101},
        {"legal_name": "Line\nbreak"},
        {"website": "http://despaak.nl"},
        {"website": "https://despaak.nl:8443"},
        {"website": "https://127.0.0.1"},
        {"website": "https://user@despaak.nl"},
        {"website": "https://dëspaak.nl"},  # IDN must be in xn-- form
        {"website": "https://localhost"},
        {"privacy_policy_url": "javascript:alert(1)"},
        {"contact_email": "not an address"},
        {"jurisdiction": "Netherlands"},
        {"phone": "0201234567"},
    ],
)
def test_bad_profiles_are_refused(changes: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        profile(BIZ, **changes)


def test_an_oversized_profile_is_refused() -> None:
    # Each field within its own limit, but together (3-byte characters) over the byte cap.
    han = "漢" * 100
    address = PostalAddress(street="漢" * 200, locality="漢" * 200, country="NL")
    with pytest.raises(ValidationError, match="at most"):
        profile(BIZ, display_name=han, legal_name=han, contact_name=han, address=address)
    assert len(canonical_dumps(profile(BIZ).model_dump(mode="json"))) < MAX_PROFILE_BYTES // 2


def test_a_profile_from_a_peer_is_checked_strictly() -> None:
    raw = canonical_dumps({**request(profile(BIZ)).model_dump(mode="json")})
    assert isinstance(parse_message(raw), AccessRequest)
    bad = raw.replace(b'"jurisdiction":"NL"', b'"jurisdiction":"nl"')
    with pytest.raises(MalformedFrame):
        parse_message(bad)


# -- .well-known -------------------------------------------------------------------


def test_well_known_round_trip() -> None:
    body = well_known_document(BIZ.peer_id, OTHER.peer_id)
    assert parse_well_known(body) == {BIZ.peer_id, OTHER.peer_id}
    assert parse_well_known(b'{"peer_ids": ["' + BIZ.peer_id.encode() + b'"], "v": 2}') == {
        BIZ.peer_id
    }


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"peer_ids": []}',
        b'{"peer_ids": ["not-a-peer"]}',
        b'{"peer_ids": "12D3KooW"}',
        b'{"peer_ids": [1.5]}',
        b" " * 9000,
    ],
)
def test_bad_well_known_files(body: bytes) -> None:
    with pytest.raises(MalformedFrame):
        parse_well_known(body)


# -- names -------------------------------------------------------------------------


def test_name_flags() -> None:
    assert name_flags("Fietsenwinkel De Spaak") == ()
    assert name_flags("Café Zoë") == ()
    assert name_flags("Fietsenwinkel De Spааk") == ("mixed_script",)  # Cyrillic а
    assert name_flags("Аррlе") == ("mixed_script",)
    assert name_flags("Аррсе") == ("looks_latin",)  # all Cyrillic, all look-alikes
    assert name_flags("Привет") == ()  # Cyrillic that does not pose as Latin
    assert name_flags("Sony ソニー") == ()  # Latin with Katakana is ordinary
    assert skeleton("De Spaak") == skeleton("de spааk") == skeleton("DE-SPAAK")


@given(st.text(max_size=40))
def test_check_name_never_lets_invisible_characters_through(text: str) -> None:
    try:
        check_name(text)
    except ValueError:
        return
    assert not any(ch in text for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in text)
    assert "\u200b" not in text and "\u200d" not in text
