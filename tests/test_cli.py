"""The crm-scorecard command."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm_scorecard.accounts.models import Department, Level, User
from crm_scorecard.crm import models as m

pytestmark = pytest.mark.django_db


def test_demo_prepares_company_and_users_without_serving():
    # Given an empty database
    out = io.StringIO()
    # When the demo runs with --no-serve
    call_command(
        "demo", "--no-serve", "--customers", "40", "--months", "3", stdout=out, verbosity=0
    )
    # Then a company with departments and one user per level and department exists
    assert m.Customer.objects.count() == 40
    assert set(Department.objects.values_list("name", flat=True)) >= {
        "Sales",
        "Customer Service",
        "Marketing",
        "HR",
        "Call Centre",
    }
    assert User.objects.get(username="ceo").level == Level.EXECUTIVE
    agent = User.objects.get(username="service-agent")
    assert agent.check_password("demo") and [d.name for d in agent.departments.all()] == [
        "Call Centre"
    ]
    assert "service-agent" in out.getvalue()
    # And running it again reuses the company
    out = io.StringIO()
    call_command("demo", "--no-serve", stdout=out, verbosity=0)
    assert "Reusing" in out.getvalue() and m.Customer.objects.count() == 40


def test_createuser_adds_a_user_with_level_and_departments():
    # Given a department
    Department.objects.create(name="Sales")
    # When a user is created
    call_command(
        "createuser",
        "maria",
        "--level",
        "manager",
        "--department",
        "Sales",
        "--password",
        "a-long-Pass-phrase",
        stdout=io.StringIO(),
    )
    # Then they exist with that level and department
    user = User.objects.get(username="maria")
    assert user.level == "manager" and [d.name for d in user.departments.all()] == ["Sales"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "x",
                "--level",
                "manager",
                "--department",
                "Nowhere",
                "--password",
                "a-long-Pass-phrase",
            ],
            r"Unknown department\(s\): Nowhere",
        ),
        (
            ["x", "--level", "agent", "--password", "a-long-Pass-phrase"],
            "at least one --department",
        ),
        (["x", "--level", "executive", "--password", "short"], "too short"),
    ],
)
def test_createuser_explains_what_is_wrong(args, message):
    # Given nothing, when the command is given bad input, then it says what is wrong
    with pytest.raises(CommandError, match=message):
        call_command("createuser", *args, stdout=io.StringIO())
    assert not User.objects.filter(username="x").exists()


def test_seed_refuses_when_data_exists():
    # Given a seeded database
    call_command("seed", "--customers", "3", "--months", "2", "--no-progress", stdout=io.StringIO())
    # When seeding again, then it is refused with the way out
    with pytest.raises(CommandError, match="--replace"):
        call_command("seed", "--customers", "3", "--no-progress", stdout=io.StringIO())
    # And --replace starts over
    call_command(
        "seed",
        "--customers",
        "5",
        "--months",
        "2",
        "--replace",
        "--no-progress",
        stdout=io.StringIO(),
    )
    assert m.Customer.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_commands_name_migrate_when_the_schema_is_missing():
    # Given a database whose schema was rolled back
    call_command("migrate", "crm", "zero", verbosity=0)
    try:
        # When a product command runs, then it says to run migrate
        with pytest.raises(CommandError, match="run `crm-scorecard migrate`"):
            call_command("import", "customers", "nothing.csv")
    finally:
        call_command("migrate", verbosity=0)


def test_serve_runs_gunicorn_workers(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    # Given a free port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm_scorecard.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
    }
    command = Path(sys.executable).parent / "crm-scorecard"
    subprocess.run([str(command), "migrate"], env=env, check=True, capture_output=True)
    # When the app is served with two workers
    server = subprocess.Popen(
        [str(command), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    answer = None
    try:
        deadline = time.monotonic() + 60  # a start on a busy machine, not a speed check
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as r:
                    answer = (r.status, r.headers["Server"], r.read())
                break
            except OSError:
                time.sleep(0.1)
    finally:
        server.terminate()
        # gunicorn lets a worker finish for up to its graceful timeout (30 s) before it
        # kills it: a worker still booting on a busy machine held the stop past 20 s.
        output, _ = server.communicate(timeout=60)
    assert answer is not None, f"the server did not answer: {output}"
    status, server_header, body = answer
    # Then gunicorn answers the sign-in page, from two worker processes
    assert (status, server_header) == (200, "gunicorn")
    assert b"Sign in" in body or b"sign in" in body.lower()
    assert output.count("Booting worker") == 2, output
