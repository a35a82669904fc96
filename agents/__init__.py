"""kluis agents: mandates, strategies, negotiation sessions, intent casting."""
