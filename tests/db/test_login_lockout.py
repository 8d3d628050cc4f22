"""Login guessing is bounded: django-axes locks a username out of the admin's and the browsable API's
login forms after AXES_FAILURE_LIMIT wrong passwords, refuses even the right one while locked, and
`manage.py axes_reset` unlocks."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client

LOGIN_FORMS = ["/admin/login/", "/api-auth/login/"]
LIMIT = 5  # AXES_FAILURE_LIMIT's default


@pytest.fixture
def staff(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # dozens of logins, quickly
    return User.objects.create_user("ops", password="right-password", is_staff=True)


def post_login(client: Client, url: str, password: str):
    return client.post(url, {"username": "ops", "password": password, "next": "/runs"})


@pytest.mark.parametrize("url", LOGIN_FORMS)
def test_wrong_passwords_lock_the_user_out_until_reset(url, staff):
    client = Client()
    answers = [post_login(client, url, "wrong") for _ in range(LIMIT)]
    assert [a.status_code for a in answers[:-1]] == [200] * (LIMIT - 1)  # the form again, with its error

    assert answers[-1].status_code == 429
    locked = post_login(client, url, "right-password")
    assert locked.status_code == 429 and b"too many login attempts" in locked.content
    assert "_auth_user_id" not in client.session

    call_command("axes_reset")
    unlocked = post_login(client, url, "right-password")
    assert unlocked.status_code == 302 and unlocked["Location"] == "/runs"
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_a_lockout_covers_both_login_forms(staff):
    client = Client()
    for _ in range(LIMIT):
        post_login(client, "/admin/login/", "wrong")
    assert post_login(client, "/api-auth/login/", "right-password").status_code == 429


def test_a_success_before_the_limit_clears_the_count(staff):
    client = Client()
    for _ in range(LIMIT - 1):
        post_login(client, "/admin/login/", "wrong")
    assert post_login(client, "/admin/login/", "right-password").status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):
        assert post_login(client, "/admin/login/", "wrong").status_code == 200
    assert post_login(client, "/admin/login/", "right-password").status_code == 302


def test_another_user_is_not_locked_out(staff):
    User.objects.create_user("other", password="other-password", is_staff=True)
    client = Client()
    for _ in range(LIMIT):
        post_login(client, "/admin/login/", "wrong")
    response = client.post("/admin/login/", {"username": "other", "password": "other-password", "next": "/runs"})
    assert response.status_code == 302


def test_the_test_clients_logins_still_work(staff):
    # force_login skips authentication; login() authenticates, and axes needs the request to do so.
    assert Client().login(request=HttpRequest(), username="ops", password="right-password")
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
