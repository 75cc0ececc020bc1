"""CSV upload: a generated file of recipients posted to the upload API, timed until imported.

The file has a phone column in two formats, three more fields, 1 % invalid numbers and
1 % duplicates (the same number written the other way). The clock runs from the start
of the upload request to the upload's `finished_at`; large files are imported in the
background by a db_worker, whose progress is polled through the API. The web server and
the workers are restarted before each run, so their peak memory (VmHWM) is the import's.
The import must then have accepted and rejected exactly the rows it should.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from campaigns.models import Campaign, Recipient

from .. import seed
from ..context import Context
from ..report import Check, Run, Spec

SPECS = [Spec("seconds", 45, higher_is_better=False), Spec("peak MB", 300, higher_is_better=False)]
INVALID_EVERY = (100, 37)  # row n is invalid when n % 100 == 37
DUPLICATE_EVERY = (100, 73)  # ... and repeats row n - 50's number when n % 100 == 73
IMPORT_TIMEOUT = 1800.0


@dataclass
class CsvFile:
    path: Path
    rows: int
    invalid: int
    duplicates: int

    @property
    def accepted(self) -> int:
        return self.rows - self.invalid - self.duplicates


def write_csv(path: Path, rows: int) -> CsvFile:
    invalid = duplicates = 0
    cities = ["Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata", "Pune"]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,name,city,order\n")
        for n in range(rows):
            number = seed.phone(n)
            if n % INVALID_EVERY[0] == INVALID_EVERY[1]:
                number = "12345"
                invalid += 1
            elif n % DUPLICATE_EVERY[0] == DUPLICATE_EVERY[1]:
                number = seed.phone(n - 50)[3:]  # national format: the same number
                duplicates += 1
            elif n % 2:
                number = number[3:]
            out.write(f"{number},Customer {n},{cities[n % len(cities)]},A{n:07d}\n")
    return CsvFile(path, rows, invalid, duplicates)


def csv_import(ctx: Context, number: int) -> Run:
    path = ctx.workdir / f"recipients-{ctx.sizes.csv_rows}.csv"
    csv = write_csv(path, ctx.sizes.csv_rows)
    campaign = Campaign.objects.create(
        name=f"CSV import {number}",
        provider=seed.provider_create(nickname=f"CSV {number}", endpoint="https://sms.example.com"),
        message=seed.CAMPAIGN_TEXT,
        created_by=ctx.user,
    )
    ctx.stack.restart()
    uploads = f"{ctx.url}/api/v1/campaigns/{campaign.id}/uploads/"

    started = time.time()
    with path.open("rb") as file:
        answer = ctx.api.post(uploads, files={"file": ("recipients.csv", file)}, timeout=600)
    if answer.status_code not in (201, 202):
        raise RuntimeError(f"upload answered {answer.status_code}: {answer.text[:2000]}")
    upload = answer.json()
    deadline = time.monotonic() + IMPORT_TIMEOUT
    while upload["status"] not in ("done", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"import not finished after {IMPORT_TIMEOUT:.0f} s: {upload}")
        ctx.stack.check_alive()
        time.sleep(0.5)
        upload = ctx.api.get(f"{uploads}{upload['id']}/", timeout=60).json()
    finished = datetime.fromisoformat(upload["finished_at"]).timestamp()
    peak = ctx.stack.peak_rss_mb()

    stored = Recipient.objects.filter(campaign=campaign).count()
    expected = (csv.rows, csv.accepted, csv.invalid + csv.duplicates)
    found = (upload["rows_total"], upload["rows_accepted"], upload["rows_rejected"])
    return Run(
        {"seconds": finished - started, "peak MB": peak},
        checks=[
            Check("import finished", upload["status"] == "done", upload.get("error", "")),
            Check("rows counted (total, accepted, rejected)", found == expected, f"{found}"),
            Check("every accepted row stored once", stored == csv.accepted, f"{stored}"),
        ],
        notes={"file MB": path.stat().st_size / 1e6},
    )
