"""The two bases of every wire message: :class:`Message` and :class:`Signed`.

They live apart from :mod:`protocol.messages` so that signed objects defined in
their own modules (the business profile) can be embedded *in* messages without
an import cycle. How signatures are made and checked is in
:mod:`protocol.messages` (:func:`~protocol.messages.sign`,
:func:`~protocol.messages.verify`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from .wire import Signature, WireModel

__all__ = ["Message", "Signed"]


class Message(WireModel):
    """Base of every wire message. ``type`` is the discriminator."""

    type: str


class Signed(Message):
    """A message carrying an Ed25519 signature by the peer named in :attr:`signer_field`."""

    #: The name of the peer-id field that says who signs this message.
    signer_field: ClassVar[str]

    #: Optional fields (added in a minor version) left out of the encoding when
    #: unset, so that older objects keep their exact bytes and signatures.
    omit_if_none: ClassVar[frozenset[str]] = frozenset()

    sig: Signature = ""

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if self.omit_if_none and isinstance(data, dict):
            for name in self.omit_if_none:
                if data.get(name, 0) is None:
                    del data[name]
        return data

    @property
    def signer(self) -> str:
        """The peer id that must have signed this message."""
        value = getattr(self, self.signer_field)
        assert isinstance(value, str)
        return value

    def embedded(self) -> tuple[Signed, ...]:
        """Signed objects carried inside this one; :func:`~protocol.messages.verify` checks
        each of them too, so a bad inner signature never rides on a good outer one."""
        return ()
