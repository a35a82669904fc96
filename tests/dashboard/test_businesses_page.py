"""The Businesses page: labels everywhere, petnames, profile changes flagged until seen."""

from __future__ import annotations

import re

from protocol import Identity

from ..protocol.business_helpers import profile
from ..vault.access_helpers import access_request
from .conftest import Running
from .helpers import frame
from .test_dashboard import logged_in


async def test_businesses_are_named_petnamed_and_changes_flagged(running: Running) -> None:
    node = running.node
    biz = Identity.generate()
    evil = profile(biz, display_name="<b>Fietsenwinkel</b> De Spaak", website="")
    await frame(node, biz, access_request(biz, node.peer_id, ["contact.email"], business=evil))
    s, csrf = await logged_in(running)
    async with s:
        async with s.get(running.url + "/requests") as resp:
            html = await resp.text()
        assert (
            "&lt;b&gt;Fietsenwinkel&lt;/b&gt; De Spaak" in html and "<b>Fietsenwinkel" not in html
        )
        assert re.search(r'class="tag unverified">unverified<', html)
        async with s.get(running.url + "/requests?partial=1") as resp:
            assert resp.status == 200 and "De Spaak" in await resp.text()

        # a bidi override in a petname is refused inline; a plain one is saved
        url = f"{running.url}/businesses/{biz.peer_id}/petname"
        async with s.post(url, data={"csrf": csrf, "petname": "bike\u202eshop"}) as resp:
            assert resp.status == 400 and "invalid petname" in await resp.text()
        async with s.post(url, data={"csrf": csrf, "petname": "my bike shop"}) as resp:
            assert resp.status == 200 and "Saved: my bike shop" in await resp.text()
        assert node.businesses.label(biz.peer_id).petname == "my bike shop"

        # the business changes its policy: flagged (nav badge, diff) until the owner has seen it
        changed = profile(
            biz, display_name="<b>Fietsenwinkel</b> De Spaak", website="",
            privacy_policy_url="https://despaak.nl/new", issued_at=1_800_000_000_000,
        )  # fmt: skip
        await frame(
            node, biz, access_request(biz, node.peer_id, ["contact.email"], business=changed)
        )
        async with s.get(running.url + "/businesses") as resp:
            html = await resp.text()
        assert "This business changed its profile" in html
        assert "https://despaak.nl/privacy" in html and "https://despaak.nl/new" in html
        async with s.post(
            f"{running.url}/businesses/{biz.peer_id}/seen", data={"csrf": csrf}
        ) as resp:
            assert "This business changed its profile" not in await resp.text()
        assert node.businesses.changed(biz.peer_id) is False
        # without the CSRF token nothing changes
        async with s.post(url, data={"petname": "stolen"}) as resp:
            assert resp.status == 403
        assert node.businesses.label(biz.peer_id).petname == "my bike shop"
