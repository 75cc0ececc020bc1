"""The product's URLs plus /bench/minimal-dlr/, the least a DLR view could do."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from providers.models import Message


@csrf_exempt
@require_POST
def minimal_dlr(request: HttpRequest) -> HttpResponse:
    """Read the message id from a one-report CleverTap body, mark it delivered: one UPDATE."""
    record = json.loads(request.body)[0]["data"][0]
    updated = Message.objects.filter(id=record["meta"]).update(
        status=Message.Status.DELIVERED, updated_at=timezone.now()
    )
    return JsonResponse({"status": "success", "processed": updated})


urlpatterns = [
    path("bench/minimal-dlr/", minimal_dlr),
    path("", include("smsgateway.urls")),
]
