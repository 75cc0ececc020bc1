"""REST API views: parse input, call the services (providers/config, providers/sending),
render output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse as django_reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response

from providers import phones
from providers.api.serializers import (
    DetailErrorSerializer,
    MessageCreateSerializer,
    MessageDetailSerializer,
    MessageFilterSerializer,
    MessageSerializer,
    ProviderSerializer,
    ProviderTestSmsResultSerializer,
    ProviderTestSmsSerializer,
    message_input,
)
from providers.config.services import ProviderInUse, provider_delete
from providers.models import Message, Provider
from providers.selectors import provider_reference_messages
from providers.sending import dlt_scrub
from providers.sending.create import (
    MAX_MESSAGES_PER_REQUEST,
    InvalidMessages,
    NewMessage,
    message_create,
    messages_create,
    messages_errors,
)
from providers.sending.send_now import test_sms_send
from smsgateway.process_cache import ProcessCache

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 255  # Message.idempotency_key
FIELD_ERRORS = OpenApiResponse(description="Invalid input: field name to list of errors.")
# The test SMS service names its errors after the message it creates.
TEST_SMS_FIELDS = {"to": "mobile", "body": "message"}


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class DltRejected(APIException):
    """Messages the operators would reject under India's DLT rules: 422 with the reasons."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "dlt_rejected"


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
        try:
            provider_delete(provider=instance)
        except ProviderInUse as exc:
            raise Conflict(str(exc)) from exc

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
        variables = data.get("variables") or {}
        # Sent all the same (a test may be meant to fail), with what DLT scrubbing would say.
        warnings = dlt_scrub.test_sms_warnings(
            body=data["message"],
            template_id=data.get("template_id", ""),
            sender_id=str(variables.get("SenderID", "")),
        )
        result = test_sms_send(
            provider=provider,
            country_code=data["country_code"],
            mobile=data["mobile"],
            message=data["message"],
            template_id=data.get("template_id", ""),
            variables=variables,
            user=request.user,
        )
        if result.errors:
            raise serializers.ValidationError(
                {TEST_SMS_FIELDS.get(name, name): errors for name, errors in result.errors.items()}
            )
        return Response({**ProviderTestSmsResultSerializer(result).data, "dlt_warnings": warnings})


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
        if filters.get("provider_message_id"):
            found = provider_reference_messages(queryset, filters["provider_message_id"])
            queryset = queryset.none() if found is None else found
        return queryset

    @extend_schema(
        summary="Queue a message, or up to 1,000",
        request=PolymorphicProxySerializer(
            component_name="MessageCreateOneOrMany",
            serializers=[MessageCreateSerializer, MessageCreateSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Any unique string (e.g. a UUID). Retrying with the same key "
                "returns the first request's messages instead of sending them again.",
            )
        ],
        responses={
            202: PolymorphicProxySerializer(
                component_name="MessageQueuedOneOrMany",
                serializers=[MessageDetailSerializer, MessageSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            ),
            400: FIELD_ERRORS,
            422: OpenApiResponse(
                description="The Idempotency-Key was already used for a different request "
                '(`{"detail": …}`), or the message names a template of the DLT registry and '
                "the operators would reject its text or header: "
                '`{"dlt": ["variable 1 {#numeric#} \'4 8\' is not digits only"]}` (for a '
                "list, under each rejected message's position). Nothing is queued.",
            ),
        },
    )
    def create(self, request: Request) -> Response:
        """Queue one SMS, or a JSON array of up to 1,000; they are sent in the background
        (answer 202, status `queued`).

        One message answers with the message (and a `Location` header); an array answers
        with an array of the messages in the same order. An array with an invalid item is
        refused whole: 400 with the errors of each invalid item under its position
        (`{"2": {"to": [...]}}`), and nothing of it is queued.

        With an `Idempotency-Key` header, a retry of the same request (same providers,
        numbers, bodies, template ids and variables) answers 202 with what the first
        request queued, and nothing more is sent. Reusing a key for a different request
        is a client error: 422, and nothing is queued. Keys are per user.
        """
        key = _idempotency_key(request)
        if isinstance(request.data, list):
            return self._create_many(request, request.data, key)
        (new,) = _new_messages([request.data], single=True)
        try:
            message = message_create(
                provider=new.provider,
                to=new.to,
                body=new.body,
                template_id=new.template_id,
                variables=new.variables,
                created_by=request.user,
                idempotency_key=key,
            )
        except DjangoValidationError as exc:
            if dlt_scrub.only_dlt(exc.message_dict):
                raise DltRejected(exc.message_dict) from exc
            raise serializers.ValidationError(exc.message_dict) from exc
        if key and not _same_request(message, new):
            raise IdempotencyKeyReused()
        location = request.build_absolute_uri(_detail_path(message.pk))
        return Response(
            _queued_answer(message) or MessageDetailSerializer(message).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )

    def _create_many(self, request: Request, items: list[Any], key: str) -> Response:
        if not items:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one message."]})
        limit = MAX_MESSAGES_PER_REQUEST
        if len(items) > limit:
            raise serializers.ValidationError(
                {"non_field_errors": [f"At most {limit:,} messages per request."]}
            )
        if key and len(key) > IDEMPOTENCY_KEY_MAX_LENGTH - len(f"[{limit}]"):
            raise serializers.ValidationError(
                {IDEMPOTENCY_HEADER: ["At most 250 characters for a list of messages."]}
            )
        wanted = _new_messages(items)
        try:
            messages = messages_create(
                messages=wanted, created_by=request.user, idempotency_key=key
            )
        except InvalidMessages as exc:
            by_position = {str(position): errors for position, errors in exc.errors.items()}
            if all(dlt_scrub.only_dlt(errors) for errors in exc.errors.values()):
                raise DltRejected(by_position) from exc
            raise serializers.ValidationError(by_position) from exc
        if key and (
            len(messages) != len(wanted)
            or not all(_same_request(m, new) for m, new in zip(messages, wanted, strict=True))
        ):
            raise IdempotencyKeyReused()
        return Response(
            MessageSerializer(messages, many=True).data, status=status.HTTP_202_ACCEPTED
        )


def _detail_path(message_id: object) -> str:
    """A message's detail path; the URL is resolved once per process, as reversing it for
    every queued message cost a tenth of the request."""
    global _detail_prefix
    if _detail_prefix is None:
        sample = "00000000-0000-0000-0000-000000000000"
        _detail_prefix = django_reverse("api:message-detail", args=[sample]).split(sample)
    before, after = _detail_prefix
    return f"{before}{message_id}{after}"


_detail_prefix: list[str] | None = None


def _idempotency_key(request: Request) -> str:
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
    return key


def _new_messages(items: list[Any], *, single: bool = False) -> list[NewMessage]:
    """Validate message inputs and find their providers; raises a 400 with each invalid
    item's errors (under its position unless `single`), those the service finds in the
    items that parsed included."""
    errors: dict[int, Any] = {}
    wanted: dict[int, NewMessage] = {}
    for position, item in enumerate(items):
        data, invalid = message_input(item)
        if data is None:
            errors[position] = invalid
            continue
        provider = _provider(data["provider"])
        if provider is None:
            errors[position] = {"provider": [f"No provider has the id {data['provider']}."]}
            continue
        wanted[position] = NewMessage(
            provider=provider,
            to=data["to"],
            body=data["body"],
            template_id=data["template_id"],
            variables=data["variables"],
        )
    if errors:
        if single:
            raise serializers.ValidationError(errors[0])
        # The others' errors too, so that one answer names every item to mend.
        positions = list(wanted)
        found = messages_errors([wanted[p] for p in positions])
        errors.update({positions[index]: item for index, item in found.items()})
        raise serializers.ValidationError({str(p): errors[p] for p in sorted(errors)})
    return list(wanted.values())


# The providers messages name, kept for a moment (smsgateway.process_cache).
_providers: ProcessCache[Provider] = ProcessCache()


def _provider(provider_id: int) -> Provider | None:
    return _providers.get(provider_id, lambda: Provider.objects.filter(id=provider_id).first())


@receiver([post_save, post_delete], sender=Provider)
def _forget_providers(**kwargs: Any) -> None:
    _providers.clear()


def _queued_answer(message: Message) -> dict[str, Any] | None:
    """What MessageDetailSerializer gives for a message this request queued (None for
    one queued before, under the same idempotency key), without its cost: DRF's output
    serializers took longer than queueing the message (a test holds the two the same)."""
    event = getattr(message, "queued_event", None)
    if event is None:
        return None
    return {
        "id": str(message.id),
        "provider": message.provider_id,
        "to": message.to,
        "body": message.body,
        "template_id": message.template_id,
        "status": message.status,
        "error_code": message.error_code,
        "error_description": message.error_description,
        "attempts": message.attempts,
        "provider_message_id": message.provider_message_id,
        "created_at": _when(message.created_at),
        "updated_at": _when(message.updated_at),
        "submitted_at": _when(message.submitted_at),
        "completed_at": _when(message.completed_at),
        "events": [
            {
                "created_at": _when(event.created_at),
                "source": event.source,
                "status": event.status,
                "code": event.code,
                "description": event.description,
                "http_status": event.http_status,
                "data": event.data,
            }
        ],
    }


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else _DATE_TIME.to_representation(moment)


_DATE_TIME = serializers.DateTimeField()


def _same_request(message: Message, new: NewMessage) -> bool:
    """Whether a message created earlier under an idempotency key matches this request."""
    try:
        to = phones.normalize(new.to)
    except phones.InvalidNumber:
        return False  # the first request had a valid number, so this one differs
    return (
        message.provider_id == new.provider.pk
        and message.to == to
        and message.body == new.body
        and message.template_id == new.template_id
        and message.variables == {str(name): value for name, value in new.variables.items()}
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
