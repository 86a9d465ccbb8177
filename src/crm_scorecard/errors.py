"""The domain's errors, one set for every layer.

Domain code (selectors, services, the engine) raises these and never an HTTP
exception; each face maps them once: the API in ``api.endpoints`` (404, 403, 422),
views in ``web.middleware`` (404 page, 403 page, 400), commands in ``cli.base``
(a ``CommandError`` and a non-zero exit).

``NotAllowed`` is also Django's ``PermissionDenied`` and ``Invalid`` also a
``ValueError``, so code that catches those keeps working.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied


class DomainError(Exception):
    """Base of the errors a user can be shown as they are."""


class NotFound(DomainError, LookupError):
    """No such object, or none the user may see (the two are not told apart)."""


class NotAllowed(DomainError, PermissionDenied):
    """The user may see the object but not do this to it."""


class Invalid(DomainError, ValueError):
    """The request is well formed but the rules refuse it."""
