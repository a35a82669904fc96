"""Fixtures for runtime tests: real libp2p nodes on 127.0.0.1, always closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from protocol.listen import LOOPBACK
from protocol.runtime import Node
from protocol.signing import Identity

NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node() -> AsyncIterator[NodeFactory]:
    """Start nodes on loopback; every one is closed at teardown, even on failure."""
    started: list[Node] = []

    async def factory(**kwargs: Any) -> Node:
        kwargs.setdefault("listen", LOOPBACK)
        node = await Node.start(kwargs.pop("identity", None) or Identity.generate(), **kwargs)
        started.append(node)
        return node

    yield factory
    for node in reversed(started):
        await node.close()


@pytest.fixture
async def pair(make_node: NodeFactory) -> tuple[Node, Node]:
    """(server, client), already connected."""
    server = await make_node()
    client = await make_node()
    await client.connect(server.addrs[0])
    return server, client
