"""The scrub check: what an operator's DLT scrubbing would refuse, and why."""

from __future__ import annotations

import pytest

from dlt import rules, services
from dlt.check import free_text_check, message_check
from dlt.models import Category, WhitelistEntry

pytestmark = pytest.mark.django_db


def whitelist(entity, value, *, kind=WhitelistEntry.Kind.URL, dynamic=False, headers=()):
    return services.whitelist_save(
        kind=kind, value=value, entity=entity, dynamic=dynamic, headers=headers
    )


# ---------------------------------------------------------------- each tag's rule


@pytest.mark.parametrize(
    "tag, value, error",
    [
        ("numeric", "482913", None),
        ("numeric", "48 29", "is not digits only"),
        ("numeric", "1,299", "is not digits only"),
        ("numeric", "-5", "is not digits only"),
        ("numeric", "", "is not digits only"),
        ("numeric", "४८२", "is not digits only"),
        ("alphanumeric", "ORD12345", None),
        ("alphanumeric", "Ravi", None),
        ("alphanumeric", "ORD-12345", "has characters other than letters and digits"),
        ("alphanumeric", "Ravi Kumar", "has characters other than letters and digits"),
        ("alphanumeric", "A" * 40, None),
        ("alphanumeric", "A" * 41, "is 41 characters; at most 40 are allowed"),
        ("var", "anything, even - symbols!", None),
        ("var", "x" * 30, None),
        ("var", "x" * 31, "is 31 characters; at most 30 are allowed"),
        ("email", "ravi@example.in", None),
        ("email", "ravi@", "is not a valid e-mail address"),
        ("url", "https://acme.in/o/1", None),
        ("url", "not a link", "is not a link"),
        ("cbn", "+91 1800 123 4567", None),
        ("cbn", "call us", "is not a phone number"),
    ],
)
def test_each_tag_checks_its_value_as_the_operators_publish(tag, value, error):
    assert rules.shape_error(tag, value) == error


def test_the_limits_are_settings(settings):
    settings.SMSGATEWAY_DLT_VAR_MAX_LENGTH = 50
    settings.SMSGATEWAY_DLT_ALPHANUMERIC_MAX_LENGTH = 10
    assert rules.shape_error("var", "x" * 45) is None
    assert rules.shape_error("alphanumeric", "A" * 11) == (
        "is 11 characters; at most 10 are allowed"
    )


def test_number_is_read_as_numeric_and_tags_ignore_case():
    parsed = rules.parse_template("OTP {#Number#} for {#VAR#}")
    assert parsed.tags == ("numeric", "var")


# ---------------------------------------------------------------- links


@pytest.mark.parametrize(
    "registered, dynamic, sent, allowed",
    [
        ("https://acme.in/offer", False, "https://acme.in/offer", True),
        ("https://acme.in/offer", False, "HTTPS://ACME.IN/offer", True),
        ("https://acme.in/offer", False, "https://acme.in/OFFER", False),
        ("https://acme.in/offer", False, "https://acme.in/offer?utm=sms", False),
        ("https://acme.in/offer", False, "https://acme.in/offer/2", False),
        ("https://acme.in/offer", False, "acme.in/offer", True),
        ("https://acme.in/offer", False, "http://acme.in/offer", False),
        ("https://acme.in", False, "https://acme.in/", True),
        ("https://acme.in/o/", True, "https://acme.in/o/12345", True),
        ("https://acme.in/o/", True, "https://Acme.in/o/12345?c=9", True),
        ("https://acme.in/o/", True, "https://acme.in/p/12345", False),
        ("https://acme.in/o?", True, "https://acme.in/o?id=5", True),
        ("https://acme.in/o/", True, "https://acme.in.evil.com/o/1", False),
    ],
)
def test_a_static_url_matches_exactly_and_a_dynamic_one_as_a_prefix(
    registered, dynamic, sent, allowed
):
    assert rules.url_allowed(sent, registered, dynamic=dynamic) is allowed


def test_links_are_found_anywhere_without_sentence_punctuation():
    text = "See https://acme.in/a, www.acme.in/b. or acme.in/c! Mail ravi@acme.in"
    assert rules.urls_in(text) == ["https://acme.in/a", "www.acme.in/b", "acme.in/c"]


# ---------------------------------------------------------------- a template and a header


def test_a_text_that_fits_its_template_passes(otp_template):
    result = message_check(
        "Your OTP is 482913. Do not share it. - Acme",
        sender_id="ACLALT",
        template_id=otp_template.template_id,
    )
    assert result.ok, result.errors
    assert result.category == Category.TRANSACTIONAL
    assert [(v.tag, v.value, v.ok) for v in result.variables] == [("numeric", "482913", True)]


