"""Ready-made provider configurations offered in the Add Provider form."""

from __future__ import annotations

from typing import Any

SINCH_INDIA_ENDPOINT = "https://ap.awsigateway.com/v1/enterprises/messages.json"

# Sinch India (ACL) messages.json as configured in CleverTap. Credentials are
# placeholders filled from the provider's encrypted username and password.
SINCH_INDIA_PAYLOAD: dict[str, Any] = {
    "appid": "$$AppID",
    "userId": "$$Username",
    "pass": "$$Password",
    "contenttype": "1",
    "from": "$$SenderID",
    "to": "$$To",
    "selfid": "true",
    "msgid": "$$MessageID",
    "intflag": "$$International",
    "alert": "$$Alert",
    "text": "$$Body",
    "dpi": "$$EntityID",
    "dtm": "$$TemplateID",
}

# Sinch India's parameter for shortening the message's links ("1" to shorten).
SINCH_SHORTEN_KEY = "s"
# Constants older versions of the preset sent for every message, and the placeholders that
# now carry each message's own value: a promotional message was flagged transactional.
SINCH_INDIA_FLAGS = {"alert": ("1", "$$Alert"), "intflag": ("false", "$$International")}


def sinch_constant_flags(payload: Any) -> list[str]:
    """The keys of a Sinch India payload that still hold the old constants."""
    if not isinstance(payload, dict):
        return []
    return [key for key, (old, _) in SINCH_INDIA_FLAGS.items() if payload.get(key) == old]


def sinch_flags_fixed(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with each old constant replaced by its per-message placeholder (the
    order of the keys kept)."""
    return {
        key: SINCH_INDIA_FLAGS[key][1] if key in sinch_constant_flags(payload) else value
        for key, value in payload.items()
    }


# How Sinch India's messages.json answers (as the sandbox does): {"status": "success",
# "code": "200", "msgid": ..., "description": ...}, and {"status": "error", ...} with its
# own code when it refuses a message, sometimes inside an HTTP 200.
SINCH_INDIA_RESPONSE: dict[str, Any] = {
    "success": {"path": "status", "equals": ["success"]},
    "message_id": {"path": "msgid"},
    "error_code": {"path": "code"},
    "error_description": {"path": "description"},
    "transient_codes": ["500", "502", "503", "504"],
}

PRESETS: dict[str, dict[str, Any]] = {
    "sinch_india": {
        "kind": "sinch_india",
        "request_type": "POST",
        "endpoint": SINCH_INDIA_ENDPOINT,
        "content_type": "json",
        "auth_type": "none",
        "payload": SINCH_INDIA_PAYLOAD,
        "number_format": "digits",
        "dlr_format": "clevertap",
        "response": SINCH_INDIA_RESPONSE,
    },
    "generic": {
        "kind": "generic",
        "request_type": "POST",
        "endpoint": "",
        "content_type": "json",
        "auth_type": "none",
        "payload": {"to": "$$To", "text": "$$Body", "id": "$$MessageID"},
        "number_format": "digits",
        "dlr_format": "clevertap",
    },
}
