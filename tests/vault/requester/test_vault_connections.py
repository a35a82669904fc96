"""A business may hold more vault connections than py-libp2p's default 256 dialled ones."""

from __future__ import annotations

from pathlib import Path

from protocol.listen import LOOPBACK
from vault.requester import Requester
from vault.requester._requester import MAX_VAULT_CONNECTIONS


async def test_the_requester_node_dials_up_to_its_own_ceiling(tmp_path: Path) -> None:
    async with Requester.ephemeral(tmp_path, listen=LOOPBACK, retention_interval=None) as biz:
        node = biz.link.node
        assert node is not None
        manager = node._host.get_network()._resource_manager  # type: ignore[attr-defined]
        limits = manager.connection_limits
        assert limits.max_established_outbound == MAX_VAULT_CONNECTIONS > 256
        assert limits.max_established_inbound == 256  # peer-controlled: py-libp2p's bound kept
        assert manager.limits.max_connections >= MAX_VAULT_CONNECTIONS
        swarm = node._host.get_network().connection_config  # type: ignore[attr-defined]
        assert swarm.max_connections >= MAX_VAULT_CONNECTIONS  # py-libp2p's own: 300
        assert swarm.high_watermark >= MAX_VAULT_CONNECTIONS  # its pruner starts above this