def test_a_variable_that_does_not_fit_its_tag_is_named_with_its_reason(otp_template):
    result = message_check(
        "Your OTP is 48-29. Do not share it. - Acme",
        sender_id="ACLALT",
        template_id=otp_template.template_id,
    )
    assert not result.ok
    assert result.errors == ["variable 1 {#numeric#} '48-29' is not digits only"]
    assert result.variables[0].error == "is not digits only"


def test_a_text_whose_fixed_part_differs_says_where(otp_template):
    result = message_check(
        "Your code is 482913. Do not share it. - Acme", template_id=otp_template.template_id
    )
    assert result.errors == [
        "The message does not match template 1207160000000000101: "
        "the template's text 'Your OTP is' is not in the message."
    ]


def test_spacing_is_not_scrubbed(otp_template):
    result = message_check(
        "Your OTP is  482913.\nDo not share it. - Acme", template_id=otp_template.template_id
    )
    assert result.ok, result.errors


def test_a_url_variable_must_be_whitelisted_for_the_header(entity, offer_template, promo_header):
    text = "Hi Ravi, 20% off today: https://bit.ly/x - Acme"
    result = message_check(text, sender_id="567890", template_id=offer_template.template_id)
    assert result.errors == ["variable 3 {#url#} 'https://bit.ly/x' is not whitelisted for 567890"]

    whitelist(entity, "https://bit.ly/x")
    assert message_check(text, sender_id="567890", template_id=offer_template.template_id).ok


def test_an_entry_tied_to_other_headers_does_not_whitelist_for_this_one(
    entity, offer_template, promo_header
):
    other = services.header_save(sender_id="567891", category="promotional", entity=entity)
    whitelist(entity, "https://acme.in/sale", headers=[other])
    text = "Hi Ravi, 20% off today: https://acme.in/sale - Acme"
    result = message_check(text, sender_id="567890", template_id=offer_template.template_id)
    assert not result.ok
    whitelist(entity, "https://acme.in/", dynamic=True, headers=[promo_header])
    assert message_check(text, sender_id="567890", template_id=offer_template.template_id).ok


def test_an_entry_of_another_entity_does_not_whitelist(other_entity, offer_template):
    whitelist(other_entity, "https://acme.in/sale")
    text = "Hi Ravi, 20% off today: https://acme.in/sale - Acme"
    assert not message_check(text, template_id=offer_template.template_id).ok


def test_a_link_in_the_fixed_text_or_an_untyped_variable_must_be_whitelisted(entity, alert_header):
    template = services.template_save(
        template_id="1207160000000000303",
        entity=entity,
        headers=[alert_header],
        category=Category.TRANSACTIONAL,
        text="Track order {#var#} at https://acme.in/track",
    )
    result = message_check(
        "Track order see bit.ly/zz at https://acme.in/track", template_id=template.template_id
    )
    assert result.errors == [
        "The link 'bit.ly/zz' is not whitelisted for Acme Retail.",
        "The link 'https://acme.in/track' is not whitelisted for Acme Retail.",
    ]
    whitelist(entity, "https://acme.in/track")
    whitelist(entity, "https://bit.ly/zz")
    assert message_check(
        "Track order see bit.ly/zz at https://acme.in/track", template_id=template.template_id
    ).ok


def test_ott_links_and_callback_numbers_come_from_their_own_lists(entity, alert_header):
    template = services.template_save(
        template_id="1207160000000000404",
        entity=entity,
        headers=[alert_header],
        category=Category.SERVICE_IMPLICIT,
        text="Get the app {#urlott#} or call {#cbn#}",
    )
    text = "Get the app https://play.google.com/store/apps/details?id=in.acme or call 1800-123-4567"
    result = message_check(text, sender_id="ACLALT", template_id=template.template_id)
    assert result.errors == [
        "variable 1 {#urlott#} 'https://play.google.com/store/apps/details?id=in.acme' "
        "is not a whitelisted OTT/APK link for ACLALT",
        "variable 2 {#cbn#} '1800-123-4567' is not a whitelisted callback number for ACLALT",
    ]
    # A URL entry does not whitelist an OTT link, and numbers compare after normalisation.
    whitelist(entity, "https://play.google.com/store/apps/details?id=in.acme")
    whitelist(entity, "+91 18001234567", kind=WhitelistEntry.Kind.CBN)
    result = message_check(text, sender_id="ACLALT", template_id=template.template_id)
    assert [v.ok for v in result.variables] == [False, True]
    whitelist(
        entity,
        "https://play.google.com/store/apps/details?id=in.acme",
        kind=WhitelistEntry.Kind.URLOTT,
    )
    assert message_check(text, sender_id="ACLALT", template_id=template.template_id).ok


