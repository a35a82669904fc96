"""The owner's local surfaces: the control API on 127.0.0.1 (routes, models, OpenAPI) and
the dashboard that shares its origin."""
