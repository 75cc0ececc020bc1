"""Campaign API views: parse input, call campaigns.services, render output.

The campaign list shows a `summary` (recipients, messages, delivered, failed) taken
from two queries per page (a recipients subquery and selectors.campaign_list_stats);
the full `stats` (selectors.campaign_stats) come with a single campaign.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from campaigns import selectors, services
from campaigns.csv_reader import CsvError
from campaigns.models import Campaign, Upload, UploadError
from campaigns.selectors import campaign_export_rows, campaign_list_stats
from providers.api.serializers import DetailErrorSerializer
from providers.api.views import Conflict

from .downloads import CsvRenderer, csv_response, upload_errors_response
from .serializers import (
    ERRORS_SHOWN,
    CampaignListItemSerializer,
    CampaignSerializer,
    LaunchRefusedSerializer,
    UploadCreateSerializer,
    UploadSerializer,
)

FIELD_ERRORS = OpenApiResponse(description="Invalid input: field name to list of errors.")
NOT_A_DRAFT = OpenApiResponse(
    DetailErrorSerializer, description="The campaign is no longer a draft."
)
NOT_ALLOWED = OpenApiResponse(
    DetailErrorSerializer, description="The campaign's status does not allow this action."
)
CSV_DOWNLOAD = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV file.")}


def _require_draft(campaign: Campaign, doing: str) -> None:
    try:
        services.campaign_require_draft(campaign, doing)
    except services.TransitionNotAllowed as exc:
        raise Conflict(str(exc)) from exc


@extend_schema(tags=["campaigns"])
@extend_schema_view(
    create=extend_schema(responses={201: CampaignSerializer, 400: FIELD_ERRORS}),
    update=extend_schema(responses={200: CampaignSerializer, 400: FIELD_ERRORS, 409: NOT_A_DRAFT}),
    partial_update=extend_schema(
        responses={200: CampaignSerializer, 400: FIELD_ERRORS, 409: NOT_A_DRAFT}
    ),
    destroy=extend_schema(
        responses={204: OpenApiResponse(description="Deleted."), 409: NOT_A_DRAFT}
    ),
)
class CampaignViewSet(viewsets.ModelViewSet):
    """Campaigns: one message sent through one provider to uploaded lists of recipients.

    A campaign is edited and deleted only while it is a draft; launch, pause, resume and
    cancel move it through its life.
    """

    queryset = Campaign.objects.order_by("-created_at", "-id")
    serializer_class = CampaignSerializer

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "list":
            return CampaignListItemSerializer
        return CampaignSerializer

    def get_queryset(self) -> QuerySet[Campaign]:
        queryset = super().get_queryset()
        if self.action == "list":
            return queryset.annotate(recipients_count=selectors.recipients_count())
        return queryset

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        campaigns = list(page if page is not None else queryset)
        context = {
            **self.get_serializer_context(),
            "message_counts": campaign_list_stats(campaigns),
        }
        data = CampaignListItemSerializer(campaigns, many=True, context=context).data
        if page is not None:
            return self.get_paginated_response(data)
        return Response(data)

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.save(created_by=self.request.user)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Refused before the input is validated: no edit is right for a running campaign.
        _require_draft(self.get_object(), "edited")
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        try:
            serializer.save()
        except services.TransitionNotAllowed as exc:
            raise Conflict(str(exc)) from exc

    def perform_destroy(self, instance: Campaign) -> None:
        try:
            services.campaign_delete(campaign=instance)
        except services.TransitionNotAllowed as exc:
            raise Conflict(str(exc)) from exc

    @extend_schema(
        summary="Launch a draft (now, or at its scheduled time)",
        request=None,
        responses={
            202: CampaignSerializer,
            400: OpenApiResponse(
                LaunchRefusedSerializer,
                description="The campaign's settings or some recipients' messages would fail.",
            ),
            409: NOT_ALLOWED,
        },
    )
    @action(detail=True, methods=["post"])
    def launch(self, request: Request, pk: str | None = None) -> Response:
        """Check every recipient's message, then start sending in the background.

        400 lists what must be fixed first (e.g. a row whose text does not match the DLT
        template); nothing is sent then.
        """
        try:
            campaign = services.campaign_launch(campaign=self.get_object())
        except services.LaunchRefused as exc:
            return Response({"errors": exc.reasons}, status=status.HTTP_400_BAD_REQUEST)
        except services.TransitionNotAllowed as exc:
            raise Conflict(str(exc)) from exc
        return self._accepted(campaign)

    @extend_schema(
        summary="Pause a running or scheduled campaign",
        request=None,
        responses={202: CampaignSerializer, 409: NOT_ALLOWED},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(services.campaign_pause)

    @extend_schema(
        summary="Resume a paused campaign",
        request=None,
        responses={202: CampaignSerializer, 409: NOT_ALLOWED},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._transition(services.campaign_resume)

    @extend_schema(
        summary="Cancel a campaign",
        request=None,
        responses={202: CampaignSerializer, 409: NOT_ALLOWED},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Messages not yet sent fail as cancelled; sent ones keep their outcome."""
        return self._transition(services.campaign_cancel)

    @extend_schema(summary="Download the per-recipient results as CSV", responses=CSV_DOWNLOAD)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, CsvRenderer])
    def export(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        """One row per recipient: row, phone, status, error, message id, times, fields."""
        campaign = self.get_object()
        return csv_response(
            campaign_export_rows(campaign=campaign),
            filename=f"campaign-{campaign.pk}-results.csv",
        )

    def _transition(self, change: Callable[..., Campaign]) -> Response:
        try:
            campaign = change(campaign=self.get_object())
        except services.TransitionNotAllowed as exc:
            raise Conflict(str(exc)) from exc
        return self._accepted(campaign)

    def _accepted(self, campaign: Campaign) -> Response:
        return Response(
            CampaignSerializer(campaign, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED,
        )


@extend_schema(
    tags=["campaigns"],
    parameters=[
        OpenApiParameter("campaign_id", int, OpenApiParameter.PATH, description="The campaign.")
    ],
)
class UploadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Lists of recipients uploaded to a campaign, with the rows they rejected and why."""

    serializer_class = UploadSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "create":
            return UploadCreateSerializer
        return UploadSerializer

    def get_campaign(self) -> Campaign:
        if not hasattr(self, "_campaign"):
            self._campaign = get_object_or_404(Campaign, pk=self.kwargs["campaign_id"])
        return self._campaign

    def get_queryset(self) -> QuerySet[Upload]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no URL kwargs
            return Upload.objects.none()
        first_errors = Prefetch(
            "errors",
            queryset=UploadError.objects.order_by("row", "id")[:ERRORS_SHOWN],
            to_attr="first_errors",
        )
        # Through the campaign rather than its raw id: an unknown campaign is a 404 (not an
        # empty list), and so is a number too large for an id (not an overflow in SQLite).
        return (
            Upload.objects.filter(campaign=self.get_campaign())
            .order_by("created_at", "id")
            .prefetch_related(first_errors)
        )

    @extend_schema(
        summary="Upload a list of recipients",
        request={"multipart/form-data": UploadCreateSerializer},
        responses={
            201: OpenApiResponse(UploadSerializer, description="Imported."),
            202: OpenApiResponse(
                UploadSerializer,
                description="A large file: stored, and imported in the background. Follow "
                "its status and progress on the upload.",
            ),
            400: OpenApiResponse(
                description='The file was refused: {"file": ["<reason>"]}, or other invalid input.'
            ),
            409: NOT_A_DRAFT,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Read a CSV of recipients into the campaign.

        Rows with invalid or duplicate numbers, or numbers that opted out, are rejected
        one by one (see `errors`); a file that cannot be read at all is refused (400).
        """
        campaign = self.get_campaign()
        _require_draft(campaign, "given recipients")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            upload = services.upload_create(
                campaign=campaign,
                file=data["file"],
                phone_column=data.get("phone_column", ""),
                default_country=data.get("default_country", ""),
            )
        except CsvError as exc:
            raise serializers.ValidationError({"file": [str(exc)]}) from exc
        except services.TransitionNotAllowed as exc:
            raise Conflict(str(exc)) from exc
        if upload.status == Upload.Status.FAILED:
            raise serializers.ValidationError({"file": [upload.error]})
        done = upload.status == Upload.Status.DONE
        location = reverse(
            "api:campaign-upload-detail", args=[campaign.pk, upload.pk], request=request
        )
        return Response(
            UploadSerializer(upload, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )

    @extend_schema(summary="Download the rejected rows as CSV", responses=CSV_DOWNLOAD)
    def errors_csv(self, request: Request, *args: Any, **kwargs: Any) -> StreamingHttpResponse:
        """Every rejected row of the upload: row, phone, error."""
        return upload_errors_response(self.get_object())

    def get_renderers(self) -> builtins.list[BaseRenderer]:
        if getattr(self, "action", None) == "errors_csv":
            return [JSONRenderer(), CsvRenderer()]
        return super().get_renderers()
