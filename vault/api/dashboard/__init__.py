"""The owner's local web dashboard (server-rendered; see :mod:`vault.api.dashboard.app`).

To add a page: write a handler decorated with :func:`~vault.api.dashboard.app.page`
(and form handlers with :func:`~vault.api.dashboard.app.action`) in a module of this
package, a template in ``templates/`` extending ``base.html``, and add the
module's name to :data:`PAGE_MODULES`.
"""

from __future__ import annotations

import importlib

from vault.api.dashboard.app import Ctx, Dashboard, Invalid, Page, action, endpoint, page

__all__ = ["PAGE_MODULES", "Ctx", "Dashboard", "Invalid", "Page", "action", "endpoint", "page"]

#: Modules whose import registers pages (``vault.api.dashboard.<name>``).
PAGE_MODULES = ("views", "features", "businesses")

for _name in PAGE_MODULES:
    importlib.import_module(f"{__name__}.{_name}")
