"""Running the product on a server: the command's version and help, production settings
from the environment, health endpoints and logs."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dj_database_url
import pytest
import yaml
from django.contrib.auth.decorators import login_not_required
from django.test import Client
from django.urls import path

from crm_scorecard import __version__
from crm_scorecard import urls as root_urls
from crm_scorecard.cli import main


@pytest.mark.parametrize("argv", [["--version"], ["version"], ["serve", "--version"]])
def test_version_is_the_products(argv, capsys):
    # Given the installed product
    # When its version is asked for, of the command or of one of its commands
    main(argv)
    # Then it is the product's one version, the one its package metadata carries
    assert capsys.readouterr().out == f"crm-scorecard {__version__}\n"
    assert version("crm-scorecard") == __version__


@pytest.mark.parametrize("argv", [[], ["help"], ["--help"]])
def test_help_lists_the_products_commands_not_djangos_developer_ones(argv, capsys):
    # Given the command
    # When its help is asked for
    main(argv)
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    # Then it lists the product's commands and the administrator's few, with what they do
    assert {"serve", "import", "compute", "scorecard", "migrate", "createsuperuser"} <= listed
    assert "Serve the web app" in out
    # and none of Django's developer commands
    assert not listed & {"makemigrations", "startapp", "runserver", "squashmigrations", "test"}


def test_help_all_lists_djangos_commands_too(capsys):
    # Given the command
    # When all commands are asked for
    main(["help", "--all"])
    out = capsys.readouterr().out
    # Then Django's developer commands are listed as well
    assert "makemigrations" in out and "startapp" in out and "serve" in out


# -- production settings from the environment ------------------------------------------

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "crm_scorecard.settings.production",
    "SECRET_KEY": "production-test-key-8Gq2vX7mP4zR9tL1wK6nB3cJ5hD0yF-aSe",
    "ALLOWED_HOSTS": "crm.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://crm.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "SECURE_HSTS_SECONDS": "31536000",
    "EMAIL_URL": "smtp+tls://crm%40example.com:p%40ss%20w%27rd@mail.example.com",
    "CACHE_URL": "redis://127.0.0.1:6379/15",
    "CRM_CURRENCY": "USD",
    "TIME_ZONE": "Europe/Berlin",
}
COMMAND = str(Path(sys.executable).parent / "crm-scorecard")


def _environ() -> dict[str, str]:
    """This process's environment without what only the test run sets: the browser tests
    allow Django's ORM inside Playwright's event loop, which a deployment check refuses."""
    return {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}


def _production_env(**changes: str | None) -> dict[str, str]:
    env = {**_environ(), **PRODUCTION, **{k: v for k, v in changes.items() if v is not None}}
    for name in [k for k, v in changes.items() if v is None]:
        env.pop(name, None)
    return env


def _settings(env: dict[str, str], *names: str) -> dict[str, Any]:
    """The named settings as a process started with `env` has them."""
    code = (
        "import json, sys; from django.conf import settings; "
        "print(json.dumps({n: getattr(settings, n) for n in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *names], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_check_deploy_is_clean_with_the_production_environment():
    # Given the production settings with every knob set as .env.example documents
    # When Django's deployment check runs, failing on any warning
    done = subprocess.run(
        [COMMAND, "check", "--deploy", "--fail-level", "WARNING"],
        env=_production_env(),
        capture_output=True,
        text=True,
    )
    # Then it finds nothing
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_names_what_is_missing():
    # Given production settings with no mail server and HTTPS redirect and HSTS turned off
    env = _production_env(EMAIL_URL=None, SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0")
    # When the deployment check runs
    done = subprocess.run(
        [COMMAND, "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    # Then it fails naming each
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "mail.E001" in output and "security.W008" in output and "security.W004" in output


def test_production_settings_come_from_the_environment():
    # Given the production environment
    # When the settings are read
    got = _settings(
        _production_env(),
        "CSRF_TRUSTED_ORIGINS",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "CACHES",
        "MAILERS",
        "CRM_CURRENCY",
        "TIME_ZONE",
        "DEBUG",
    )
    # Then each knob holds what the environment says
    assert got["CSRF_TRUSTED_ORIGINS"] == ["https://crm.example.com"]
    assert got["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert got["SECURE_SSL_REDIRECT"] is True and got["DEBUG"] is False
    assert (got["SECURE_HSTS_SECONDS"], got["SECURE_HSTS_INCLUDE_SUBDOMAINS"]) == (31536000, True)
    assert got["SESSION_COOKIE_SECURE"] is True and got["CSRF_COOKIE_SECURE"] is True
    cache = got["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/15"
    assert got["MAILERS"]["default"]["OPTIONS"] == {
        "host": "mail.example.com",
        "port": 587,
        "username": "crm@example.com",
        "password": "p@ss w'rd",
        "use_tls": True,
        "use_ssl": False,
        "timeout": 30,
    }
    assert (got["CRM_CURRENCY"], got["TIME_ZONE"]) == ("USD", "Europe/Berlin")


def test_file_cache_stays_the_default():
    # Given no CACHE_URL
    # When the settings are read
    got = _settings(_production_env(CACHE_URL=None), "CACHES")
    # Then the cache is the file cache
    assert got["CACHES"]["default"]["BACKEND"] == "crm_scorecard.filecache.FileCache"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SECURE_HSTS_SECONDS", "a year", "SECURE_HSTS_SECONDS='a year': use a whole number"),
        ("SECURE_SSL_REDIRECT", "maybe", "SECURE_SSL_REDIRECT='maybe': use 1 or 0"),
        ("CSRF_TRUSTED_ORIGINS", "crm.example.com", "'crm.example.com' is not an origin"),
        ("CACHE_URL", "memcached://cache:11211", "CACHE_URL starts with memcached://"),
        ("EMAIL_URL", "smtp+tls://", "EMAIL_URL starts with smtp+tls://"),
        ("SECURE_PROXY_SSL_HEADER", "X Forwarded", "name the header the proxy sets"),
    ],
)
def test_a_wrong_setting_stops_the_start_naming_it(name, value, message):
    # Given a production environment with one knob set wrongly
    env = _production_env(**{name: value})
    # When the command starts
    done = subprocess.run([COMMAND, "check"], env=env, capture_output=True, text=True)
    # Then it stops, saying which and what would do
    assert done.returncode != 0
    assert message in done.stderr


def test_file_cache_counts_its_files_once_per_interval_not_per_write(tmp_path, monkeypatch):
    from crm_scorecard import filecache

    # Given the file cache holding at most 10 entries, dropping a third when over
    cache = filecache.FileCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 10}})
    listings = []
    monkeypatch.setattr(
        cache,
        "_list_cache_files",
        lambda real=cache._list_cache_files: listings.append(1) or real(),
    )
    # When 100 entries are written at once
    for i in range(100):
        cache.set(f"key-{i}", i)
    # Then the folder was listed once (the first write), and every entry is there
    assert len(listings) == 1
    assert [cache.get(f"key-{i}") for i in range(100)] == list(range(100))
    # When a write comes after the interval
    later = time.monotonic() + filecache.CULL_SECONDS + 1
    monkeypatch.setattr(filecache.time, "monotonic", lambda: later)
    cache.set("key-100", 100)
    # Then the folder is counted again and a third of its 100 files dropped: 67 + the new one
    assert len(listings) == 2
    assert len(list(tmp_path.glob("*.djcache"))) == 68


@pytest.mark.django_db
def test_sessions_and_cache_live_in_redis_when_cache_url_says_so(settings, client, org):
    import redis

    from crm_scorecard.settings.env import cache_from_url

    # Given the cache in Redis (the server at 127.0.0.1:6379 .ci/run starts), under a
    # key prefix of this test's own
    prefix = f"crm-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": cache_from_url("redis://127.0.0.1:6379/15", file_location="", key_prefix=prefix)
    }
    server = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        # When a user signs in and opens a page
        client.force_login(org.sales_manager)
        response = client.get("/")
        # Then the page answers, and the session is in Redis under the prefix
        assert response.status_code == 200
        keys = [key.decode() for key in server.scan_iter(f"{prefix}:*")]
        assert any("django.contrib.sessions" in key for key in keys), keys
    finally:
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)


# -- probes ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_anyone_without_touching_the_database(client, django_assert_num_queries):
    # Given no one signed in
    # When the liveness probe asks
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    # Then the process answers, without a query and without being cached
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_answers_when_database_and_metrics_engine_can_read(client):
    # Given a migrated database and no one signed in
    # When the readiness probe asks
    response = client.get("/readyz", headers={"host": "10.1.2.3:8000"})
    # Then it is ready (even asked by an address that is not an allowed host)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "metrics": "ok"}


def test_readyz_is_unavailable_when_the_database_is_not(db, client, monkeypatch, capsys):
    from django.db import OperationalError, connections

    # Given a database that refuses connections
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(type(connections["default"]), "cursor", refuse)
        # When the readiness probe asks
        response = client.get("/readyz", headers={"X-Request-ID": "probe-1"})
        healthz = client.get("/healthz")
    # Then it answers 503 naming the database, and the liveness probe still answers
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unreachable: OperationalError",
    }
    assert healthz.status_code == 200
    # and the log says which request was unavailable
    assert "[request probe-1] Service Unavailable: /readyz" in capsys.readouterr().err


@pytest.mark.django_db
def test_readyz_is_unavailable_when_the_metrics_engine_cannot_read(client, settings, monkeypatch):
    # Given the metrics engine pointed at a Parquet folder that is not there
    monkeypatch.delenv("METRICS_ENGINE", raising=False)
    settings.METRICS_ENGINE = "parquet:/nonexistent/crm-parquet"
    # When the readiness probe asks
    response = client.get("/readyz")
    # Then it answers 503 naming the engine
    assert response.status_code == 503
    assert (
        response.json()["metrics"] == "cannot read (parquet:/nonexistent/crm-parquet): ValueError"
    )


@pytest.mark.django_db
def test_probes_only_answer_get(client):
    # Given no one signed in
    # When something posts to the probes
    # Then they refuse it
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405


# -- logs ----------------------------------------------------------------------------------


@login_not_required
def _failing_view(request):
    raise RuntimeError("the ledger does not balance")


urlpatterns = [path("boom", _failing_view), *root_urls.urlpatterns]


@pytest.mark.django_db
def test_a_server_error_is_logged_with_its_traceback_and_request_id(settings, capsys):
    # Given a page that fails, and a proxy that names each request
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    # When it is asked for
    response = client.get("/boom", headers={"X-Request-ID": "edge-7f3a.1"})
    err = capsys.readouterr().err
    # Then the user gets the error page, carrying the request's id
    assert response.status_code == 500
    assert response["X-Request-ID"] == "edge-7f3a.1"
    # and stderr has the error with its level, request id and traceback
    assert "ERROR django.request [request edge-7f3a.1] Internal Server Error: /boom" in err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: the ledger does not balance" in err


@pytest.mark.django_db
def test_a_request_without_a_usable_id_gets_a_new_one(client, capsys):
    # Given a request id that would forge a log line
    forged = "x\n2026-01-01 ERROR forged"
    # When a page is asked for with it, and one without any
    given = client.get("/healthz", headers={"X-Request-ID": forged})["X-Request-ID"]
    fresh = client.get("/healthz")["X-Request-ID"]
    # Then each gets a new id of its own
    assert re.fullmatch(r"[0-9a-f]{32}", given) and re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert given != fresh


# -- the production server behind an HTTPS proxy -----------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ask(port: int, method: str, target: str, headers: dict[str, str], body: str = "") -> Any:
    """One request, redirects not followed; the response with its body read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, target, body=body or None, headers=headers)
        response = conn.getresponse()
        response.text = response.read().decode()
        return response
    finally:
        conn.close()


