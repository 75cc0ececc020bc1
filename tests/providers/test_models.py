from __future__ import annotations

import pytest

from providers.models import Provider


@pytest.mark.django_db
def test_the_payload_template_keeps_its_key_order():
    # PostgreSQL's jsonb would re-order keys; the marketer's template must not change.
    payload = {"to": "$$To", "text": "$$Body", "meta": {"z": "1", "a": "2"}, "id": "$$MessageID"}
    provider = Provider.objects.create(
        nickname="o", endpoint="https://x.example/s", payload=payload
    )
    stored = Provider.objects.get(id=provider.id).payload
    assert list(stored) == ["to", "text", "meta", "id"]
    assert list(stored["meta"]) == ["z", "a"]
