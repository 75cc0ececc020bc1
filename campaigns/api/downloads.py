"""CSV downloads shared by the API and the admin: streamed, cells made spreadsheet-safe."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer

from campaigns.models import Upload
from campaigns.selectors import safe_cell

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
UPLOAD_ERROR_HEADER = ["row", "phone", "error"]


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer over a stream."""

    def write(self, value: str) -> str:
        return value


def csv_response(rows: Iterable[list[str]], *, filename: str) -> StreamingHttpResponse:
    """Stream `rows` as a CSV attachment; rows are written as they are produced."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type=CSV_CONTENT_TYPE
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def upload_error_rows(*, upload: Upload) -> Iterator[list[str]]:
    """The rejected rows of an upload (row, phone, error), header first."""
    yield UPLOAD_ERROR_HEADER
    errors = upload.errors.order_by("row", "id").values_list("row", "phone", "error")
    for row, phone, error in errors.iterator(chunk_size=2000):
        yield [safe_cell(str(row)), safe_cell(phone), safe_cell(error)]


def upload_errors_response(upload: Upload) -> StreamingHttpResponse:
    return csv_response(
        upload_error_rows(upload=upload), filename=f"upload-{upload.pk}-rejected-rows.csv"
    )


class CsvRenderer(BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation for the CSV downloads.

    Successful downloads bypass rendering (they are streamed responses); this renders
    only error bodies such as {"detail": "Not found."}, as name,value rows.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        items = data.items() if isinstance(data, dict) else enumerate(data)
        writer = csv.writer(_Echo())
        return "".join(
            writer.writerow([safe_cell(str(name)), safe_cell(str(value))]) for name, value in items
        ).encode()
