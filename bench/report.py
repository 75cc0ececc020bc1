"""What a benchmark run found: figures, targets, baselines, checks; as a table and JSON."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass
class Spec:
    """One figure a scenario reports, and what it should reach."""

    figure: str  # e.g. "msg/s", "p99 ms"
    target: float | None
    higher_is_better: bool = True
    # The product's figure divided by the baseline's must reach this (None: not judged).
    baseline_ratio: float | None = None
    # What the baseline is, as the table names it.
    baseline_name: str = ""
    # On SQLite (one worker, one writer) the target is half of PostgreSQL's: half the
    # rate or ratio, twice the time.
    sqlite_half: bool = False


@dataclass
class Check:
    """An exactly-once or applied-once check; a failure makes the whole run fail."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Run:
    figures: dict[str, float]
    baseline: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    scenario: str
    database: str
    figure: str
    value: float | None
    runs: list[float]
    target: str
    vs_target: float | None
    baseline: float | None = None
    vs_baseline: float | None = None
    baseline_target: float | None = None
    met: bool | None = None  # None: not judged (smoke mode, or no figure)
    baseline_name: str = ""


@dataclass
class ScenarioResult:
    scenario: str
    database: str
    rows: list[Row]
    checks: list[Check]
    error: str = ""  # the harness failed in this scenario
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and all(c.ok for c in self.checks)


def summarise(
    scenario: str, database: str, specs: list[Spec], runs: list[Run], *, judge: bool
) -> ScenarioResult:
    """The median of each figure over the runs, compared with its target and baseline."""
    rows = []
    for spec in specs:
        if spec.sqlite_half and database == "sqlite":
            spec = _halved(spec)
        values = [r.figures[spec.figure] for r in runs if spec.figure in r.figures]
        baselines = [r.baseline[spec.figure] for r in runs if spec.figure in r.baseline]
        value = statistics.median(values) if values else None
        baseline = statistics.median(baselines) if baselines else None
        vs_target = None
        if value is not None and spec.target is not None and value > 0:
            vs_target = value / spec.target if spec.higher_is_better else spec.target / value
        vs_baseline = value / baseline if value is not None and baseline else None
        met = None
        if judge and value is not None:
            met = (vs_target is None or vs_target >= 1) and (
                spec.baseline_ratio is None
                or (vs_baseline is not None and vs_baseline >= spec.baseline_ratio)
            )
        op = ">=" if spec.higher_is_better else "<="
        target = f"{op} {spec.target:g}" if spec.target is not None else ""
        rows.append(
            Row(
                scenario,
                database,
                spec.figure,
                value,
                values,
                target,
                vs_target,
                baseline,
                vs_baseline,
                spec.baseline_ratio,
                met,
                spec.baseline_name,
            )
        )
    checks = [check for run in runs for check in run.checks]
    return ScenarioResult(scenario, database, rows, checks, notes=[r.notes for r in runs])


def _halved(spec: Spec) -> Spec:
    factor = 0.5 if spec.higher_is_better else 2.0
    return replace(
        spec,
        target=None if spec.target is None else spec.target * factor,
        baseline_ratio=None if spec.baseline_ratio is None else spec.baseline_ratio / 2,
    )


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def table(results: list[ScenarioResult]) -> str:
    header = ["scenario", "database", "figure", "median", "target", "x target", "baseline"]
    header += ["baseline of", "x baseline", "result"]
    lines = [header]
    for result in results:
        if result.error:
            lines.append([result.scenario, result.database, "HARNESS ERROR", "", "", ""])
            lines[-1] += ["", "", "", "error"]
        for row in result.rows if not result.error else []:
            ratio = _number(row.vs_baseline, 2)
            if row.baseline_target is not None:
                ratio += f" (>= {row.baseline_target:g})"
            verdict = {True: "met", False: "MISSED", None: ""}[row.met]
            if not result.ok:
                verdict = "CHECK FAILED" if not result.error else "error"
            lines.append(
                [
                    row.scenario,
                    row.database,
                    row.figure,
                    _number(row.value, 1 if row.value is not None and row.value < 100 else 0),
                    row.target,
                    _number(row.vs_target, 2),
                    _number(row.baseline, 0),
                    row.baseline_name if row.baseline is not None else "",
                    ratio,
                    verdict,
                ]
            )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def failed_checks(results: list[ScenarioResult]) -> list[str]:
    problems = []
    for result in results:
        where = f"{result.scenario} on {result.database}"
        if result.error:
            problems.append(f"{where}: harness error: {result.error}")
        problems += [f"{where}: {c.name}: {c.detail}" for c in result.checks if not c.ok]
    return problems


def write_json(path: Path, results: list[ScenarioResult], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        **meta,
        "checks_passed": not failed_checks(results),
        "results": [{**asdict(r), "ok": r.ok} for r in results],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


def from_json(data: dict[str, Any]) -> ScenarioResult:
    return ScenarioResult(
        scenario=data["scenario"],
        database=data["database"],
        rows=[Row(**row) for row in data["rows"]],
        checks=[Check(**check) for check in data["checks"]],
        error=data.get("error", ""),
        notes=data.get("notes", []),
    )
