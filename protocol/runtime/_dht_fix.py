"""Work-arounds that make py-libp2p 0.8.1's Kad-DHT a private, signed-only kluis DHT.

Each fix names its upstream cause; regression tests are in
``tests/protocol/runtime/test_reach_dht.py``. Remove a fix only together with
a py-libp2p release that has the cause fixed upstream.

**Our own protocol id.** ``KadDHT(protocol_prefix=...)`` only changes which
*validation rules* apply: every module of ``libp2p.kad_dht`` imports the
constant ``common.PROTOCOL_ID`` (``/ipfs/kad/1.0.0``) by name and registers,
dials and checks peers with it. A kluis node would therefore answer and query
the public IPFS DHT's protocol: a stray IPFS peer could fill our routing
tables, and our nodes would serve theirs. :func:`install` rebinds that name in
each module that took a copy to :data:`KLUIS_DHT_PROTOCOL`, before any
:class:`~libp2p.kad_dht.kad_dht.KadDHT` is built. It is process-wide (the
constant is), which is what a kluis process wants: it has one DHT.

**Signed addresses only.** Upstream checks a ``signedRecord`` when a
``closerPeers`` entry carries one (signature, and record peer id = entry id),
but an entry *without* one has its ``addrs`` put in the peerstore as they
come: any DHT peer could tell us that a vault lives at an address of its
choosing (our dial would then fail Noise, but it is a dial to wherever the
liar wants, and a lookup that finds nothing). :func:`install` makes the
lookup keep only the addresses inside a valid signed peer record, and none
from an unsigned entry.

**Message size.** py-libp2p reads DHT messages up to 4 MiB
(``MAX_DHT_MESSAGE_SIZE``, bound into ``kad_dht`` at import); ours carry a few
peer records, so the bound is lowered to :data:`MAX_DHT_MESSAGE`.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from libp2p.custom_types import TProtocol
from libp2p.kad_dht import common as _common
from libp2p.kad_dht import kad_dht as _kad
from libp2p.kad_dht import peer_routing as _routing
from libp2p.kad_dht import provider_store as _providers
from libp2p.kad_dht import utils as _utils
from libp2p.kad_dht import value_store as _values
from libp2p.kad_dht.pb.kademlia_pb2 import Message
from libp2p.peer.envelope import consume_envelope

__all__ = ["KLUIS_DHT_PROTOCOL", "MAX_DHT_MESSAGE", "install", "signed_addrs_only"]

logger = logging.getLogger(__name__)

KLUIS_DHT_PROTOCOL: Final = TProtocol("/kluis/kad/1.0.0")
#: A DHT message is a handful of peer records; libp2p allows 4 MiB.
MAX_DHT_MESSAGE: Final = 64 * 1024

#: Modules of ``libp2p.kad_dht`` that hold their own binding of ``PROTOCOL_ID``.
_HOLDERS: Final = (_common, _kad, _routing, _values, _providers)
_upstream_consume = _utils.maybe_consume_signed_record


def signed_addrs_only(msg: Any, host: Any, peer_id: Any = None) -> bool:
    """Upstream's ``maybe_consume_signed_record``, keeping only signed addresses.

    For a ``closerPeers`` entry: no signed record means no addresses (the
    peer id stays, so the lookup may still ask it); a valid one replaces the
    entry's ``addrs`` by the record's, so nothing unsigned reaches the
    peerstore. Other messages go to upstream unchanged.
    """
    if not isinstance(msg, Message.Peer):
        return bool(_upstream_consume(msg, host, peer_id))
    if not msg.HasField("signedRecord"):
        del msg.addrs[:]
        return True
    if not _upstream_consume(msg, host, peer_id):
        del msg.addrs[:]
        return False
    try:
        _envelope, record = consume_envelope(msg.signedRecord, "libp2p-peer-record")
    except Exception:  # upstream just accepted it; be safe anyway
        del msg.addrs[:]
        return False
    del msg.addrs[:]
    msg.addrs.extend(addr.to_bytes() for addr in record.addrs)
    return True


def install() -> None:
    """Apply the fixes (idempotent); call before building a ``KadDHT``."""
    for module in _HOLDERS:
        module.PROTOCOL_ID = KLUIS_DHT_PROTOCOL  # type: ignore[attr-defined]
    for module in (_kad, _routing):
        module.MAX_DHT_MESSAGE_SIZE = MAX_DHT_MESSAGE  # type: ignore[attr-defined]
    _routing.maybe_consume_signed_record = signed_addrs_only
    _kad.maybe_consume_signed_record = signed_addrs_only
