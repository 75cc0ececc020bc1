"""The API of replies and the opt-out list: `/api/v1/inbound/` (replies, newest first)
and `/api/v1/opt-outs/` (list, add, remove by number). Writes go through
`providers.inbound.services`, as the inbound URL's and the admin's do."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from providers import phones
from providers.api.serializers import MAX_ID
from providers.inbound.selectors import replies_list
from providers.inbound.services import opt_out_add, opt_out_remove
from providers.models import OptOut, Reply


class ReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = Reply
        fields = [
            "id",
            "provider",
            "phone",
            "to",
            "text",
            "sent_at",
            "received_at",
            "campaign_ref",
            "action",
        ]
        read_only_fields = fields


class ReplyFilterSerializer(serializers.Serializer):
    """Query parameters of the reply list."""

    phone = serializers.CharField(
        required=False, max_length=64, help_text="The sender, as typed (+91 98765 43210 …)."
    )
    provider = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Provider id."
    )
    campaign = serializers.CharField(
        required=False, max_length=64, help_text="The campaign answered (its id)."
    )
    since = serializers.DateTimeField(
        required=False, help_text="Only replies received at or after this time (ISO 8601)."
    )

    def validate_phone(self, value: str) -> str:
        return _number(value)


@extend_schema(tags=["replies"])
@extend_schema_view(list=extend_schema(parameters=[ReplyFilterSerializer]))
class ReplyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Replies (MO) numbers sent to the providers' inbound URLs, newest first; `action`
    says whether a reply opted its number out (STOP) or back in (START)."""

    serializer_class = ReplySerializer

    def get_queryset(self) -> QuerySet[Reply]:
        return replies_list()

    def filter_queryset(self, queryset: QuerySet[Any, Any]) -> QuerySet[Any, Any]:
        if self.action != "list":
            return queryset
        params = ReplyFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        return replies_list(
            phone=filters.get("phone", ""),
            provider_id=filters.get("provider"),
            campaign_ref=filters.get("campaign", ""),
            since=filters.get("since"),
        )


class OptOutSerializer(serializers.ModelSerializer):
    phone = serializers.CharField(
        max_length=64, help_text="With the country code, e.g. +919876543210; stored in E.164."
    )

    class Meta:
        model = OptOut
        fields = ["phone", "source", "text", "created_at"]
        read_only_fields = ["created_at"]

    def validate_phone(self, value: str) -> str:
        return _number(value)


class OptOutAddedSerializer(OptOutSerializer):
    messages_failed = serializers.IntegerField(
        read_only=True,
        help_text="The number's campaign messages that were still queued and now will not be sent.",
    )

    class Meta(OptOutSerializer.Meta):
        fields = [*OptOutSerializer.Meta.fields, "messages_failed"]


@extend_schema(tags=["replies"])
@extend_schema_view(
    create=extend_schema(
        request=OptOutSerializer,
        responses={
            201: OptOutAddedSerializer,
            200: OpenApiResponse(OptOutAddedSerializer, description="Already on the list."),
        },
    ),
    destroy=extend_schema(
        responses={
            204: OpenApiResponse(description="Removed: the number may be messaged again."),
            404: OpenApiResponse(description="The number is not on the list."),
        }
    ),
)
class OptOutViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Numbers that may not be messaged. Adding one also fails its campaign messages still
    queued; removing one (a START by other means) lets it be messaged again."""

    queryset = OptOut.objects.order_by("-created_at", "-id")
    serializer_class = OptOutSerializer
    lookup_field = "phone"
    lookup_value_regex = "[^/]+"

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        added = opt_out_add(
            phone=data["phone"], source=data.get("source", "API"), text=data.get("text", "")
        )
        body = {
            **OptOutSerializer(added.opt_out).data,
            "messages_failed": added.messages_failed,
        }
        return Response(body, status=status.HTTP_201_CREATED if added.created else 200)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            number = phones.normalize(str(kwargs["phone"]))
        except phones.InvalidNumber as exc:
            raise Http404(str(exc)) from exc
        if not opt_out_remove(phone=number):
            raise Http404(f"{number} is not on the opt-out list.")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _number(typed: str) -> str:
    try:
        return phones.normalize(typed)
    except phones.InvalidNumber as exc:
        raise serializers.ValidationError(str(exc)) from exc
