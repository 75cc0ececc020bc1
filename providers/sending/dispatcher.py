"""The dispatcher: it sends every message except the test SMS, whatever queued it.

Each `db_worker` runs one in a thread of its own. It claims due messages in sets
(`providers.sending.claims`), renders them into requests, hands those to the process's
asynchronous sender and records the outcomes in sets as they come back
(`record.messages_record`). Nothing tells it which messages to send: it finds them in
the database, so a message queued by any process, a retry coming due and a message a
dead worker abandoned are all sent the same way, without a task of their own. A queued
message wakes it at once (`providers.sending.wakeups`); otherwise it looks every
SMSGATEWAY_DISPATCH_POLL_SECONDS.

Priority, per provider: every message is in a lane (`providers.sending.lanes`). The messages
queued through the API (OTPs, alerts) are in the provider's transactional lane, which is
claimed first, into at most three quarters of the requests the provider may have in
flight when another lane (a campaign) of that provider also has due messages; the other
lanes share the rest equally, and the transactional lane takes whatever they left. So an
OTP never waits behind a campaign's million messages, and a flood of OTPs slows a
campaign down to a quarter of the provider's room but never stops it.

When the database goes away, the outcomes of the requests that finish are kept and
recorded once it answers again, and nothing is claimed meanwhile: what is kept is at
most what was in flight, and nothing is sent twice because of the outage.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from providers.http.bulk_transport import shared_sender
from providers.http.transport import ErrorKind, SendResult
from providers.models import Lane, Message, MessageEvent, Provider
from providers.sending import claims, lanes, rendering, tokens
from providers.sending.bulk import events_insert
from providers.sending.claims import Claimed
from providers.sending.record import Outcome, answer_outcome, messages_record, transport_mask

logger = logging.getLogger(__name__)

# Requests in flight per provider, at least: a batch provider gets a few so that
# recording one batch overlaps sending the next.
MIN_BATCHES_IN_FLIGHT = 4
# A provider is topped up once this fraction of its requests has come back: waiting for
# half let each round's requests finish together, so that at 100 ms latency only about
# 200 of 512 were in flight; one at a time spends more on rounds than it gains.
TOP_UP_FRACTION = 16
# How often providers and open lanes are read again, at most (when woken) and at least.
REFRESH_WHEN_WOKEN = 0.1
REFRESH_EVERY = 1.0
# How long a stopping dispatcher keeps trying to record what it sent.
STOP_RECORD_SECONDS = 10.0
# A lane woken by a new message is claimed from at most this often: each claim is a
# write and a commit, and an OTP waits this long at most.
CLAIM_GAP_SECONDS = 0.005
# After the database failed, how long before the dispatcher tries it again.
DATABASE_RETRY_SECONDS = 1.0
# Outcomes are recorded in sets: once this many messages' have come back, or the oldest
# has waited this long. A message an API call queued is at the provider by then; only
# its record waits, and a record per message cost more than sending it.
RECORD_SET = 1000
RECORD_AFTER_SECONDS = 0.02


@dataclass
class _Flight:
    """One request in flight: whose messages, and what was sent."""

    provider_id: int
    lane_id: int
    messages: list[Claimed]
    request: rendering.RenderedRequest


def requests_in_flight(provider: Provider) -> int:
    """Requests a worker keeps in flight to one provider: SMSGATEWAY_SEND_CONCURRENCY
    counts messages, so a batch provider is not sent hundreds of 1,000-record requests."""
    limit = settings.SMSGATEWAY_SEND_CONCURRENCY
    return min(limit, max(MIN_BATCHES_IN_FLIGHT, limit // _group_size(provider)))


def _group_size(provider: Provider) -> int:
    return provider.batch_size if provider.batch_enabled else 1


class Dispatcher:
    """One worker's sending loop; `run` in a thread of its own, or `drain` in the
    caller's (`db_worker --batch`). Claims are tagged with `token`, which the worker's
    heartbeat carries, so only a dead worker's messages are ever taken back."""

    def __init__(self, *, token: uuid.UUID | None = None) -> None:
        self.token = token or uuid.uuid4()
        self._sender = shared_sender()
        # Finished futures (from the sender's thread) and wake-ups (from the listener's).
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._flights: dict[Future[SendResult], _Flight] = {}
        # Claimed requests waiting for room (a batch provider's API messages that could
        # not share requests), by provider.
        self._waiting: dict[int, deque[tuple[int, list[Claimed]]]] = {}
        self._busy: Counter[int] = Counter()  # requests in flight or waiting, by provider
        self._lane_flights: Counter[int] = Counter()
        self._unrecorded: list[Outcome] = []
        self._unrecorded_since = 0.0
        self._providers: dict[int, Provider] = {}
        self._versions: dict[int, datetime] = {}
        # The open lanes by provider, the transactional lane first.
        self._lanes: dict[int, list[Lane]] = {}
        self._lane_by_id: dict[int, Lane] = {}
        self._refreshed_at = float("-inf")
        # When the loop must turn to refresh even if nothing comes: at once when it starts.
        self._refresh_wanted_at = float("-inf")
        self._woken = True
        # Lanes known to have nothing due, until this time (time.monotonic()).
        self._resting: dict[int, float] = {}
        self._claimed_at: dict[int, float] = {}
        # Throttled lanes' next slot.
        self._paced: dict[int, datetime] = {}
        self._database_failed_at: float | None = None
        # A claim failed: it may have committed, leaving messages claimed that were never
        # sent. They are put back before the next claim.
        self._release_claims = False
        # OAuth 2.0 providers' access tokens, fetched in a thread of their own.
        self._tokens = tokens.TokenKeeper(wake=self.heard)
        # Messages sent again with a new token after a 401: a second 401 fails them.
        self._token_retried: set[uuid.UUID] = set()

    # ------------------------------------------------------------ driving

    def heard(self, provider_id: int | None) -> None:
        """Messages may be due (the listener's callback; any thread)."""
        self._inbox.put(("wake", provider_id))

    def run(self, stop: threading.Event) -> None:
        """Send until `stop` is set, then finish what is in flight."""
        try:
            while not stop.is_set():
                try:
                    self._turn(stop)
                except DatabaseError:
                    self._database_failed("dispatching")
                except Exception:
                    # A fault of ours must not stop the worker's sending for good.
                    logger.exception("dispatcher round failed")
                    stop.wait(DATABASE_RETRY_SECONDS)
            self._finish()
        finally:
            connection.close()

    def drain(self) -> int:
        """Send everything due now and record it, then return how many messages were
        claimed. Waits for throttled lanes' next slots, not for retries or a lane's later
        start."""
        total = 0
        while True:
            self._refresh()
            claimed = self._claim_round(everywhere=True)
            total += claimed
            while self._flights:
                self._take(timeout=None)
            if not self._record_pending(now=True):
                raise DatabaseError("the send outcomes could not be recorded")
            self._release_claims_if_needed()
            if claimed or any(self._waiting.values()):
                continue
            if not self._paced:
                return total
            pause = (min(self._paced.values()) - timezone.now()).total_seconds()
            self._paced.clear()
            time.sleep(max(0.0, pause))

    def _turn(self, stop: threading.Event) -> None:
        self._take(timeout=self._idle_seconds())
        if stop.is_set() or not self._record_pending():
            return
        self._release_claims_if_needed()
        self._refresh_if_due()
        self._claim_round(everywhere=False)
        # Requests that could not even be rendered are failed at once.
        self._record_pending()

    def _take(self, *, timeout: float | None) -> None:
        """Wait up to `timeout` (None: until something comes) for a finished request or a
        wake-up, take whatever else has come, and record the finished requests."""
        items = []
        try:
            if timeout is not None and timeout <= 0:
                items.append(self._inbox.get_nowait())
            else:
                items.append(self._inbox.get(timeout=timeout))
        except queue.Empty:
            return
        while True:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        finished = []
        for item in items:
            if isinstance(item, Future):
                finished.append(item)
            else:
                self._wake(item[1])
        self._record(finished)

    def _wake(self, provider_id: int | None) -> None:
        self._woken = True
        woken = (
            self._resting
            if provider_id is None
            else [lane.id for lane in self._lanes.get(provider_id, [])]
        )
        for lane_id in list(woken):
            # Due at once, or CLAIM_GAP_SECONDS after the lane's last claim: messages
            # queued one by one are then claimed a few at a time.
            self._resting[lane_id] = self._claimed_at.get(lane_id, 0.0) + CLAIM_GAP_SECONDS

    def _idle_seconds(self) -> float:
        """How long to wait before the next round if nothing comes."""
        if self._database_failed_at is not None and self._unrecorded:
            return DATABASE_RETRY_SECONDS
        now = time.monotonic()
        deadline = now + settings.SMSGATEWAY_DISPATCH_POLL_SECONDS
        if self._unrecorded:
            deadline = min(deadline, self._unrecorded_since + RECORD_AFTER_SECONDS)
        deadline = min(deadline, self._refresh_wanted_at)
        for provider in self._providers.values():
            if self._room(provider) < self._step(provider):
                continue  # full: what comes back wakes the loop
            for lane in self._lanes.get(provider.id, []):
                deadline = min(deadline, self._resting.get(lane.id, now))
        return max(0.0, deadline - now)

    # ------------------------------------------------------------ what to claim from

    def _refresh_if_due(self) -> None:
        since = time.monotonic() - self._refreshed_at
        if since >= REFRESH_EVERY or (self._woken and since >= REFRESH_WHEN_WOKEN):
            self._refresh()

    def _refresh(self) -> None:
        """Read the providers (again, where changed) and the open lanes."""
        self._refreshed_at = time.monotonic()
        self._refresh_wanted_at = float("inf")
        self._woken = False
        versions = dict(Provider.objects.values_list("id", "updated_at"))
        for provider_id, version in versions.items():
            if self._versions.get(provider_id) != version:
                self._load_provider(provider_id, version)
        for provider_id in set(self._versions) - set(versions):
            self._providers.pop(provider_id, None)
            del self._versions[provider_id]
        open_lanes: dict[int, list[Lane]] = {}
        lanes_now = Lane.objects.filter(state=Lane.State.OPEN, drained_at__isnull=True)
        for lane in lanes_now.order_by("-transactional", "id"):
            open_lanes.setdefault(lane.provider_id, []).append(lane)
        sealed_before = {lane.id for lane in self._lane_by_id.values() if lane.sealed}
        self._lanes = open_lanes
        self._lane_by_id = {lane.id: lane for found in open_lanes.values() for lane in found}
        creating = False
        for lane in self._lane_by_id.values():
            # Sealed after its last message was sent here: nothing else would ask.
            if lane.sealed and lane.id not in sealed_before and lane.id in self._resting:
                self._drain_check(lane.id)
            creating = creating or not (lane.sealed or lane.transactional)
        # A campaign still being created: its seal is seen at the next refresh.
        self._refresh_wanted_at = self._refreshed_at + REFRESH_EVERY if creating else float("inf")

    def _load_provider(self, provider_id: int, version: datetime) -> None:
        self._tokens.forget(provider_id)
        try:
            self._providers[provider_id] = Provider.objects.get(id=provider_id)
        except DatabaseError:
            raise
        except Exception:
            # Its secrets cannot be decrypted (a key left out of
            # SMSGATEWAY_ENCRYPTION_KEYS), say: its messages wait, the others go on. Tried
            # again when the provider changes.
            logger.exception("provider %s cannot be loaded: its messages wait", provider_id)
            self._providers.pop(provider_id, None)
        self._versions[provider_id] = version

    def _room(self, provider: Provider) -> int:
        """How many more messages may be claimed for the provider now."""
        return max(0, requests_in_flight(provider) - self._busy[provider.id]) * _group_size(
            provider
        )

    def _step(self, provider: Provider) -> int:
        return max(1, requests_in_flight(provider) // TOP_UP_FRACTION) * _group_size(provider)

    # ------------------------------------------------------------ claiming

    def _claim_round(self, *, everywhere: bool) -> int:
        """Claim for every provider with room; returns how many messages were claimed.
        With `everywhere`, lanes known to be empty are asked too."""
        now = timezone.now()
        moment = time.monotonic()
        claimed = 0

        def due(lane: Lane) -> bool:
            return everywhere or self._resting.get(lane.id, 0.0) <= moment

        for provider in list(self._providers.values()):
            self._start_waiting(provider, wait=everywhere)
            room = start = self._room(provider)
            if room < self._step(provider):
                continue
            provider_lanes = self._lanes.get(provider.id, [])
            first = [lane for lane in provider_lanes if lane.transactional and due(lane)]
            others = [lane for lane in provider_lanes if not lane.transactional and due(lane)]
            if (first or others) and not self._token_ready(provider, wait=everywhere):
                continue
            for lane in first:
                room -= self._claim(provider, lane, room - (room // 4 if others else 0), now)
            for position, lane in enumerate(others):
                if room <= 0:
                    break
                share = max(_group_size(provider), room // (len(others) - position))
                room -= self._claim(provider, lane, min(share, room), now)
            for lane in first:
                if room > 0 and lane.id not in self._resting:
                    room -= self._claim(provider, lane, room, now)
            claimed += start - room
        return claimed

    def _token_ready(self, provider: Provider, *, wait: bool) -> bool:
        """Whether the provider's messages may be claimed: an OAuth 2.0 provider's only
        while it has a token. Getting one costs this loop a dict lookup: the token is
        fetched in a thread of its own (`tokens`), and until then, or while the token
        endpoint fails, the provider's lanes rest and its messages stay queued. With
        `wait` (drain), waits for the fetch."""
        if not tokens.uses_token(provider) or self._tokens.usable(provider, wait=wait):
            return True
        until = self._tokens.look_again_at(provider.id)
        for lane in self._lanes.get(provider.id, []):
            self._resting[lane.id] = max(self._resting.get(lane.id, 0.0), until)
        return False

    def _claim(self, provider: Provider, lane: Lane, limit: int, now: datetime) -> int:
        """Claim up to `limit` of the lane's due messages and start sending them; returns
        how many it claimed."""
        if limit <= 0:
            return 0
        try:
            claim = claims.lane_claim(lane=lane, limit=limit, token=self.token, now=now)
        except DatabaseError:
            self._release_claims = True
            raise
        self._claimed_at[lane.id] = time.monotonic()
        if claim.not_before is not None:
            self._paced[lane.id] = claim.not_before
            wait = (claim.not_before - now).total_seconds()
            self._resting[lane.id] = time.monotonic() + max(0.0, wait)
        else:
            self._paced.pop(lane.id, None)
        if len(claim.messages) < limit:
            # Nothing more is due here: rest until woken, a known retry or the poll.
            poll = settings.SMSGATEWAY_DISPATCH_POLL_SECONDS
            self._resting.setdefault(lane.id, time.monotonic() + poll)
            if not claim.messages:
                self._drain_check(lane.id)
        if claim.messages:
            self._send(provider, lane.id, claim.messages)
        return len(claim.messages)

    def _release_claims_if_needed(self) -> None:
        if not self._release_claims:
            return
        keep = {m.id for flight in self._flights.values() for m in flight.messages}
        keep |= {m.id for queue_ in self._waiting.values() for _, ms in queue_ for m in ms}
        released = claims.messages_release(token=self.token, keep=keep)
        if released:
            logger.warning("put back %s messages whose claim was interrupted", released)
        self._release_claims = False

    # ------------------------------------------------------------ sending

    def _send(self, provider: Provider, lane_id: int, messages: list[Claimed]) -> None:
        waiting = self._waiting.setdefault(provider.id, deque())
        for group in rendering.request_groups(provider, messages):
            waiting.append((lane_id, group))
            self._busy[provider.id] += 1
            self._lane_flights[lane_id] += 1
        self._start_waiting(provider)

    def _start_waiting(self, provider: Provider, *, wait: bool = False) -> None:
        """Start the provider's waiting requests, as many as may be in flight (with
        `wait`, once its access token is fetched, if it is being fetched)."""
        waiting = self._waiting.get(provider.id)
        if not waiting:
            return
        access_token = self._request_token(provider, wait=wait)
        if access_token is None:
            return
        room = requests_in_flight(provider) - (self._busy[provider.id] - len(waiting))
        started: list[_Flight] = []
        failed: list[Outcome] = []
        while waiting and room > 0:
            lane_id, messages = waiting.popleft()
            room -= 1
            try:
                request = rendering.render_request(provider, messages, access_token=access_token)
            except rendering.RenderError as exc:
                result = SendResult(ok=False, error_kind=ErrorKind.INVALID, error=str(exc))
                failed.append(Outcome(messages, result, {}))
                self._done(provider.id, lane_id)
                continue
            started.append(_Flight(provider.id, lane_id, messages, request))
        if started:
            futures = self._sender.submit([flight.request for flight in started])
            for future, flight in zip(futures, started, strict=True):
                self._flights[future] = flight
                future.add_done_callback(self._inbox.put)
        for outcome in failed:
            self._keep(outcome)

    def _request_token(self, provider: Provider, *, wait: bool = False) -> str | None:
        """The access token the provider's requests carry ("" without OAuth), or None
        when there is none now: it is being fetched, or the token endpoint failed, and
        then the claimed messages go back to the queue as they were (no attempt counted)."""
        if not tokens.uses_token(provider):
            return ""
        token = self._tokens.usable(provider, wait=wait)
        if token is None and self._tokens.held(provider.id):
            for lane_id, messages in self._waiting.pop(provider.id, ()):
                self._done(provider.id, lane_id)
                self._token_retried.difference_update(message.id for message in messages)
            self._release_claims = True
        return token

    def _retry_with_new_token(self, flight: _Flight, result: SendResult) -> bool:
        """A 401 to a request that carried an access token (expired or revoked early):
        the token is dropped and the request waits for a new one, once; a second 401 is
        recorded as the usual auth_rejected failure. True if it waits."""
        if self._token_retried:  # (a set per request only while some request is retried)
            ids = {message.id for message in flight.messages}
            if ids & self._token_retried:
                # The try with the new token: whatever came back is its outcome.
                self._token_retried -= ids
                return False
        provider = self._providers.get(flight.provider_id)
        if result.http_status != 401 or not flight.request.access_token or provider is None:
            return False
        logger.info("%s refused its access token (HTTP 401): fetching a new one", provider.nickname)
        self._token_retried |= {message.id for message in flight.messages}
        self._tokens.rejected(provider.id, flight.request.access_token)
        self._token_refused_record(flight, result)
        self._waiting.setdefault(provider.id, deque()).appendleft((flight.lane_id, flight.messages))
        self._busy[provider.id] += 1
        self._lane_flights[flight.lane_id] += 1
        self._start_waiting(provider)
        return True

    def _token_refused_record(self, flight: _Flight, result: SendResult) -> None:
        """The refused request in its messages' history (no attempt counted: it goes again
        at once). One insert here, in the loop, once per token the provider refuses."""
        request = flight.request
        shown = {
            "request": request.masked(),
            "response": transport_mask(result.response, request.secrets),
        }
        description = "Access token refused (HTTP 401): sending again with a new token"
        # As for any batch, the request and the answer are kept on the first message's.
        rows: list[tuple[Any, ...]] = [
            (message.id, Message.Status.SENDING, ErrorKind.AUTH, description, 401, None, {})
            for message in flight.messages
        ]
        rows[0] = (*rows[0][:-1], shown)
        try:
            events_insert(rows=rows, shared={"source": MessageEvent.Source.SEND})
        except DatabaseError:
            self._database_failed("recording a refused access token")

    def _done(self, provider_id: int, lane_id: int) -> None:
        self._busy[provider_id] -= 1
        self._lane_flights[lane_id] -= 1

    # ------------------------------------------------------------ recording

    def _record(self, finished: Sequence[Future[SendResult]]) -> None:
        """Turn finished requests into outcomes and record every outcome not yet recorded."""
        for future in finished:
            flight = self._flights.pop(future)
            self._done(flight.provider_id, flight.lane_id)
            try:
                result = future.result()
            except Exception as exc:
                # A fault the transport did not foresee: the request may or may not have
                # gone out, as after a timeout, so it is recorded (and retried) like one.
                provider = self._providers.get(flight.provider_id)
                name = provider.nickname if provider else flight.provider_id
                logger.exception("sending to %s failed unexpectedly", name)
                result = SendResult(ok=False, error_kind=ErrorKind.CONNECTION, error=str(exc))
            if self._retry_with_new_token(flight, result):
                continue
            # The provider may echo a credential back; it must not reach our records.
            result.response = transport_mask(result.response, flight.request.secrets)
            result.error = transport_mask(result.error, flight.request.secrets)
            self._keep(self._outcome(flight, result))
        self._record_pending()

    def _outcome(self, flight: _Flight, result: SendResult) -> Outcome:
        provider = self._providers.get(flight.provider_id)
        if provider is None:  # gone while its request was in flight: no rules to read by
            return Outcome(flight.messages, result, flight.request.masked())
        return answer_outcome(provider, flight.messages, result, flight.request.masked())

    def _keep(self, outcome: Outcome) -> None:
        if not self._unrecorded:
            self._unrecorded_since = time.monotonic()
        self._unrecorded.append(outcome)

    def _record_pending(self, *, now: bool = False) -> bool:
        """Record the outcomes not yet recorded, in one set, once there are many or the
        oldest has waited RECORD_AFTER_SECONDS (or `now`); False while the database
        refuses them."""
        if not self._unrecorded:
            return True
        moment = time.monotonic()
        failed_at = self._database_failed_at
        if failed_at is not None:
            if moment - failed_at < DATABASE_RETRY_SECONDS:
                return False
        elif not (
            now
            or sum(len(outcome.messages) for outcome in self._unrecorded) >= RECORD_SET
            or moment - self._unrecorded_since >= RECORD_AFTER_SECONDS
        ):
            return True
        outcomes = self._unrecorded
        try:
            messages_record(outcomes=outcomes)
        except DatabaseError:
            self._database_failed(f"recording {len(outcomes)} outcomes")
            return False
        self._database_failed_at = None
        self._unrecorded = []
        self._after_record(outcomes)
        return True

    def _after_record(self, outcomes: list[Outcome]) -> None:
        moment = time.monotonic()
        lane_ids: set[int] = set()
        for outcome in outcomes:
            first = outcome.messages[0]
            lane_id = first.lane_id
            if lane_id is None:
                continue
            if first.retry_delay is not None and lane_id in self._resting:
                # Back in the queue: due again after its delay, which nobody announces.
                self._resting[lane_id] = min(self._resting[lane_id], moment + first.retry_delay)
            lane_ids.add(lane_id)
        for lane_id in lane_ids:
            if lane_id in self._resting:
                # Nothing due: once nothing of it is in flight here either, it may be done.
                self._drain_check(lane_id)

    def _drain_check(self, lane_id: int) -> None:
        """Ask whether a lane is drained, when it may be: only a sealed lane (all its
        messages created) can be, and not while this worker has some of it in flight.
        A lane sealed since the last refresh is asked at the refresh."""
        lane = self._lane_by_id.get(lane_id)
        if lane is None or lane.transactional or not lane.sealed or self._lane_flights[lane_id]:
            return
        lanes.lane_drain_check(lane_id=lane_id)

    def _database_failed(self, doing: str) -> None:
        if self._database_failed_at is None:
            logger.warning("the database failed while %s; keeping results until it answers", doing)
        self._database_failed_at = time.monotonic()
        connection.close()

    def _finish(self) -> None:
        """Wait for what is in flight and record it (trying for a while if the database
        is away: what is left in `sending` is taken back once this worker's beat ages)."""
        if any(self._waiting.values()):
            # Claimed but never sent: back to the queue.
            self._release_claims = True
            self._waiting.clear()
        while self._flights:
            self._take(timeout=None)
        deadline = time.monotonic() + STOP_RECORD_SECONDS
        while self._unrecorded and time.monotonic() < deadline:
            if not self._record_pending(now=True):
                time.sleep(DATABASE_RETRY_SECONDS)
        try:
            self._release_claims_if_needed()
        except DatabaseError:
            logger.warning("stopped with claimed messages the database could not take back")
