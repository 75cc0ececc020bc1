"""REST API views: parse input, call providers.services, render output."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, Q, QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from providers import phones, services
from providers.models import Message, Provider

from .serializers import (
    DetailErrorSerializer,
    MessageCreateSerializer,
    MessageDetailSerializer,
    MessageFilterSerializer,
    MessageSerializer,
    ProviderSerializer,
    ProviderTestSmsResultSerializer,
    ProviderTestSmsSerializer,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255  # Message.idempotency_key
FIELD_ERRORS = OpenApiResponse(description="Invalid input: field name to list of errors.")
# The test SMS service names its errors after the message it creates.
TEST_SMS_FIELDS = {"to": "mobile", "body": "message"}


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        f"This {IDEMPOTENCY_HEADER} was already used for a different message; "
        "use a new key for a new message."
    )
    default_code = "idempotency_key_reused"


@extend_schema(tags=["providers"])
@extend_schema_view(
    create=extend_schema(responses={201: ProviderSerializer, 400: FIELD_ERRORS}),
    update=extend_schema(responses={200: ProviderSerializer, 400: FIELD_ERRORS}),
    partial_update=extend_schema(responses={200: ProviderSerializer, 400: FIELD_ERRORS}),
    destroy=extend_schema(
        responses={
            204: OpenApiResponse(description="Deleted."),
            409: OpenApiResponse(
                DetailErrorSerializer,
                description="The provider has messages and cannot be deleted.",
            ),
        }
    ),
)
class ProviderViewSet(viewsets.ModelViewSet):
    """SMS providers: their HTTP configuration, credentials and DLR callback URL."""

    queryset = Provider.objects.all()
    serializer_class = ProviderSerializer

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "test_sms":
            return ProviderTestSmsSerializer
        return ProviderSerializer

    def perform_destroy(self, instance: Provider) -> None:
        # Checked first: Django's PROTECT check would load every message into memory.
        count = instance.messages.count()
        if count:
            raise Conflict(
                f"{instance.nickname} has {count} message(s) and cannot be deleted: "
                "messages keep their provider for the delivery history."
            )
        try:
            instance.delete()
        except ProtectedError as exc:
            kinds = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
            raise Conflict(
                f"{instance.nickname} is still used by {', '.join(kinds)} and cannot be deleted."
            ) from exc

    @extend_schema(
        summary="Send a test SMS now",
        request=ProviderTestSmsSerializer,
        responses={200: ProviderTestSmsResultSerializer, 400: FIELD_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="test-sms")
    def test_sms(self, request: Request, pk: str | None = None) -> Response:
        """Send one SMS through this provider and answer with the provider's response.

        A provider failure (rejected credentials, timeout …) is a 200 with `ok` false;
        400 means the input was invalid and nothing was sent.
        """
        provider = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.test_sms_send(
            provider=provider,
            country_code=data["country_code"],
            mobile=data["mobile"],
            message=data["message"],
            template_id=data.get("template_id", ""),
            variables=data.get("variables") or {},
            user=request.user,
        )
        if result.errors:
            raise serializers.ValidationError(
                {TEST_SMS_FIELDS.get(name, name): errors for name, errors in result.errors.items()}
            )
        return Response(ProviderTestSmsResultSerializer(result).data)


@extend_schema(tags=["messages"])
@extend_schema_view(
    list=extend_schema(parameters=[MessageFilterSerializer]),
)
class MessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Messages: one SMS to one number, with its status and (on detail) its history."""

    queryset = Message.objects.order_by("-created_at", "-id")
    serializer_class = MessageSerializer

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "retrieve":
            return MessageDetailSerializer
        if self.action == "create":
            return MessageCreateSerializer
        return MessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        queryset = super().get_queryset()
        if self.action == "retrieve":
            return queryset.prefetch_related("events")
        return queryset

    def filter_queryset(self, queryset: QuerySet[Any, Any]) -> QuerySet[Any, Any]:
        if self.action != "list":
            return queryset
        params = MessageFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        if "status" in filters:
            queryset = queryset.filter(status=filters["status"])
        if "provider" in filters:
            queryset = queryset.filter(provider_id=filters["provider"])
        if filters.get("to"):
            queryset = queryset.filter(_number_filter(filters["to"]))
        return queryset

    @extend_schema(
        summary="Queue a message",
        request=MessageCreateSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Any unique string (e.g. a UUID). Retrying with the same key "
                "returns the first message instead of sending a second one.",
            )
        ],
        responses={
            202: MessageDetailSerializer,
            400: FIELD_ERRORS,
            422: OpenApiResponse(
                DetailErrorSerializer,
                description="The Idempotency-Key was already used for a different message.",
            ),
        },
    )
    def create(self, request: Request) -> Response:
        """Queue one SMS; it is sent in the background (answer 202, status `queued`).

        With an `Idempotency-Key` header, a retry of the same request (same provider,
        number, body, template id and variables) answers 202 with the message the first
        request created, and nothing more is sent. Reusing a key for a different request
        is a client error: 422, and nothing is created. Keys are per user.
        """
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
            raise serializers.ValidationError(
                {IDEMPOTENCY_HEADER: [f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]}
            )
        if "\x00" in key:
            # gunicorn refuses such a header; other servers pass it on, and PostgreSQL
            # cannot store it.
            raise serializers.ValidationError(
                {IDEMPOTENCY_HEADER: ["Null characters are not allowed."]}
            )
        try:
            message = services.message_create(
                provider=data["provider"],
                to=data["to"],
                body=data["body"],
                template_id=data["template_id"],
                variables=data["variables"],
                created_by=request.user,
                idempotency_key=key,
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        if key and not _same_request(message, data):
            raise IdempotencyKeyReused()
        location = reverse("api:message-detail", args=[message.pk], request=request)
        return Response(
            MessageDetailSerializer(message).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


def _same_request(message: Message, data: dict[str, Any]) -> bool:
    """Whether a message created earlier under an idempotency key matches this request."""
    try:
        to = phones.normalize(data["to"])
    except phones.InvalidNumber:
        return False  # the first request had a valid number, so this one differs
    return (
        message.provider_id == data["provider"].pk
        and message.to == to
        and message.body == data["body"]
        and message.template_id == data["template_id"]
        and message.variables == {str(name): value for name, value in data["variables"].items()}
    )


def _number_filter(typed: str) -> Q:
    """Match a number typed in any form against the stored E.164 numbers."""
    try:
        return Q(to=phones.normalize(typed))
    except phones.InvalidNumber:
        digits = "".join(ch for ch in typed if ch.isdigit()).lstrip("0")
        if not digits:
            raise serializers.ValidationError({"to": ["Enter a phone number."]}) from None
        # Without a country code (9876543210): the national number ends the E.164 form.
        return Q(to__endswith=digits)
