"""Running the product on a server: the command's version and help, production settings
from the environment, health endpoints and logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from crm_scorecard import __version__
from crm_scorecard.cli import main


def test_version_is_the_products(capsys):
    # Given the installed product
    # When its version is asked for
    main(["--version"])
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


def _production_env(**changes: str | None) -> dict[str, str]:
    env = {**os.environ, **PRODUCTION, **{k: v for k, v in changes.items() if v is not None}}
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
    assert got["CACHES"]["default"]["BACKEND"].endswith("FileBasedCache")


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
