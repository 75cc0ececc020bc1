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
    "intflag": "false",
    "alert": "1",
    "text": "$$Body",
    "dpi": "$$EntityID",
    "dtm": "$$TemplateID",
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
