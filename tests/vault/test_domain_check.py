"""Domain verification against a local HTTPS server and a throwaway CA (127.0.0.1 only)."""

from __future__ import annotations

import asyncio

import pytest

from protocol import Identity
from protocol.business import well_known_document
from tests.conftest import ManualClock
from vault.services import domain_check
from vault.services.domain_check import (
    CHECKING,
    UNVERIFIED,
    VERIFIED,
    DomainVerifier,
    PublicOnlyResolver,
)

from .https_helpers import https_server

BIZ = Identity(b"\x21" * 32)
OTHER = Identity(b"\x22" * 32)


async def test_a_domain_that_names_the_peer_is_verified() -> None:
    async with https_server() as srv:
        srv.publish("despaak.nl", well_known_document(BIZ.peer_id, OTHER.peer_id))
        v = DomainVerifier(ManualClock(), ssl_context=srv.client_ssl, resolver=srv.resolver())
        try:
            check = await v.check(BIZ.peer_id, "despaak.nl")
            assert (check.status, check.reason) == (VERIFIED, "")
            assert v.result(BIZ.peer_id, "despaak.nl") == check
        finally:
            await v.aclose()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, well_known_document(OTHER.peer_id), {}), "names another peer"),
        ((404, b"", {}), "HTTP 404"),
        ((200, b"<html>hello</html>", {}), "not valid"),
        ((200, b" " * 9000, {}), "too large"),
        ((302, b"", {"Location": "https://other.example/.well-known/kluis.json"}), "elsewhere"),
        ((302, b"", {"Location": "http://despaak.nl/.well-known/kluis.json"}), "elsewhere"),
        ((302, b"", {"Location": "/.well-known/kluis.json"}), "too often"),
    ],
)
async def test_what_counts_as_unverified(
    answer: tuple[int, bytes, dict[str, str]], reason: str
) -> None:
    async with https_server() as srv:
        srv.answers["despaak.nl"] = answer
        srv.publish("other.example", well_known_document(BIZ.peer_id))
        v = DomainVerifier(ManualClock(), ssl_context=srv.client_ssl, resolver=srv.resolver())
        try:
            check = await v.check(BIZ.peer_id, "despaak.nl")
            assert check.status == UNVERIFIED
            assert reason in check.reason
        finally:
            await v.aclose()


async def test_a_redirect_on_the_same_domain_is_followed() -> None:
    async with https_server() as srv:
        srv.publish("despaak.nl/.well-known/kluis.json", b"", status=301, Location="/k.json")
        srv.publish("despaak.nl/k.json", well_known_document(BIZ.peer_id))
        v = DomainVerifier(ManualClock(), ssl_context=srv.client_ssl, resolver=srv.resolver())
        try:
            assert (await v.check(BIZ.peer_id, "despaak.nl")).status == VERIFIED
            # a redirect loop is bounded
            srv.publish("despaak.nl/k.json", b"", status=302, Location="/.well-known/kluis.json")
            assert (await v.check(BIZ.peer_id, "despaak.nl")).reason.endswith("too often")
        finally:
            await v.aclose()


async def test_a_certificate_for_another_name_fails() -> None:
    async with https_server(cert_hosts=("other.example",)) as srv:
        srv.publish("despaak.nl", well_known_document(BIZ.peer_id))
        v = DomainVerifier(ManualClock(), ssl_context=srv.client_ssl, resolver=srv.resolver())
        try:
            check = await v.check(BIZ.peer_id, "despaak.nl")
            assert check.status == UNVERIFIED and "certificate" in check.reason
        finally:
            await v.aclose()


async def test_the_system_trust_store_does_not_trust_the_test_ca() -> None:
    async with https_server() as srv:
        srv.publish("despaak.nl", well_known_document(BIZ.peer_id))
        v = DomainVerifier(ManualClock(), resolver=srv.resolver())  # default TLS context
        try:
            assert (await v.check(BIZ.peer_id, "despaak.nl")).status == UNVERIFIED
        finally:
            await v.aclose()


async def test_a_slow_domain_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain_check, "TOTAL_TIMEOUT_S", 0.3)
    async with https_server() as srv:
        srv.publish("despaak.nl", well_known_document(BIZ.peer_id))
        srv.delay_s = 2.0
        v = DomainVerifier(ManualClock(), ssl_context=srv.client_ssl, resolver=srv.resolver())
        try:
            check = await v.check(BIZ.peer_id, "despaak.nl")
            assert check.status == UNVERIFIED and "in time" in check.reason
        finally:
            await v.aclose()


async def test_background_checks_are_cached_and_expire() -> None:
    clock = ManualClock()
    async with https_server() as srv:
        srv.publish("despaak.nl", well_known_document(BIZ.peer_id))
        v = DomainVerifier(clock, ssl_context=srv.client_ssl, resolver=srv.resolver())
        try:
            assert v.result(BIZ.peer_id, "despaak.nl") is None
            assert v.schedule(BIZ.peer_id, "despaak.nl") is True
            assert v.schedule(BIZ.peer_id, "despaak.nl") is False  # one at a time
            assert v.result(BIZ.peer_id, "despaak.nl").status == CHECKING  # type: ignore[union-attr]
            for _ in range(200):
                hit = v.result(BIZ.peer_id, "despaak.nl")
                if hit is not None and hit.status != CHECKING:
                    break
                await asyncio.sleep(0.02)
            assert hit is not None and hit.status == VERIFIED
            assert v.schedule(BIZ.peer_id, "despaak.nl") is False  # fresh: no new fetch
            hits = srv.hits
            clock.advance(domain_check.OK_TTL_MS + 1)
            srv.publish("despaak.nl", well_known_document(OTHER.peer_id))
            assert v.result(BIZ.peer_id, "despaak.nl").status == VERIFIED  # type: ignore[union-attr]
            assert v.schedule(BIZ.peer_id, "despaak.nl") is True  # expired: re-check
            await asyncio.gather(*v._running.values())
            assert srv.hits == hits + 1
            assert v.result(BIZ.peer_id, "despaak.nl").status == UNVERIFIED  # type: ignore[union-attr]
        finally:
            await v.aclose()


async def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain_check, "MAX_ENTRIES", 3)
    v = DomainVerifier(ManualClock())
    for i in range(5):
        v._store(domain_check.DomainCheck(f"peer{i}", "x.example", VERIFIED, "", 0, 10**15))
    assert len(v._cache) == 3 and v.result("peer0", "x.example") is None
    await v.aclose()


async def test_the_default_resolver_refuses_private_addresses() -> None:
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(OSError, match="no public address"):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()
