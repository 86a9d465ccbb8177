"""Probes for load balancers, containers and monitoring, answered without signing in and
saying nothing about the data: `/healthz`, the process answers (touches no database, so a
database outage never restarts the web servers); `/readyz`, it can serve pages (the
database answers with the product's schema, and the metrics engine can read).

`ProbesFirst` answers both before the host check and the HTTPS redirect: a container's or
a load balancer's probe asks by IP address over plain HTTP, which the site itself refuses."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from crm_scorecard.metrics import api as metrics


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> str | None:
    """None when the database answers and has been migrated, else what is wrong."""
    try:
        if not MigrationRecorder(connection).migration_qs.exists():
            return "no schema yet: run `crm-scorecard migrate`"
    except DatabaseError as exc:
        return f"unreachable: {type(exc).__name__}"
    return None


def _metrics() -> str | None:
    """None when the metrics engine opens as it does for a page (the default engine: on
    its columnar mirror, or on the database while there is no mirror yet), else what is wrong."""
    try:
        with metrics.engine_for(sync=False):
            pass
    except Exception as exc:  # any failure to open means not ready, whatever raised it
        return f"cannot read ({metrics.engine_setting()}): {type(exc).__name__}"
    return None


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    problems = {"database": _database()}
    if problems["database"] is None:
        problems["metrics"] = _metrics()
    ready = not any(problems.values())
    checks = {name: problem or "ok" for name, problem in problems.items()}
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )


PROBES = {"/healthz": healthz, "/readyz": readyz}


class ProbesFirst:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        response: HttpResponse = self.get_response(request)
        return response
