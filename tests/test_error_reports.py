"""Django's error reports (e-mails to ADMINS) never carry a provider's credentials.

A server error while a provider form is being saved would otherwise put the POSTed
password, header values and callback credentials, and the traceback's local variables,
into an e-mail.
"""

from __future__ import annotations

import json
import sys

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.debug import ExceptionReporter

from providers.models import Provider
from providers.sending.create import message_create
from tests.factories import provider_edit_data

SECRETS = ["typed-PASS-1x", "typed-USER-2y", "typed-HEADER-3z", "cb-USER-4w", "cb-PASS-5v"]


@pytest.fixture
def reporting(settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def posted_secrets(provider: Provider) -> dict:
    return provider_edit_data(
        provider,
        auth_type="basic",
        username="typed-USER-2y",
        password="typed-PASS-1x",
        header_key=[""],
        header_name=["X-Token"],
        header_value=["typed-HEADER-3z"],
        callback_auth="on",
        callback_username="cb-USER-4w",
        callback_password="cb-PASS-5v",
    )


def test_a_crash_while_saving_a_provider_mails_a_report_without_its_secrets(
    reporting, user, generic_provider, monkeypatch
):
    def crash(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Provider, "save", crash)
    client = Client(raise_request_exception=False)
    client.force_login(user)

    response = client.post(
        reverse("provider_edit", args=[generic_provider.pk]), posted_secrets(generic_provider)
    )

    assert response.status_code == 500
    assert len(mail.outbox) == 1
    report = mail.outbox[0]
    assert "disk full" in report.body
    assert "password = '********************'" in report.body  # the field is named, hidden
    everything = report.body + "".join(str(content) for content, _ in report.alternatives)
    for secret in SECRETS:
        assert secret not in everything


def test_the_full_html_report_hides_every_local_variable_and_secret_field(
    reporting, generic_provider
):
    request = RequestFactory().post(
        reverse("provider_edit", args=[generic_provider.pk]), posted_secrets(generic_provider)
    )
    # Locals a traceback would show (built, so the source lines it quotes do not hold them).
    password = "typed-PASS-" + "1x"  # noqa: F841
    values = {"value": "cb-PASS-" + "5v", "headers": {"X-Token": "typed-HEADER-" + "3z"}}
    try:
        raise RuntimeError("boom " + json.dumps(sorted(values)))
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()

    assert "boom" in html
    assert "Local vars" in html
    for secret in SECRETS:
        assert secret not in html


def test_with_debug_on_the_developer_still_sees_local_variables(settings, generic_provider):
    settings.DEBUG = True
    request = RequestFactory().get("/")
    clue = "a-local-the-developer-needs"  # noqa: F841
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        html = ExceptionReporter(request, *sys.exc_info()).get_traceback_html()

    assert "a-local-the-developer-needs" in html


def test_a_crash_in_the_dlr_callback_is_a_500_that_never_names_its_token(
    reporting, generic_provider, monkeypatch, caplog
):
    def crash(*args, **kwargs):
        raise RuntimeError("database went away")

    message = message_create(provider=generic_provider, to="+919876543210", body="Hi")
    monkeypatch.setattr("providers.dlr.clevertap.parse", crash)
    client = Client(raise_request_exception=False)
    token = generic_provider.callback_token

    response = client.post(
        f"/dlr/{token}/",
        data=json.dumps([{"event": "delivered", "data": [{"meta": str(message.id)}]}]),
        content_type="application/json",
    )

    assert response.status_code == 500  # the provider retries it later
    assert response.json()["status"] == "fail"
    assert "database went away" in caplog.text  # the operator still sees what went wrong
    assert token not in caplog.text
    assert not mail.outbox
