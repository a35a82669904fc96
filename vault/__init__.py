"""kluis vault: the customer's node (store, profile, policy, audit, API, CLI) and the requester SDK."""
