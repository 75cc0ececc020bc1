"""Who may call the API: token or session authentication, nobody anonymous."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

PROTECTED = [
    ("get", "/api/v1/providers/"),
    ("post", "/api/v1/providers/"),
    ("get", "/api/v1/providers/1/"),
    ("delete", "/api/v1/providers/1/"),
    ("post", "/api/v1/providers/1/test-sms/"),
    ("get", "/api/v1/messages/"),
    ("post", "/api/v1/messages/"),
    ("get", "/api/v1/messages/00000000-0000-0000-0000-000000000000/"),
]


@pytest.mark.parametrize(("method", "url"), PROTECTED)
def test_it_answers_401_without_credentials(anonymous_client, generic_provider, method, url):
    response = getattr(anonymous_client, method)(url, {}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_it_answers_401_for_an_unknown_token(anonymous_client, db):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert anonymous_client.get("/api/v1/providers/").status_code == 401


def test_a_token_authenticates(anonymous_client, user, generic_provider):
    token = Token.objects.create(user=user)
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    response = anonymous_client.get("/api/v1/providers/")

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_drf_create_token_makes_a_working_token(anonymous_client, user):
    call_command("drf_create_token", user.username, stdout=StringIO())
    token = Token.objects.get(user=user)
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    assert anonymous_client.get("/api/v1/messages/").status_code == 200


def test_a_signed_in_session_authenticates(client, user):
    client.force_login(user)

    assert client.get("/api/v1/providers/").status_code == 200
