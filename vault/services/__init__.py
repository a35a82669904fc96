"""What a running vault does for and against peers: access and grants, the owner's rules and
consent receipts, contact and the inbox, the outbox and delivery, erasure, and the agents'
deals. Each module is one concern; :mod:`vault.node` wires them together."""
