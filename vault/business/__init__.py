"""The business node: a long-running :class:`~vault.requester.Requester` with a control API.

``kluis business start`` runs :class:`BusinessNode` (:mod:`.node`); while it runs,
the ``kluis business …`` commands are clients of its control API (:mod:`.api`).
Built on the requester SDK, never beside it: the SDK stays usable on its own
(docs/architecture.md, D30).
"""

from vault.business.node import BusinessNode

__all__ = ["BusinessNode"]
