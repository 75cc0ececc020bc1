"""The pages we do not write ourselves (Swagger UI, the admin) also work under the CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_the_api_docs_render_under_the_csp(page: Page):
    page.goto("/api/docs/")
    expect(page.get_by_text("smsgateway API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/providers/").first).to_be_visible()


def test_the_admin_works_under_the_csp(page: Page, admin_user, generic_provider):
    page.goto("/admin/")
    page.get_by_label("Username").fill(admin_user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto(f"/admin/providers/provider/{generic_provider.pk}/change/")
    expect(page.get_by_label("Nickname")).to_have_value("Generic")
    page.goto("/admin/providers/message/")
    expect(page.get_by_role("heading", name="Select message to view")).to_be_visible()
