"""``kluis demo``: a whole local network, acted out step by step and checked."""
