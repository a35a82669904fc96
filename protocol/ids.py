"""Versioned libp2p protocol ids.

Every kluis stream protocol has an id of the form ``/kluis/<name>/<major>.<minor>.<patch>``
(semantic versioning). Two peers can talk when the name and the *major*
version match; a minor bump only adds optional things a peer may ignore.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ._exceptions import RemoteProtocolError

__all__ = [
    "ACCESS",
    "CONTACT",
    "DELIVERY",
    "NEGOTIATE",
    "ProtocolId",
    "is_compatible",
    "parse_protocol_id",
]

#: Access requests, decisions, grants, reads, subscriptions, revocation, deletion.
ACCESS = "/kluis/access/1.0.0"
#: Agent negotiation sessions.
NEGOTIATE = "/kluis/negotiate/1.0.0"
#: A business contacting the owner, within the contact rules.
CONTACT = "/kluis/contact/1.0.0"
#: Store-and-forward deliveries sealed to a recipient's key.
DELIVERY = "/kluis/deliver/1.0.0"

_PATTERN = re.compile(
    r"/kluis/([a-z][a-z0-9-]{0,31})/(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})"
)


class ProtocolId(NamedTuple):
    """A parsed protocol id."""

    name: str
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"/kluis/{self.name}/{self.major}.{self.minor}.{self.patch}"


def parse_protocol_id(text: str) -> ProtocolId:
    """Parse ``/kluis/<name>/<x.y.z>``; raises :class:`RemoteProtocolError` otherwise."""
    match = _PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise RemoteProtocolError("not a kluis protocol id")
    name, major, minor, patch = match.groups()
    return ProtocolId(name, int(major), int(minor), int(patch))


def is_compatible(offered: str, supported: str) -> bool:
    """True when both ids parse and share name and major version."""
    try:
        a, b = parse_protocol_id(offered), parse_protocol_id(supported)
    except RemoteProtocolError:
        return False
    return a.name == b.name and a.major == b.major
