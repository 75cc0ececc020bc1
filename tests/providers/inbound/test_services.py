"""Storing replies and keeping the opt-out list: keywords, the campaign a reply answers,
and an opt-out failing the number's campaign messages that are still queued."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from providers.inbound.services import (
    ReplyInvalid,
    opt_out_add,
    opt_out_remove,
    reply_keyword,
    reply_receive,
)
from providers.models import Message, MessageEvent, OptOut, Reply
from providers.sending import claims
from tests.factories import queued

Status = Message.Status
NUMBER = "+919876543210"


@pytest.mark.parametrize(
    "text, action",
    [
        ("STOP", "opted_out"),
        ("stop", "opted_out"),
        ("  Unsubscribe me please", "opted_out"),
        ("STOP.", "opted_out"),
        ("quit", "opted_out"),
        ("START", "opted_in"),
        ("unstop", "opted_in"),
        ("Please stop", ""),
        ("STOPPED", ""),
        ("", ""),
    ],
)
def test_the_first_word_decides_in_any_case(text, action):
    assert reply_keyword(text) == action


def test_the_keywords_are_a_setting(settings, generic_provider):
    settings.SMSGATEWAY_OPT_OUT_KEYWORDS = ["BAND"]  # Hindi: "stop"
    settings.SMSGATEWAY_OPT_IN_KEYWORDS = ["CHALU"]

    band = reply_receive(provider=generic_provider, phone=NUMBER, text="band karo")
    stop = reply_receive(provider=generic_provider, phone="+919876543211", text="STOP")

    assert (band.action, stop.action) == ("opted_out", "")
    assert list(OptOut.objects.values_list("phone", flat=True)) == [NUMBER]
    assert reply_receive(provider=generic_provider, phone=NUMBER, text="Chalu").action == "opted_in"
    assert not OptOut.objects.exists()


def test_start_opts_the_number_back_in_and_it_may_be_messaged_again(generic_provider):
    reply_receive(provider=generic_provider, phone="9876543210", text="STOP")
    with pytest.raises(ValidationError, match="opted out"):
        queued(generic_provider, to=NUMBER)

    back = reply_receive(provider=generic_provider, phone="09876543210", text="START")

    assert back.action == "opted_in"
    assert queued(generic_provider, to=NUMBER).status == Status.QUEUED


def test_start_from_a_number_that_never_opted_out_changes_nothing(generic_provider):
    reply = reply_receive(provider=generic_provider, phone=NUMBER, text="START")

    assert reply.action == ""


def test_a_reply_answers_the_numbers_newest_campaign_message_of_the_last_7_days(
    generic_provider, campaign_messages
):
    [old] = campaign_messages("11", [NUMBER], Status.DELIVERED)
    Message.objects.filter(id=old.id).update(created_at=old.created_at - timedelta(days=8))
    campaign_messages("12", [NUMBER], Status.DELIVERED)
    campaign_messages("13", [NUMBER], Status.DELIVERED)
    queued(generic_provider, to=NUMBER)  # an OTP is no campaign

    reply = reply_receive(provider=generic_provider, phone=NUMBER, text="Yes!")
    other = reply_receive(provider=generic_provider, phone="+919876543219", text="Yes!")

    assert (reply.campaign_ref, other.campaign_ref) == ("13", "")


def test_a_reply_more_than_7_days_after_the_campaign_answers_none(
    generic_provider, campaign_messages
):
    [message] = campaign_messages("11", [NUMBER], Status.DELIVERED)
    Message.objects.filter(id=message.id).update(created_at=message.created_at - timedelta(days=8))

    assert reply_receive(provider=generic_provider, phone=NUMBER, text="Yes").campaign_ref == ""


def test_stop_fails_the_numbers_queued_campaign_messages_and_not_those_already_sent(
    generic_provider, campaign_messages
):
    [sent] = campaign_messages("21", [NUMBER], Status.SUBMITTED)
    [waiting, others] = campaign_messages("22", [NUMBER, "+919876543211"])

    reply_receive(provider=generic_provider, phone=NUMBER, text="STOP")

    waiting.refresh_from_db()
    assert (waiting.status, waiting.error_code) == (Status.FAILED, "opted_out")
    assert waiting.completed_at is not None
    [event] = MessageEvent.objects.filter(message=waiting)
    assert (event.source, event.status, event.code) == ("system", "failed", "opted_out")
    assert Message.objects.get(id=sent.id).status == Status.SUBMITTED
    assert Message.objects.get(id=others.id).status == Status.QUEUED
    # A dispatcher finds nothing of it to send.
    due = claims.messages_claim_due(
        lane_id=waiting.lane_id, limit=10, token=uuid.uuid4(), now=waiting.created_at + timedelta(1)
    )
    assert [m.to for m in due] == ["+919876543211"]


def test_a_message_being_sent_is_left_to_its_outcome(generic_provider, campaign_messages):
    [sending] = campaign_messages("23", [NUMBER], Status.SENDING)

    added = opt_out_add(phone=NUMBER, source="phone call")

    assert added.messages_failed == 0
    assert Message.objects.get(id=sending.id).status == Status.SENDING


def test_a_second_stop_keeps_the_first_opt_out(generic_provider):
    opt_out_add(phone=NUMBER, source="earlier", text="STOP")

    reply = reply_receive(provider=generic_provider, phone=NUMBER, text="STOP again")

    assert reply.action == "opted_out"
    assert list(OptOut.objects.values_list("source", "text")) == [("earlier", "STOP")]
    assert Reply.objects.count() == 1


def test_a_reply_naming_our_message_is_from_that_messages_number(
    generic_provider, campaign_messages
):
    [message] = campaign_messages("31", [NUMBER], Status.DELIVERED)

    reply = reply_receive(
        provider=generic_provider, phone="", text="Hi", message_ref=str(message.id)
    )

    assert (reply.phone, reply.campaign_ref) == (NUMBER, "31")
    with pytest.raises(ReplyInvalid, match="unknown message id"):
        reply_receive(provider=generic_provider, phone="", text="Hi", message_ref=str(uuid.uuid4()))


def test_removing_a_number_that_is_not_listed_says_so(db):
    assert opt_out_remove(phone=NUMBER) is False
