"""DLT registry API (/api/v1/dlt/): the registry's records, imports and the scrub check."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dlt import imports, services
from dlt.check import message_check
from dlt.models import Entity, Header, Template, WhitelistEntry

from .serializers import (
    CheckResultSerializer,
    CheckSerializer,
    EntitySerializer,
    HeaderSerializer,
    ImportCreateSerializer,
    ImportRefusedSerializer,
    ImportResultSerializer,
    TemplateSerializer,
    WhitelistEntrySerializer,
)

IN_USE = OpenApiResponse(
    description="The entity still has headers, templates or whitelist entries."
)


class _RegistryViewSet(viewsets.ModelViewSet):
    def perform_destroy(self, instance: object) -> None:
        try:
            services.record_delete(record=instance)  # type: ignore[arg-type]
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"detail": exc.messages}) from exc


@extend_schema(tags=["dlt"])
@extend_schema_view(destroy=extend_schema(responses={204: None, 400: IN_USE}))
class EntityViewSet(_RegistryViewSet):
    """Principal entities (PE) registered on a DLT portal."""

    serializer_class = EntitySerializer
    queryset = Entity.objects.order_by("name", "id")


@extend_schema(tags=["dlt"])
class HeaderViewSet(_RegistryViewSet):
    """Headers (sender ids): 6 digits for promotional, 6 letters for the other categories."""

    serializer_class = HeaderSerializer
    queryset = Header.objects.order_by("sender_id")


@extend_schema(tags=["dlt"])
class TemplateViewSet(_RegistryViewSet):
    """Content templates, with {#var#} or tagged variables ({#numeric#}, {#url#} …)."""

    serializer_class = TemplateSerializer

    def get_queryset(self) -> QuerySet[Template]:
        return Template.objects.prefetch_related("headers").order_by("template_id")


@extend_schema(tags=["dlt"])
class WhitelistViewSet(_RegistryViewSet):
    """Whitelisted URLs (static: exact; dynamic: a prefix), OTT/APK links and callback
    numbers, for all the entity's headers or some."""

    serializer_class = WhitelistEntrySerializer

    def get_queryset(self) -> QuerySet[WhitelistEntry]:
        return WhitelistEntry.objects.prefetch_related("headers").order_by("kind", "value", "id")


class ImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=["dlt"],
        request={"multipart/form-data": ImportCreateSerializer},
        responses={
            201: ImportResultSerializer,
            400: OpenApiResponse(
                ImportRefusedSerializer,
                description="The file as a whole was refused; `missing` names the fields no "
                "column provides, `columns` the file's headings to map them to.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        """Import a DLT portal's export (CSV or XLSX) of templates, headers or whitelist
        entries. Re-importing updates templates by template id and headers by sender id;
        every rejected row is reported with its reason."""
        data = ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            result = imports.import_file(
                file=values["file"],
                kind=values["kind"],
                columns=values.get("columns"),
                entity=values.get("entity"),
            )
        except imports.ImportRefused as exc:
            body = {"detail": exc.message, "columns": exc.columns, "missing": exc.missing}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return Response(ImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


class CheckView(APIView):
    @extend_schema(tags=["dlt"], request=CheckSerializer, responses={200: CheckResultSerializer})
    def post(self, request: Request) -> Response:
        """Scrub a text as the operators would, before sending it. With `template_id`: why
        the text does or does not fit that template. Without: which approved templates of
        the header (or of any header) it fits."""
        data = CheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = message_check(
            values["text"], sender_id=values["sender_id"], template_id=values["template_id"]
        )
        return Response(CheckResultSerializer(result.as_dict()).data)
