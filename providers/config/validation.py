"""Rules for a provider's configuration, shared by the dashboard form and the API."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypedDict

from providers.http.response_rules import response_rules_errors
from providers.http.transport import check_endpoint
from providers.sending.placeholders import find_placeholders

if TYPE_CHECKING:
    from providers.models import Provider


class PlaceholderRule(TypedDict):
    any_of: tuple[str, ...]
    message: str


HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Set by the transport itself; a template must not override them.
RESERVED_HEADERS = {"content-length", "host", "transfer-encoding", "connection"}
DLR_STATUSES = {"delivered", "failed", "submitted", ""}
# A custom inbound format's field names (from and text required).
INBOUND_MAPPING_KEYS = ("from", "to", "text", "time")
# Every writable field of a provider's configuration, in the order a person reads them:
# what the API writes, an export holds, and provider_config_errors checks.
PROVIDER_CONFIG_FIELDS = (
    "nickname",
    "kind",
    "request_type",
    "endpoint",
    "content_type",
    "auth_type",
    "username",
    "password",
    "oauth_token_url",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
    "oauth_extra",
    "headers",
    "payload",
    "number_format",
    "batch_enabled",
    "batch_key",
    "batch_size",
    "dlr_format",
    "dlr_mapping",
    "response",
    "callback_username",
    "callback_password",
    "inbound_format",
    "inbound_mapping",
)

# The placeholders a payload (with the endpoint) must use: at least one of each
# rule's names. The server checks these; the provider form gets them as data through
# `payload_rules()` (json_script) and warns as you type.
PAYLOAD_REQUIRED: tuple[PlaceholderRule, ...] = (
    {"any_of": ("To",), "message": "The payload must use $$To for the recipient's number."},
    {
        "any_of": ("Body", "TemplateID"),
        "message": "The payload must use $$Body or $$TemplateID (or both).",
    },
)
# GET and form requests send the payload as key-value pairs.
FLAT_PAYLOAD_MESSAGES = {
    "object": "GET and form payloads must be a JSON object of key-value pairs.",
    "flat": "GET and form payloads must be flat: no nested objects or arrays.",
}


def payload_rules() -> dict[str, Any]:
    """The payload rules the provider form checks as you type (for json_script)."""
    return {
        "required": [
            {"any_of": list(rule["any_of"]), "message": rule["message"]}
            for rule in PAYLOAD_REQUIRED
        ],
        "flat": dict(FLAT_PAYLOAD_MESSAGES),
    }


def provider_config_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    """Field errors for a provider configuration (empty when it may be saved).

    `data` holds the model's field names with Python values (payload parsed) and the
    effective secrets: on an edit, the stored password where none was typed.
    """
    errors: dict[str, list[str]] = {}

    def add(name: str, text: str) -> None:
        errors.setdefault(name, []).append(text)

    endpoint = str(data.get("endpoint") or "")
    if not endpoint:
        add("endpoint", "Enter the provider's HTTP endpoint.")
    else:
        problem = check_endpoint(endpoint)
        if problem:
            add("endpoint", problem)

    payload = data.get("payload")
    request_type = data.get("request_type", "POST")
    content_type = data.get("content_type", "json")
    if payload is None or payload == "" or payload == {}:
        add("payload", "Enter a JSON payload template.")
    else:
        names = find_placeholders(payload, endpoint)
        for rule in PAYLOAD_REQUIRED:
            if not any(name in names for name in rule["any_of"]):
                add("payload", rule["message"])
        flat = request_type == "GET" or content_type == "form"
        if flat:
            if not isinstance(payload, dict):
                add("payload", FLAT_PAYLOAD_MESSAGES["object"])
            elif any(isinstance(v, dict | list) for v in payload.values()):
                add("payload", FLAT_PAYLOAD_MESSAGES["flat"])

    if data.get("batch_enabled"):
        key = str(data.get("batch_key") or "")
        size = data.get("batch_size")
        if request_type != "POST" or content_type != "json":
            add("batch_enabled", "Batch mode needs a POST request with a JSON body.")
        if not key:
            add("batch_key", "Name the array that holds one record per message.")
        elif isinstance(payload, dict):
            records = payload.get(key)
            if (
                not isinstance(records, list)
                or len(records) != 1
                or not isinstance(records[0], dict)
            ):
                add(
                    "batch_key",
                    f'The payload needs "{key}": [ {{one record}} ] with exactly '
                    "one record template in the array.",
                )
            elif "To" not in find_placeholders(records[0]):
                add("batch_key", "The batch record must use $$To.")
        else:
            add("batch_key", "Batch mode needs the payload to be a JSON object.")
        if not isinstance(size, int) or not 1 <= size <= 1000:
            add("batch_size", "Records per request must be between 1 and 1,000.")
    elif data.get("batch_size") is not None and not 1 <= int(data["batch_size"]) <= 1000:
        add("batch_size", "Records per request must be between 1 and 1,000.")

    if data.get("auth_type") == "basic":
        if not data.get("username"):
            add("username", "Basic authentication needs a username.")
        if not data.get("password"):
            add("password", "Basic authentication needs a password.")

    uses_credentials = {"Username", "Password"} & set(find_placeholders(payload or {}))
    if uses_credentials and data.get("auth_type") != "basic":
        if "Username" in uses_credentials and not data.get("username"):
            add("username", "The payload uses $$Username: enter the username.")
        if "Password" in uses_credentials and not data.get("password"):
            add("password", "The payload uses $$Password: enter the password.")

    for name, texts in oauth_config_errors(data).items():
        for text in texts:
            add(name, text)

    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        add("headers", "Headers must be name/value pairs.")
    else:
        seen: set[str] = set()
        for name, value in headers.items():
            lowered = str(name).lower()
            if not HEADER_NAME_RE.match(str(name)):
                add("headers", f"{name!r} is not a valid header name.")
            elif lowered in RESERVED_HEADERS:
                add("headers", f"{name} is set automatically and cannot be overridden.")
            elif lowered in seen:
                add("headers", f"The header {name} is given twice.")
            if "\r" in str(value) or "\n" in str(value):
                add("headers", f"The value of {name} may not contain line breaks.")
            seen.add(lowered)

    callback_username = str(data.get("callback_username") or "")
    callback_password = str(data.get("callback_password") or "")
    if callback_username or callback_password:
        if not callback_username:
            add("callback_username", "Basic auth on the callback needs a username.")
        elif ":" in callback_username:
            add("callback_username", "A basic-auth username may not contain a colon.")
        if not callback_password:
            add("callback_password", "Basic auth on the callback needs a password.")

    if data.get("dlr_format") == "custom":
        mapping = data.get("dlr_mapping") or {}
        named = isinstance(mapping, dict) and (mapping.get("id") or mapping.get("provider_id"))
        if not named or not mapping.get("status"):
            add(
                "dlr_mapping",
                "A custom DLR format needs at least the status field name and the id"
                " (our message id) or provider_id (the provider's) field name.",
            )
        else:
            status_map = mapping.get("status_map") or {}
            valid = isinstance(status_map, dict) and all(
                isinstance(value, str) and value in DLR_STATUSES for value in status_map.values()
            )
            if not valid:
                add("dlr_mapping", "Status values must map to delivered, failed or submitted.")

    for problem in response_rules_errors(data.get("response")):
        add("response", problem)
    if data.get("inbound_format") == "custom":
        mapping = data.get("inbound_mapping") or {}
        if not isinstance(mapping, dict) or not mapping.get("from") or not mapping.get("text"):
            add(
                "inbound_mapping",
                "A custom inbound format needs at least the from and text field names.",
            )
    inbound_mapping = data.get("inbound_mapping", {})
    if not isinstance(inbound_mapping, dict) or not (
        set(inbound_mapping) <= set(INBOUND_MAPPING_KEYS)
        and all(isinstance(value, str) for value in inbound_mapping.values())
    ):
        add("inbound_mapping", 'The inbound mapping names fields: {"from", "to", "text", "time"}.')
    return errors


# oauthlib writes these into the token request itself.
OAUTH_RESERVED_KEYS = {"grant_type", "client_id", "client_secret", "scope"}


def oauth_config_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    """The rules of OAuth 2.0 client credentials (auth_type oauth2), and of $$AccessToken."""
    errors: dict[str, list[str]] = {}
    names = find_placeholders(data.get("payload") or {}, data.get("endpoint") or "")
    names += find_placeholders(data.get("headers") or {})
    if data.get("auth_type") != "oauth2":
        if "AccessToken" in names:
            errors["payload"] = ["$$AccessToken needs OAuth 2.0 authentication."]
        return errors
    token_url = str(data.get("oauth_token_url") or "").strip()
    if not token_url:
        errors["oauth_token_url"] = ["OAuth 2.0 needs the token URL."]
    elif problem := check_endpoint(token_url):
        errors["oauth_token_url"] = [problem.replace("The endpoint", "The token URL")]
    if not data.get("oauth_client_id"):
        errors["oauth_client_id"] = ["OAuth 2.0 needs the client id."]
    if not data.get("oauth_client_secret"):
        errors["oauth_client_secret"] = ["OAuth 2.0 needs the client secret."]
    extra = data.get("oauth_extra") or {}
    if not isinstance(extra, dict) or any(
        isinstance(value, dict | list) for value in extra.values()
    ):
        errors["oauth_extra"] = ["Extra token request values must be flat key-value pairs."]
    elif reserved := sorted(OAUTH_RESERVED_KEYS & set(map(str, extra))):
        errors["oauth_extra"] = [
            f"{', '.join(reserved)} cannot be set here: the client credentials fields send them."
        ]
    return errors


def nickname_taken(nickname: str, *, provider: Provider | None = None) -> str | None:
    """Why `nickname` cannot be this provider's: another one has it, in any case (the
    database's provider_nickname_unique constraint holds the same rule)."""
    from providers.models import Provider

    others = Provider.objects.filter(nickname__iexact=nickname.strip())
    if provider is not None and provider.pk:
        others = others.exclude(pk=provider.pk)
    if nickname.strip() and others.exists():
        return nickname_message(nickname)
    return None


def nickname_message(nickname: str) -> str:
    return f"A provider called “{nickname.strip()}” already exists."
