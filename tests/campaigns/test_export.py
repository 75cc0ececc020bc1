from __future__ import annotations

import csv
import io

import pytest

from campaigns import selectors, services
from tests.factories import csv_file, make_campaign

pytestmark = pytest.mark.django_db


def test_the_export_has_one_row_per_recipient_and_safe_cells(generic_provider):
    campaign = make_campaign(generic_provider)
    services.upload_create(
        campaign=campaign,
        file=csv_file(
            'phone,first_name,note\n9876500001,=HYPERLINK("x"),@evil\n+14155550123,Bo,-5\n'
        ),
    )
    rows = list(selectors.campaign_export_rows(campaign=campaign))
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    parsed = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert [r["phone"] for r in parsed] == ["+919876500001", "+14155550123"]
    assert parsed[0]["field:first_name"] == '\'=HYPERLINK("x")'
    assert parsed[0]["field:note"] == "'@evil"
    assert parsed[1]["field:note"] == "-5"
    assert parsed[0]["status"] == "not sent"
