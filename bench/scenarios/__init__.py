"""Every benchmark scenario, in the order they run: name -> (one run, figures it reports).

A run function takes the context and the run number and returns a report.Run.
"""

from __future__ import annotations

from collections.abc import Callable

from ..context import SCENARIO_NAMES, Context
from ..report import Run, Spec
from . import api, csv_import, dashboard, dispatch, dlr, dlt

Scenario = tuple[Callable[[Context, int], Run], list[Spec]]

SCENARIOS: dict[str, Scenario] = {
    "api_single": (api.api_single, api.SINGLE_SPECS),
    "api_latency": (api.api_latency, api.LATENCY_SPECS),
    "api_list": (api.api_list, api.LIST_SPECS),
    "dispatch_batch": (dispatch.dispatch_batch, dispatch.BATCH_SPECS),
    "dispatch_single_100ms": (dispatch.dispatch_single_100ms, dispatch.SINGLE_100MS_SPECS),
    "dispatch_single_0ms": (dispatch.dispatch_single_0ms, dispatch.SINGLE_0MS_SPECS),
    "dlr_single": (dlr.dlr_single, dlr.SINGLE_SPECS),
    "dlr_batch": (dlr.dlr_batch, dlr.BATCH_SPECS),
    "csv_import": (csv_import.csv_import, csv_import.SPECS),
    "dlt": (dlt.dlt, dlt.SPECS),
    # Last: it grows the database to its million messages.
    "dashboard": (dashboard.dashboard, dashboard.SPECS),
}

assert tuple(SCENARIOS) == SCENARIO_NAMES
