"""The media types the control API speaks, in a module with no imports, so that
the CLI's client can read an answer without importing the server (aiohttp)."""

__all__ = ["PROBLEM_JSON"]

#: An RFC 9457 problem answer.
PROBLEM_JSON = "application/problem+json"
