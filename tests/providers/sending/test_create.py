"""Creating messages: checked, normalised, refused with the field named, de-duplicated."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from providers.models import Message, OptOut
from tests.factories import queued

Status = Message.Status


# --- creating messages


def test_a_new_message_is_queued_with_e164_number(generic_provider):
    message = queued(generic_provider, to="919876543210")
    assert message.status == Status.QUEUED
    assert message.to == "+919876543210"
    assert message.events.get().status == Status.QUEUED


def test_it_is_due_at_once_and_needs_no_task_of_its_own(generic_provider):
    from django_tasks_db.models import DBTaskResult

    message = queued(generic_provider)
    assert message.next_attempt_at <= timezone.now()
    assert not DBTaskResult.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"to": "12"}, "to"), ({"to": "not a number"}, "to"), ({"body": ""}, "body")],
)
def test_invalid_messages_are_refused_with_the_field_named(generic_provider, fields, field):
    with pytest.raises(ValidationError) as error:
        queued(generic_provider, **fields)
    assert field in error.value.message_dict
    assert not Message.objects.exists()


def test_a_custom_placeholder_needs_a_value(sinch_provider):
    with pytest.raises(ValidationError) as error:
        queued(sinch_provider)
    assert "$$AppID" in str(error.value.message_dict["variables"])


def test_an_opted_out_number_is_refused(generic_provider):
    OptOut.objects.create(phone="+919876543210")
    with pytest.raises(ValidationError, match="opted out"):
        queued(generic_provider)


def test_the_same_idempotency_key_returns_the_first_message(generic_provider, user):
    first = queued(generic_provider, created_by=user, idempotency_key="k-1")
    again = queued(generic_provider, created_by=user, idempotency_key="k-1", body="other")
    assert again.id == first.id
    assert Message.objects.count() == 1
