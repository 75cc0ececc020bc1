"""CleverTap's SMS failure codes (900-920) and what they mean."""

from __future__ import annotations

CLEVERTAP_FAILURE_CODES: dict[str, str] = {
    "900": "Other",
    "901": "DND failure",
    "902": "Spam",
    "903": "Blacklisted",
    "904": "System error",
    "905": "Subscriber error",
    "906": "Header blocked by DLT",
    "907": "Entity blocked by DLT",
    "908": "Template blocked by DLT",
    "909": "DLT consent failure",
    "910": "Invalid subscriber",
    "912": "Inbox full",
    "913": "NDNC rejected",
    "914": "Undelivered",
    "915": "Dropped",
    "916": "Expired",
    "917": "Force expired",
    "918": "Duplicate drop",
    "919": "DLT failure",
    "920": "URL not whitelisted",
}


def failure_meaning(code: str) -> str:
    """The CleverTap meaning of a failure code, or '' for codes outside 900-920."""
    return CLEVERTAP_FAILURE_CODES.get(str(code).strip(), "")
