"""The Inbox page: every reply, newest first, searched by number or text and narrowed by
provider (or by campaign, from a campaign's page)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from providers.inbound.selectors import replies_list
from providers.models import Provider
from providers.pagination import CappedPaginator

REPLIES_PER_PAGE = 50


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:100]
    providers = list(Provider.objects.only("id", "nickname").order_by("nickname"))
    provider_id = _provider_id(request.GET.get("provider", ""), providers)
    campaign_ref = request.GET.get("campaign", "").strip()[:64]
    found = replies_list(search=search, provider_id=provider_id, campaign_ref=campaign_ref)
    page = CappedPaginator(found, REPLIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "providers/inbox.html",
        {
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
            "search": search,
            "providers": providers,
            "provider_id": provider_id,
            "campaign_ref": campaign_ref,
            "filtered": bool(search or provider_id or campaign_ref),
            "query": query.urlencode(),
        },
    )


def _provider_id(value: str, providers: list[Provider]) -> int | None:
    return next((p.pk for p in providers if str(p.pk) == value.strip()), None)