def test_an_email_variable_must_be_an_address(entity, alert_header):
    template = services.template_save(
        template_id="1207160000000000505",
        entity=entity,
        category=Category.TRANSACTIONAL,
        text="Write to {#email#} for help",
    )
    assert message_check("Write to help@acme.in for help", template_id=template.template_id).ok
    result = message_check("Write to help@ for help", template_id=template.template_id)
    assert result.errors == ["variable 1 {#email#} 'help@' is not a valid e-mail address"]


# ---------------------------------------------------------------- header and template fit


def test_a_promotional_template_needs_a_promotional_header(alert_header, offer_template):
    result = message_check(
        "Hi Ravi, 20% off today: https://acme.in - Acme",
        sender_id="ACLALT",
        template_id=offer_template.template_id,
    )
    assert "A promotional template needs a promotional header; ACLALT is transactional." in (
        result.errors
    )
    assert "Template 1207160000000000202 is not registered for header ACLALT." in result.errors


def test_a_service_template_may_go_through_a_transactional_header(entity, alert_header):
    template = services.template_save(
        template_id="1207160000000000606",
        entity=entity,
        headers=[alert_header],
        category=Category.SERVICE_EXPLICIT,
        text="Your balance is {#numeric#}",
    )
    assert message_check(
        "Your balance is 120", sender_id="aclalt", template_id=template.template_id
    ).ok


def test_header_and_template_must_belong_to_one_entity(other_entity, otp_template):
    services.header_save(sender_id="OTHERS", category="transactional", entity=other_entity)
    result = message_check(
        "Your OTP is 1. Do not share it. - Acme",
        sender_id="OTHERS",
        template_id=otp_template.template_id,
    )
    assert (
        "Header OTHERS belongs to entity 1201160000000000002; "
        "template 1207160000000000101 to 1201160000000000001."
    ) in result.errors


def test_an_inactive_header_or_template_and_unknown_ones_fail(otp_template, alert_header):
    text = "Your OTP is 1. Do not share it. - Acme"
    assert message_check(text, sender_id="NOPENO").errors[0] == (
        "Header NOPENO is not in the DLT registry."
    )
    assert message_check(text, template_id="999").errors == [
        "Template 999 is not in the DLT registry."
    ]
    services.header_save(
        header=alert_header,
        sender_id="ACLALT",
        category="transactional",
        entity=alert_header.entity,
        status="inactive",
    )
    result = message_check(text, sender_id="ACLALT", template_id=otp_template.template_id)
    assert result.errors == ["Header ACLALT is inactive."]


# ---------------------------------------------------------------- without a template id


def test_without_a_template_id_the_headers_approved_templates_are_tried(
    entity, alert_header, otp_template
):
    second = services.template_save(
        template_id="1207160000000000707",
        entity=entity,
        headers=[alert_header],
        category=Category.TRANSACTIONAL,
        text="Your OTP is {#var#}. Do not share it. - Acme",
    )
    result = message_check("Your OTP is 482913. Do not share it. - Acme", sender_id="ACLALT")
    assert result.ok
    assert sorted(result.matches) == [otp_template.template_id, second.template_id]
    # Only the untyped template fits a code with letters.
    result = message_check("Your OTP is AB12. Do not share it. - Acme", sender_id="ACLALT")
    assert result.ok and result.matches == [second.template_id]


def test_without_a_template_id_the_closest_template_explains_the_failure(otp_template):
    result = message_check("Your OTP is 4 8. Do not share it. - Acme", sender_id="ACLALT")
    assert result.template_id == otp_template.template_id
    assert result.errors == ["variable 1 {#numeric#} '4 8' is not digits only"]


def test_a_text_that_matches_no_template_says_so(otp_template, offer_template):
    result = message_check("Hello there", sender_id="ACLALT")
    assert result.errors == [
        "The message does not match template 1207160000000000101: "
        "the template's text 'Your OTP is' is not in the message."
    ]
    result = message_check("Hello there")
    assert result.errors == ["The message matches none of the 2 approved templates."]


def test_a_template_typed_by_hand_checks_the_shape_of_each_variable():
    assert free_text_check("Hi {#var#}, order {#numeric#}", "Hi Ravi, order 55").ok
    result = free_text_check("Hi {#var#}, order {#numeric#}", "Hi Ravi, order 5A")
    assert result.errors == ["variable 2 {#numeric#} '5A' is not digits only"]