def _cookies(response: Any) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    """`crm-scorecard serve` under the production settings, on a database of its own with
    one user, as a reverse proxy at https://crm.example.com would reach it."""
    folder = tmp_path_factory.mktemp("production")
    with _own_database(folder) as database_url:
        yield from _serve(folder, database_url)


@contextmanager
def _own_database(folder: Path) -> Iterator[str]:
    """A database for the server: on the suite's PostgreSQL when it runs on one (a database
    named after the test database, made and dropped here), else a SQLite file."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{folder / 'crm.sqlite3'}"
        return
    import psycopg
    from django.conf import settings

    name = f"{settings.DATABASES['default']['TEST']['NAME']}_deploy"
    admin = dj_database_url.parse(url)
    server = {"host": admin["HOST"], "port": admin["PORT"] or 5432, "user": admin["USER"]}
    server["password"] = admin["PASSWORD"]

    def run(statement: str) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as conn:
            conn.execute(statement)

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _serve(folder: Path, database_url: str) -> Iterator[int]:
    env = _production_env(
        DATABASE_URL=database_url,
        CACHE_URL=f"file://{folder / 'cache'}",
        METRICS_MIRROR=str(folder / "columnar"),
        EMAIL_URL="console://",
    )
    env.pop("METRICS_ENGINE", None)
    subprocess.run([COMMAND, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [COMMAND, "createuser", "ana", "--level", "executive", "--password", "correct-horse-42"],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        [COMMAND, "serve", "--port", str(port), "--workers", "1", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(300):
            try:
                _ask(port, "GET", "/healthz", {})
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.communicate(timeout=30)


PROXIED = {"Host": "crm.example.com", "X-Forwarded-Proto": "https"}


def _sign_in(port: int, origin: str) -> Any:
    form = _ask(port, "GET", "/login/", PROXIED)
    token = _cookies(form)["csrftoken"]
    body = urlencode(
        {"csrfmiddlewaretoken": token, "username": "ana", "password": "correct-horse-42"}
    )
    return _ask(
        port,
        "POST",
        "/login/",
        {
            **PROXIED,
            "Origin": origin,
            "Cookie": f"csrftoken={token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body,
    )


def test_sign_in_behind_an_https_proxy_works(production_server):
    # Given the production server behind a proxy that ends HTTPS
    # When a user signs in from the page the browser loaded over https
    response = _sign_in(production_server, "https://crm.example.com")
    # Then they are signed in (not refused by the CSRF check), with a Secure session cookie
    assert response.status == 302, response.text[:500]
    assert response.headers["Location"] == "/"
    session = next(h for h in response.headers.get_all("Set-Cookie") if h.startswith("sessionid="))
    assert "Secure" in session and "HttpOnly" in session
    assert "includeSubDomains" in response.headers["Strict-Transport-Security"]


def test_sign_in_from_another_origin_is_still_refused(production_server):
    # Given the production server behind the proxy
    # When a form on another site posts the sign-in
    response = _sign_in(production_server, "https://evil.example.net")
    # Then CSRF protection refuses it
    assert response.status == 403


def test_plain_http_is_redirected_but_probes_answer(production_server):
    # Given the production server
    # When a browser asks over plain HTTP, and a probe asks by address
    page = _ask(production_server, "GET", "/login/", {"Host": "crm.example.com"})
    healthz = _ask(production_server, "GET", "/healthz", {"Host": "10.0.0.5:8000"})
    readyz = _ask(production_server, "GET", "/readyz", {"Host": "10.0.0.5:8000"})
    # Then the browser is sent to HTTPS, and the probes answer
    assert (page.status, page.headers["Location"]) == (301, "https://crm.example.com/login/")
    assert (healthz.status, json.loads(healthz.text)) == (200, {"status": "ok"})
    assert (readyz.status, json.loads(readyz.text)["status"]) == (200, "ok")


# -- .env.example ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
# Read by the settings but not for a production site: tests, development, and the older
# EMAIL_HOST… spelling that EMAIL_URL replaces (still honoured).
NOT_FOR_PRODUCTION = {
    "CRM_TEST_TAG",
    "CRM_TEST_RUN",
    "PYTEST_XDIST_TESTRUNUID",
    "PYTEST_XDIST_WORKER",
    "DEBUG",
    "STATIC_ROOT",
    "CRM_CACHE_DIR",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
}


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_env_example_documents_every_setting_the_environment_can_change():
    # Given the names the settings read from the environment
    code = "\n".join(p.read_text() for p in (ROOT / "src/crm_scorecard/settings").glob("*.py"))
    read = set(
        re.findall(
            r"""(?:environ(?:\.get)?\(|environ\[|env_\w+\(|trusted_origins\(|proxy_ssl_header\()"([A-Z_]+)\"""",
            code,
        )
    )
    # When .env.example is read
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    # Then each is there (set, or shown commented out)
    assert "SECURE_HSTS_SECONDS" in read  # the pattern finds them
    assert read - NOT_FOR_PRODUCTION - documented == set()


def test_env_example_filled_in_passes_the_deployment_check():
    # Given .env.example with its two blanks filled in
    env = {**_environ(), **_env_example()}
    env |= {"SECRET_KEY": PRODUCTION["SECRET_KEY"], "POSTGRES_PASSWORD": "0123abcd"}
    env["DJANGO_SETTINGS_MODULE"] = "crm_scorecard.settings.production"
    # When Django's deployment check runs on it
    done = subprocess.run(
        [COMMAND, "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    # Then it finds nothing
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_runs_the_web_server_after_the_schema_on_postgresql():
    # Given the compose file (this machine cannot run containers: `docker compose up` is
    # checked by hand where it can, README "Run it in production")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    # When its services are read
    web, migrate, db = services["web"], services["migrate"], services["db"]
    # Then PostgreSQL is checked healthy before the schema is migrated, the web server
    # starts after that succeeded, and both read the same settings file and database
    assert set(services) == {"db", "migrate", "web", "worker"}
    assert db["image"].startswith("postgres:") and "healthcheck" in db
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert web["command"][:2] == ["crm-scorecard", "serve"]
    assert web["env_file"] == migrate["env_file"] == ".env"
    assert web["environment"]["DATABASE_URL"].startswith("postgres://crm:")
    # And the worker runs beside it on the same settings, once the schema is there
    worker = services["worker"]
    assert worker["command"] == ["crm-scorecard", "worker"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["env_file"] == ".env" and worker["environment"] == web["environment"]


def test_image_runs_the_products_wheel_as_a_user_without_privileges():
    # Given the Dockerfile
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    # When its instructions are read
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM")) :]
    # Then the image installs the wheel built in the first stage and runs as `crm`
    assert any("pip wheel" in line for line in lines)
    assert any("--no-index --find-links /wheels" in line for line in final)
    assert "USER crm" in final
    assert final[-1] == 'CMD ["crm-scorecard", "serve", "--host", "0.0.0.0", "--port", "8000"]'
