"""Every hard limit of the kluis wire protocol, in one place, each with its reason.

A limit here is a *protocol* limit: a peer that exceeds one is sending invalid
protocol and gets a typed error, never a crash and never an unbounded buffer.
Per-peer *rates* (requests per minute) are policy and live in the vault.

Three limits are owned by the module that enforces them and only re-exported
here, so that there is exactly one number for each: the frame size
(:mod:`protocol.framing`), and the JSON nesting depth and integer bound
(:mod:`protocol.canonical`).
"""

from __future__ import annotations

from .canonical import MAX_DEPTH as _CANONICAL_MAX_DEPTH
from .canonical import MAX_INT as _CANONICAL_MAX_INT
from .framing import MAX_FRAME_SIZE as _FRAMING_MAX_FRAME_SIZE

__all__ = [
    "MAX_DAYS",
    "MAX_ERROR_TEXT",
    "MAX_FIELDS_PER_SCOPE",
    "MAX_FRAME_SIZE",
    "MAX_ID_LENGTH",
    "MAX_INT",
    "MAX_JSON_DEPTH",
    "MAX_LIST_ITEMS",
    "MAX_NAME_CHARS",
    "MAX_NONCES_PER_PEER",
    "MAX_NONCES_TOTAL",
    "MAX_OFFER_TEXT",
    "MAX_PATH_DEPTH",
    "MAX_PATH_LENGTH",
    "MAX_PROFILE_BYTES",
    "MAX_PURPOSE_TEXT",
    "MAX_REASON_TEXT",
    "MAX_TEXT_FIELD_SMALL",
    "MAX_VALUES_PER_MESSAGE",
    "MAX_VALUE_CENTS",
    "MAX_VALUE_CHARS",
    "MAX_WAIT_MS",
    "MAX_WELL_KNOWN_BYTES",
    "MAX_WELL_KNOWN_PEERS",
    "NONCE_BYTES",
    "REPLAY_WINDOW_MS",
]

#: One frame's payload, in bytes. Checked on the length prefix *before* the
#: payload is buffered, so a hostile peer can make us hold at most this much.
#: 64 KiB holds any single request and a read of a few dozen typical fields.
MAX_FRAME_SIZE: int = _FRAMING_MAX_FRAME_SIZE

#: Deepest JSON nesting accepted on decode. Our deepest message nests 5 levels;
#: the bound keeps a recursive parser safe from ``[[[[...]]]]`` bombs.
MAX_JSON_DEPTH: int = _CANONICAL_MAX_DEPTH

#: Largest integer on the wire (2**53 - 1): the largest a JavaScript peer can
#: hold exactly, so a js-libp2p implementation reads the same number we signed.
MAX_INT: int = _CANONICAL_MAX_INT

#: Field patterns in one scope. A profile has tens of fields, not thousands; a
#: scope naming more is either a mistake or an attempt to hide one field in noise.
MAX_FIELDS_PER_SCOPE: int = 64

#: Characters in one dotted field path (``address.home.city``). Paths are typed
#: by people and shown in the dashboard; 128 is generous and bounds every lookup.
MAX_PATH_LENGTH: int = 128

#: Segments in one path. Profiles are shallow; deep paths only cost matching time.
MAX_PATH_DEPTH: int = 8

#: Field values in one read result, update batch or deletion receipt. A subtree
#: read may expand to many leaves; the frame limit still applies on top.
MAX_VALUES_PER_MESSAGE: int = 256

#: Characters in one string field value. Profile values are names, addresses,
#: e-mail addresses and the like; bigger blobs do not belong in a profile.
MAX_VALUE_CHARS: int = 2048

#: Items in one list-of-strings field value (e.g. ``interests``).
MAX_LIST_ITEMS: int = 64

#: Characters of the free-text part of a purpose. Long enough to explain, short
#: enough that the owner reads all of it before approving.
MAX_PURPOSE_TEXT: int = 500

#: Characters of an offer's description, for the same reason.
MAX_OFFER_TEXT: int = 500

#: Characters of a decision or revocation reason.
MAX_REASON_TEXT: int = 280

#: Characters of an error frame's message. Error messages never carry values.
MAX_ERROR_TEXT: int = 280

#: Characters of small free-text fields (jurisdiction, URLs in receipts).
MAX_TEXT_FIELD_SMALL: int = 200

#: Characters of an identifier (request, grant, receipt ids). We mint 32 hex chars.
MAX_ID_LENGTH: int = 64

#: Random bytes in a nonce (hex on the wire: twice as many characters). 128 bits
#: make an accidental collision across the replay window negligible.
NONCE_BYTES: int = 16

#: A signed message's ``ts`` must be within this many milliseconds of our clock,
#: either side. Two minutes tolerates ordinary clock skew; the replay guard only
#: needs to remember nonces for that long.
REPLAY_WINDOW_MS: int = 120_000

#: Nonces remembered per peer inside the window. Past that the peer is sending
#: more signed messages than any honest requester would, and is refused until old
#: nonces age out (refusing is safe; forgetting an unexpired nonce is not).
MAX_NONCES_PER_PEER: int = 4096

#: Nonces remembered across all peers: the replay guard's memory is bounded
#: no matter how many peer ids an attacker mints.
MAX_NONCES_TOTAL: int = 262_144

#: Longest grant duration and retention period, in days (ten years).
MAX_DAYS: int = 3650

#: Largest offer value, in integer cents (10 million in the main unit).
MAX_VALUE_CENTS: int = 1_000_000_000

#: Longest a requester may ask the vault to hold an ``await_decision`` long-poll.
MAX_WAIT_MS: int = 60_000

#: Characters of a business's display or legal name. A name is read at a glance
#: on a phone; longer ones are either a mistake or an attempt to push the part
#: that matters out of sight.
MAX_NAME_CHARS: int = 100

#: Bytes of a signed business profile (canonical JSON, signature included). It
#: travels inside every access request, so it must stay small next to the frame
#: limit; every field together fits in well under half of this.
MAX_PROFILE_BYTES: int = 2048

#: Bytes of a ``/.well-known/kluis.json`` file the vault will read. It lists peer
#: ids (about 55 bytes each); more than this is not a kluis file.
MAX_WELL_KNOWN_BYTES: int = 8192

#: Peer ids one ``.well-known`` file may list (a business with several nodes).
MAX_WELL_KNOWN_PEERS: int = 16
