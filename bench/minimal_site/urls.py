"""The product's URLs plus the least a view could do for a DLR (/bench/minimal-dlr/)
and for queueing a message (/bench/minimal-insert/): the baselines of those scenarios."""

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


@csrf_exempt
@require_POST
def minimal_insert(request: HttpRequest) -> HttpResponse:
    """Read a message from a JSON body and store it: one INSERT, no checks, no auth."""
    data = json.loads(request.body)
    message = Message.objects.create(
        provider_id=data["provider"], to=data["to"], body=data.get("body", "")
    )
    return JsonResponse({"id": str(message.id), "status": message.status}, status=202)


urlpatterns = [
    path("bench/minimal-dlr/", minimal_dlr),
    path("bench/minimal-insert/", minimal_insert),
    path("", include("smsgateway.urls")),
]
