"""Deleting a provider is refused the same way on every path while messages refer to it,
and succeeds the same way when none does."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from providers.config.services import ProviderInUse, provider_delete
from providers.models import Provider
from providers.sending.create import message_create

pytestmark = pytest.mark.django_db
REFUSED = "“Generic” has 1 message(s), so it cannot be deleted"


def by_dashboard(user, admin_user, provider):
    client = Client()
    client.force_login(user)
    return client.post(reverse("provider_delete", args=[provider.pk]), follow=True)


def by_api(user, admin_user, provider):
    api = APIClient()
    api.force_authenticate(user)
    return api.delete(f"/api/v1/providers/{provider.pk}/")


def by_admin(user, admin_user, provider):
    client = Client()
    client.force_login(admin_user)
    url = reverse("admin:providers_provider_delete", args=[provider.pk])
    return client.post(url, {"post": "yes"}, follow=True)


PATHS = [by_dashboard, by_api, by_admin]


@pytest.mark.parametrize("delete", PATHS)
def test_a_provider_with_messages_is_kept_with_the_same_reason(
    delete, user, admin_user, generic_provider
):
    message_create(provider=generic_provider, to="+919876543210", body="Hi")
    answer = delete(user, admin_user, generic_provider)
    body = answer.content.decode()
    assert REFUSED in body
    assert Provider.objects.filter(pk=generic_provider.pk).exists()


@pytest.mark.parametrize("delete", PATHS)
def test_a_provider_without_messages_is_deleted(delete, user, admin_user, generic_provider):
    delete(user, admin_user, generic_provider)
    assert not Provider.objects.filter(pk=generic_provider.pk).exists()


def test_the_refusal_counts_the_messages_without_loading_them(
    generic_provider, django_assert_max_num_queries
):
    for n in range(50):
        message_create(provider=generic_provider, to=f"+9198765000{n:02d}", body="Hi")
    with django_assert_max_num_queries(1), pytest.raises(ProviderInUse):
        provider_delete(provider=generic_provider)
