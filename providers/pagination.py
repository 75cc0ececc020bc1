"""Pages of long lists that never count more rows than a person would page through."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet

# Beyond this many rows the list says "10,000+" and offers no later pages: counting a
# million messages on every page view would cost more than showing the page.
COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """A Paginator whose count stops at `cap` (pages beyond it are not offered)."""

    def __init__(self, object_list: QuerySet[Any], per_page: int, *, cap: int | None = None):
        super().__init__(object_list, per_page)
        self.queryset = object_list
        self.cap = COUNT_CAP if cap is None else cap

    @cached_property
    def _counted(self) -> int:
        # COUNT(*) over a LIMIT-ed subquery: reads at most cap + 1 index entries.
        return self.queryset.order_by()[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def capped(self) -> bool:
        """True when there are more rows than the pages reach."""
        return self._counted > self.cap
