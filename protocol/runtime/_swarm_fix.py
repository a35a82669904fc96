"""Work-arounds for py-libp2p 0.8.1 bugs that would take a long-running node down.

Each fix names its upstream cause and has a regression test
(``tests/protocol/runtime/test_reach_limits.py``). Remove a fix only together
with a py-libp2p release that has the cause fixed upstream.

**The inbound-slot leak** (the one that matters most). py-libp2p 0.8.1's
``Swarm._handle_inbound_connection`` takes one slot of ``_inbound_limiter``
(``max_connections - min_connections`` = 300 - 50 = 250 slots) and gives it
back when ``_do_handle_inbound_connection`` returns. That method upgrades the
connection and then awaits ``self.manager.wait_finished()`` as a "barrier" so
the TCP handler (and so the socket) stays alive. ``wait_finished()`` returns
only when the *whole swarm* stops, so every inbound connection keeps its slot
after it has closed: connection 251 is refused for the rest of the process's
life. :func:`install` replaces that method on the swarm instance with one that
waits for *this connection* to close (or the swarm to stop), so the slot comes
back with the connection.

**The close-time connection leak.** Stopping a host the way its ``run()``
context manager does (cancel the swarm's service, as :class:`~.node.Node`'s
cancel scope does) reaches ``Swarm.run``'s ``finally``, which tries to close
every connection *inside the cancelled scope*: ``SwarmConn.close()`` sets
``event_closed`` first, then Yamux's ``close()`` awaits ``streams_lock`` (a
checkpoint) and raises ``Cancelled`` before it sends GO_AWAY or closes the
socket. The later ``host.close()`` sees ``event_closed`` set and does nothing.
So every connection of a closed node stays ESTABLISHED at both ends (the fd
here; a per-peer slot at the peer: after 8 cycles py-libp2p refuses that
peer with "Established per peer limit exceeded"). :func:`close_connections`
closes them while nothing is cancelled yet; the node calls it before it
cancels its host.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from libp2p.abc import IMuxedConn
from libp2p.network.connection.raw_connection import RawConnection
from libp2p.stream_muxer.yamux.yamux import Yamux

__all__ = ["close_connections", "install"]

logger = logging.getLogger(__name__)

#: Marks a swarm we already fixed, so install() is idempotent.
_FIXED = "_kluis_inbound_fix"


def install(host: Any) -> None:
    """Fix ``host``'s swarm in place (instance attribute; the class is untouched)."""
    swarm = host.get_network()
    if getattr(swarm, _FIXED, False):
        return

    async def _do_handle_inbound_connection(
        read_write_closer: Any, maddr: Any, failure_event: Any
    ) -> None:
        await _handle_inbound(swarm, read_write_closer, maddr, failure_event)

    swarm._do_handle_inbound_connection = _do_handle_inbound_connection
    setattr(swarm, _FIXED, True)


async def _handle_inbound(swarm: Any, read_write_closer: Any, maddr: Any, failure: Any) -> None:
    """Upstream's ``_do_handle_inbound_connection`` with a per-connection barrier."""
    remote_maddr = swarm._build_remote_multiaddr(read_write_closer)
    if remote_maddr is not None and not await swarm.connection_gate.is_allowed(remote_maddr):
        await _close_quietly(read_write_closer)
        await _report_failure(swarm, failure)
        return
    raw_conn: Any = None
    try:
        if isinstance(read_write_closer, IMuxedConn):  # QUIC and friends: already muxed
            muxed: Any = read_write_closer
            await swarm.add_conn(muxed, direction="inbound")
        else:
            raw_conn = RawConnection(read_write_closer, False)
            muxed = await swarm.upgrade_inbound_raw_conn(raw_conn, maddr)
        await _until_closed(swarm, muxed)
    except Exception as exc:
        logger.debug("inbound connection failed: %s", type(exc).__name__)
        await _close_quietly(raw_conn if raw_conn is not None else read_write_closer)
        await _report_failure(swarm, failure)


async def _until_closed(swarm: Any, muxed: Any) -> None:
    """Return when this connection closes or the swarm stops, whichever is first."""
    conn = None
    for candidate in swarm.connections.get(muxed.peer_id, []):
        if getattr(candidate, "muxed_conn", None) is muxed:
            conn = candidate
            break
    if conn is None:
        return  # refused by a connection limit, or already gone
    async with trio.open_nursery() as nursery:

        async def swarm_stopped() -> None:
            await swarm.manager.wait_finished()
            nursery.cancel_scope.cancel()

        nursery.start_soon(swarm_stopped)
        await conn.event_closed.wait()
        nursery.cancel_scope.cancel()


async def _close_quietly(conn: Any) -> None:
    try:
        await conn.close()
    except Exception:
        logger.debug("closing a failed inbound connection failed", exc_info=True)


async def _report_failure(swarm: Any, failure: Any) -> None:
    failure.conn_incoming_error = True
    channel = getattr(swarm, "metric_send_channel", None)
    if channel is not None:
        try:
            await channel.send(failure)
        except Exception:
            logger.debug("metric channel send failed", exc_info=True)


async def close_connections(host: Any, timeout: float) -> None:
    """Close every connection of ``host``'s swarm, concurrently, within ``timeout`` s.

    Run it before the host's service is cancelled (see the module docstring):
    each close sends the muxer's GO_AWAY and closes the TCP socket, so the peer
    sees the FIN and drops the connection too.
    """
    swarm = host.get_network()
    conns = [conn for group in list(swarm.connections.values()) for conn in list(group)]
    if not conns:
        return
    with trio.move_on_after(timeout) as scope:
        async with trio.open_nursery() as nursery:
            for conn in conns:
                nursery.start_soon(_close_conn, conn)
    if scope.cancelled_caught:
        logger.debug("closing %d connection(s) timed out", len(conns))


async def _close_conn(conn: Any) -> None:
    """``conn.close()``, returning once its socket is closed (Yamux) or it returns.

    After the socket, upstream's close only sleeps a fixed 0.1 s twice (Yamux's
    and SwarmConn's "force a context switch") and tells notifees of the
    disconnect; the node is stopping, so waiting 200 ms for that per close is
    not worth it. The swarm's own shutdown clears its bookkeeping after us.
    """
    async with trio.open_nursery() as nursery:

        async def full_close() -> None:
            try:
                await conn.close()
            except Exception:
                logger.debug("closing a connection failed", exc_info=True)
            nursery.cancel_scope.cancel()

        async def socket_closed() -> None:
            # Yamux sets event_closed only after closing its socket (in close() and
            # in its read loop's cleanup). Mplex's read loop sets it on a peer's EOF
            # *before* our socket is closed, so an Mplex close runs to its end.
            if isinstance(conn.muxed_conn, Yamux):
                await conn.muxed_conn.event_closed.wait()
                nursery.cancel_scope.cancel()

        nursery.start_soon(full_close)
        nursery.start_soon(socket_closed)
