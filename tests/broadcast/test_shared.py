"""Many workers on one named broadcast, against a real PostgreSQL.

Workers are tasks here (tests/broadcast/test_shared_processes.py runs them as
processes), each with a client of its own, sending over loopback HTTP to one
`FakeGateway` served in a thread. What every test checks in the end: each
recipient has exactly one final row in the journal, no number holds two
texts at the gateway, and every result a worker reported is its own.
"""

from __future__ import annotations

import contextlib
from collections import Counter

import anyio
import httpx
import pytest

from iprogsms_async import (
    ConfigurationError,
    InsufficientCreditsError,
    IProgSMS,
    JournalError,
)
from iprogsms_async.broadcast import DUPLICATE, INVALID, UNKNOWN, BroadcastOptions
from iprogsms_async.broadcast._claims import SharedJournal
from iprogsms_async.broadcast._journal_store import (
    STATE_ACCEPTED,
    STATE_FINAL,
    STATE_IN_DOUBT,
    STATE_NOT_SENT,
    STATE_SENDING,
    text_digest,
)
from iprogsms_async.broadcast._postgres import STATE_CLAIMED, STATE_PLANNED
from iprogsms_async.broadcast._work import default_worker_id
from iprogsms_async.testing import FakeGateway, Faults, ManualClock

pytestmark = pytest.mark.anyio

NAME = "june-bills"
HEALTHY = {
    "concurrency": 4,
    "poll_interval": 0.02,
    "poll_max_interval": 0.05,
    "lease": 5.0,
}
"""Options of a worker that keeps its leases (5 s, renewed every 1.7 s)."""


def numbers(count, start=0):
    return [f"0917{start + i:07d}" for i in range(count)]


class Gate:
    """Holds every send until each of ``workers`` has made one (or 60 s pass).

    So that each worker is known to have claimed and sent some recipients,
    whatever the machine's load: no worker can send them all alone.
    """

    def __init__(self, workers):
        self._workers = set(workers)
        self._arrived = set()
        self.open = anyio.Event()

    def transport(self, worker, inner):
        gate = self

        class Gated(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request):
                if request.method == "POST" and not gate.open.is_set():
                    gate._arrived.add(worker)
                    if gate._arrived >= gate._workers:
                        gate.open.set()
                    with anyio.move_on_after(60):
                        await gate.open.wait()
                return await inner.handle_async_request(request)

            async def aclose(self):
                await inner.aclose()

        return Gated()


@pytest.fixture
def served():
    """A fake gateway on loopback HTTP, with a little latency: (fake, base URL)."""
    fake = FakeGateway(credits=10_000_000, seed=11, faults=Faults(latency=0.005))
    with fake.serve_in_thread() as base_url:
        yield fake, base_url


@contextlib.asynccontextmanager
async def client_of(served, worker=None, gate=None):
    fake, base_url = served
    transport = httpx.AsyncHTTPTransport()
    if gate is not None:
        transport = gate.transport(worker, transport)
    async with IProgSMS(
        fake.token, base_url=base_url, transport=transport, max_retries=0
    ) as client:
        yield client


def plan_and_work(client, recipients, url, **options):
    """A worker given the recipients: ``broadcast(..., shared=True)``."""
    options = {"message": "Hi", **options}
    return client.broadcast(recipients, journal=url, name=NAME, shared=True, **options)


def journal_rows(url, name=NAME):
    """Every row of the broadcast: key -> (state, message id, status, holder)."""
    import psycopg  # noqa: PLC0415 -- only with a server

    with psycopg.connect(url, autocommit=True) as db:
        found = db.execute(
            "SELECT phone_number, text_digest, state, message_id, status, claimed_by,"
            " position FROM iprogsms_recipients WHERE broadcast = %s",
            (name,),
        ).fetchall()
    return {(n, d): (s, m, st, c, p) for n, d, s, m, st, c, p in found}


def by_position(rows):
    return {position: row for row in rows.values() for position in [row[4]]}


def check_exactly_once(fake, recipients, rows, reports, text="Hi"):
    """One final row a recipient, one text a number, each result reported once."""
    valid = [n for n in recipients if n.startswith("0917")]
    assert len(rows) == len(set(valid))
    assert {row[0] for row in rows.values()} <= {STATE_FINAL, STATE_IN_DOUBT}
    for number in set(valid):
        assert len(fake.texts_to(number)) <= 1, number
    sent = {key[0] for key, row in rows.items() if row[0] == STATE_FINAL}
    assert sent == {m.phone_number for m in fake.messages}
    for number in sent:
        assert fake.texts_to(number) == [text]
    indexes = Counter(r.index for report in reports for r in report.results)
    assert set(indexes.values()) == {1}, "a recipient reported by two workers"


# --- many workers, one broadcast -------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 5])
async def test_three_workers_share_one_broadcast(served, postgres_url, batch_size):
    fake, _ = served
    recipients = numbers(240)
    gate = Gate({"planner", "w1", "w2"})
    reports = {}

    async def planner():
        async with client_of(served, "planner", gate) as client:
            reports["planner"] = await plan_and_work(
                client,
                recipients,
                postgres_url,
                worker_id="planner",
                batch_size=batch_size,
                **HEALTHY,
            )

    async def worker(worker_id):
        async with client_of(served, worker_id, gate) as client:
            reports[worker_id] = await client.broadcast_work(
                journal=postgres_url,
                name=NAME,
                worker_id=worker_id,
                batch_size=batch_size,
                **HEALTHY,
            )

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            group.start_soon(worker, "w1")
            group.start_soon(worker, "w2")
            group.start_soon(planner)
    rows = journal_rows(postgres_url)
    check_exactly_once(fake, recipients, rows, reports.values())
    assert {row[0] for row in rows.values()} == {STATE_FINAL}
    assert {row[3] for row in rows.values()} == {None}  # nobody holds anything
    assert sorted(r.index for rep in reports.values() for r in rep.results) == list(
        range(240)
    )
    for report in reports.values():  # each worker claimed and sent some
        assert report.counts["delivered"] > 0
        assert all(r.message == "Hi" and r.message_id for r in report.results)
    assert gate.open.is_set()


async def test_several_planners_at_once_add_each_recipient_once(served, postgres_url):
    fake, _ = served
    recipients = [*numbers(150), "not a number", "0917" + "0" * 7]  # a copy of #0
    reports = []

    async def planner(i):
        async with client_of(served) as client:
            reports.append(
                await plan_and_work(
                    client,
                    recipients,
                    postgres_url,
                    worker_id=f"planner-{i}",
                    **HEALTHY,
                )
            )

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for i in range(3):
                group.start_soon(planner, i)
    rows = journal_rows(postgres_url)
    assert sorted(row[4] for row in rows.values()) == list(range(150))
    # Each planner reports the rows of its input no one sends; the sends are
    # reported by whoever made them, once.
    for report in reports:
        assert [(r.index, r.status) for r in report.results if r.index >= 150] == [
            (150, INVALID),
            (151, DUPLICATE),
        ]
    sends = [[r for r in report.results if r.index < 150] for report in reports]
    assert sorted(r.index for results in sends for r in results) == list(range(150))
    for number in numbers(150):
        assert fake.texts_to(number) == ["Hi"]


async def test_a_worker_without_input_waits_for_the_plan(served, postgres_url):
    fake, _ = served
    recipients = numbers(60)
    joined = anyio.Event()
    report = None

    async def worker():
        nonlocal report
        async with (
            client_of(served) as client,
            client.broadcast_work_stream(
                journal=postgres_url, name=NAME, **HEALTHY
            ) as results,
        ):
            joined.set()
            report = [result async for result in results]

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            group.start_soon(worker)
            await joined.wait()
            # No plan yet: the worker waits, and has sent nothing.
            await anyio.sleep(0.3)
            assert fake.messages == []
            async with client_of(served) as client:
                planned = await client.broadcast_plan(
                    [*recipients, "nope"],
                    message="Hi",
                    journal=postgres_url,
                    name=NAME,
                )
            assert [(r.index, r.status) for r in planned.results] == [(60, INVALID)]
    assert sorted(r.index for r in report) == list(range(60))
    check_exactly_once(fake, recipients, journal_rows(postgres_url), [planned])
    for number in recipients:
        assert fake.texts_to(number) == ["Hi"]


async def test_with_no_plan_a_worker_gives_up_after_plan_timeout(served, postgres_url):
    async with client_of(served) as client:
        with anyio.fail_after(60), pytest.raises(JournalError) as caught:
            await client.broadcast_work(
                journal=postgres_url, name=NAME, plan_timeout=0.2, **HEALTHY
            )
    assert "no complete plan after 0.2 s" in str(caught.value)
    assert "start a worker with its recipients" in str(caught.value)
    # It left nothing held behind.
    assert journal_rows(postgres_url) == {}


# --- a worker that stops ---------------------------------------------------------


async def test_a_cancelled_worker_hands_back_its_claims_and_its_polls(
    postgres_url,
):
    # Texts stay pending long enough that the cancelled worker leaves polls.
    fake = FakeGateway(credits=1_000_000, seed=4, delivery_delay=0.5)
    recipients = numbers(80)
    first = []
    with fake.serve_in_thread() as base_url:
        served = (fake, base_url)
        async with client_of(served) as client:
            with anyio.CancelScope() as scope:

                def on_result(result):
                    first.append(result)
                    if len(first) >= 5:
                        scope.cancel()

                await plan_and_work(
                    client,
                    recipients,
                    postgres_url,
                    worker_id="leaver",
                    on_result=on_result,
                    claim_size=20,
                    **HEALTHY,
                )
        left = journal_rows(postgres_url)
        states = Counter(row[0] for row in left.values())
        # Nothing claimed or sending is left under the leaver's name: its
        # claims went back to the plan, its polls to whoever comes.
        assert states[STATE_CLAIMED] == states[STATE_SENDING] == 0
        assert states[STATE_PLANNED] > 0
        handed = [row for row in left.values() if row[0] == STATE_ACCEPTED]
        assert handed, "no poll was left to hand over"
        assert all(row[3].startswith("leaver/") for row in handed)
        # Picked up by the next worker at once, not after the lease.
        async with client_of(served) as client:
            with anyio.fail_after(60):
                second = await client.broadcast_work(
                    journal=postgres_url, name=NAME, lease=600.0, concurrency=4,
                    poll_interval=0.05, poll_max_interval=0.1,
                )  # fmt: skip
    rows = journal_rows(postgres_url)
    assert {row[0] for row in rows.values()} == {STATE_FINAL}
    for number in recipients:
        assert len(fake.texts_to(number)) == 1
    # The leaver settled a few for good, and reported the polls it left with
    # the status they had (pending): the second worker settles all the rest,
    # those polls included.
    final_first = {r.index for r in first if r.status == "delivered"}
    left_polling = {r.index for r in first if r.status in ("pending", "accepted")}
    assert len(final_first) + len(left_polling) == len(first)
    assert len(left_polling) == len(handed)
    assert sorted(r.index for r in second.results) == sorted(
        set(range(80)) - final_first
    )
    assert second.counts == {"delivered": 80 - len(final_first)}


async def test_a_stalled_worker_loses_its_rows_and_its_late_writes_change_nothing(
    served, postgres_url
):
    fake, _ = served
    recipients = numbers(20)
    digest = text_digest("Hi")
    async with client_of(served) as client:
        await client.broadcast_plan(
            recipients, message="Hi", journal=postgres_url, name=NAME
        )
    # A worker claims 6 and marks 2 as sending, then stalls (no heartbeat)
    # past its lease: no request of its ever reaches the gateway.
    stalled = await SharedJournal.join(
        postgres_url, name=NAME, worker="stalled", lease=0.2
    )
    try:
        held = await stalled.claim(6)
        assert [c.position for c in held] == list(range(6))
        on_the_wire = [c.key for c in held[:2]]
        assert await stalled.intend(on_the_wire) == on_the_wire
        await anyio.sleep(0.5)
        async with client_of(served) as client:
            with anyio.fail_after(60):
                report = await client.broadcast_work(
                    journal=postgres_url, name=NAME, **HEALTHY
                )
        # The live worker reaped the two sends (reported unknown, never sent)
        # and sent the rest, the stalled worker's claims included.
        unknown = list(report.with_status(UNKNOWN))
        assert [r.index for r in unknown] == [0, 1]
        assert "stopped while this text was being sent" in str(unknown[0].error)
        assert sorted(r.index for r in report.results) == list(range(20))
        before = journal_rows(postgres_url)
        assert before[(recipients[0], digest)][0] == STATE_IN_DOUBT
        # The stalled worker wakes: its outcomes and intents change nothing.
        stalled.record(on_the_wire[0], STATE_ACCEPTED, message_id="iSms-stale")
        stalled.record(on_the_wire[1], STATE_NOT_SENT, error="late")
        assert await stalled.intend([c.key for c in held[2:]]) == []
        await stalled.flush()
        assert stalled.refused == 2
        assert await stalled.renew() == 0
    finally:
        await stalled.aclose()
    assert journal_rows(postgres_url) == before
    for number in recipients[:2]:
        assert fake.texts_to(number) == []
    for number in recipients[2:]:
        assert fake.texts_to(number) == ["Hi"]


async def test_a_dead_worker_s_sends_are_reaped_unknown_with_its_name(
    served, postgres_url
):
    # As a process killed with sends on the wire leaves them: committed
    # intents, and its connection gone without handing anything back.
    recipients = numbers(6)
    async with client_of(served) as client:
        await client.broadcast_plan(
            recipients, message="Hi", journal=postgres_url, name=NAME
        )
    dead = await SharedJournal.join(postgres_url, name=NAME, worker="dead", lease=0.2)
    held = await dead.claim(3)
    await dead.intend([c.key for c in held])
    dead._db.close()  # killed: no hand-over
    dead._closed = True
    await anyio.sleep(0.4)
    async with client_of(served) as client:
        report = await client.broadcast_work(journal=postgres_url, name=NAME, **HEALTHY)
    assert Counter(r.status for r in report.results) == {UNKNOWN: 3, "delivered": 3}
    rows = by_position(journal_rows(postgres_url))
    for position in range(3):
        assert rows[position][0] == STATE_IN_DOUBT
    import psycopg  # noqa: PLC0415 -- only with a server

    with psycopg.connect(postgres_url, autocommit=True) as db:
        errors = db.execute(
            "SELECT error FROM iprogsms_recipients WHERE state = 'unknown'"
        ).fetchall()
    assert {e for (e,) in errors} == {
        (
            "the worker sending it (dead) stopped before its answer was recorded: "
            "it may have gone out, so it is not sent again"
        )
    }


# --- not sent, and polls let go: for a worker that starts later ----------------------


async def test_not_sent_rows_are_sent_by_a_worker_started_after_a_top_up(
    served, postgres_url
):
    fake, _ = served
    fake.credits = 30  # one credit a text: 30 of the 70 go out
    recipients = numbers(70)
    async with client_of(served) as client:
        with anyio.fail_after(60), pytest.raises(InsufficientCreditsError) as caught:
            await plan_and_work(
                client,
                recipients,
                postgres_url,
                **HEALTHY,
            )
        # The worker ended (it did not loop on what it could not send), and
        # its report says who was sent and who was not.
        first = caught.value.report
        assert first.counts["not_sent"] == 40 == caught.value.unsent
        rows = journal_rows(postgres_url)
        assert Counter(row[0] for row in rows.values())[STATE_NOT_SENT] == 40
        fake.credits = 1000  # a top-up
        with anyio.fail_after(60):
            second = await client.broadcast_work(
                journal=postgres_url, name=NAME, **HEALTHY
            )
    assert {r.index for r in second.results} == {
        r.index for r in first.with_status("not_sent")
    }
    assert second.counts == {"delivered": 40}
    for number in recipients:
        assert fake.texts_to(number) == ["Hi"]


async def test_running_workers_leave_not_sent_rows_to_later_ones(postgres_url):
    rows = [(i, f"0917{i:07d}", "Hi") for i in range(3)]
    running = await SharedJournal.join(postgres_url, name=NAME, worker="r", lease=60)
    other = await SharedJournal.join(postgres_url, name=NAME, worker="o", lease=60)
    try:
        await running.plan(rows)
        await running.finish_plan()
        claimed = await other.claim(3)
        await other.intend([claimed[0].key])
        other.record(claimed[0].key, STATE_NOT_SENT, error="HTTP 402: no credits")
        other.record(claimed[1].key, STATE_NOT_SENT, error="HTTP 402: no credits")
        await other.flush()
        await other.aclose()  # its third claim goes back to the plan
        # The running worker started before those were recorded: it takes the
        # one given back, and not the two not sent.
        assert [c.position for c in await running.claim(10)] == [2]
        outlook = await running.outlook()
        assert (outlook.planned, outlook.claimable) == (True, False)
        later = await SharedJournal.join(postgres_url, name=NAME, worker="l", lease=60)
        try:
            taken = await later.claim(10)
            assert sorted(c.position for c in taken) == [0, 1]
            assert {c.state for c in taken} == {STATE_CLAIMED}
        finally:
            await later.aclose()
    finally:
        await running.aclose()


async def test_polls_given_up_are_let_go_then_taken_up_by_a_later_worker(
    postgres_url,
):
    clock = ManualClock()
    fake = FakeGateway(credits=1_000_000, seed=5, delivery_delay=3600, clock=clock)
    recipients = numbers(10)
    with fake.serve_in_thread() as base_url:
        served = (fake, base_url)
        async with client_of(served) as client:
            first = await plan_and_work(
                client,
                recipients,
                postgres_url,
                **{**HEALTHY, "poll_timeout": 0.2},
            )
            assert first.counts == {"pending": 10}
            rows = journal_rows(postgres_url)
            # Let go: nobody holds them, so no running worker polls them again.
            assert {(row[0], row[3]) for row in rows.values()} == {
                (STATE_ACCEPTED, None)
            }
            clock.advance(7200)  # now delivered at the gateway
            second = await client.broadcast_work(
                journal=postgres_url, name=NAME, **HEALTHY
            )
    assert second.counts == {"delivered": 10}
    assert {row[0] for row in journal_rows(postgres_url).values()} == {STATE_FINAL}
    assert fake.requests["POST /sms_messages"] == 10


# --- the schema ---------------------------------------------------------------------

V1_SCHEMA = (
    """CREATE TABLE iprogsms_schema_version (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        version integer NOT NULL)""",
    """CREATE TABLE iprogsms_broadcasts (
        name text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE iprogsms_recipients (
        broadcast text NOT NULL
            REFERENCES iprogsms_broadcasts (name) ON DELETE CASCADE,
        phone_number text NOT NULL, text_digest text NOT NULL,
        state text NOT NULL, message_id text, status text, error text,
        updated_at timestamptz NOT NULL, position bigint, claimed_by text,
        lease_until timestamptz,
        PRIMARY KEY (broadcast, phone_number, text_digest))""",
    """CREATE INDEX iprogsms_recipients_claimable
        ON iprogsms_recipients (broadcast, position)
        WHERE state IN ('planned', 'claimed')""",
    """CREATE TABLE iprogsms_texts (
        broadcast text NOT NULL
            REFERENCES iprogsms_broadcasts (name) ON DELETE CASCADE,
        text_digest text NOT NULL, message text NOT NULL,
        PRIMARY KEY (broadcast, text_digest))""",
    "INSERT INTO iprogsms_schema_version (version) VALUES (1)",
)


async def test_a_version_1_database_is_migrated_in_place(served, postgres_url):
    import psycopg  # noqa: PLC0415 -- only with a server

    fake, _ = served
    digest = text_digest("Hi")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        for statement in V1_SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO iprogsms_broadcasts (name) VALUES (%s)", (NAME,))
        # A run of version 1 texted the first number, and was stopped.
        db.execute(
            "INSERT INTO iprogsms_recipients (broadcast, phone_number, text_digest,"
            " state, message_id, status, updated_at)"
            " VALUES (%s, '09170000000', %s, 'final', 'iSms-old', 'delivered', now())",
            (NAME, digest),
        )
    async with client_of(served) as client:
        report = await client.broadcast(
            numbers(5),
            message="Hi",
            journal=postgres_url,
            name=NAME,
            shared=True,
            **HEALTHY,
        )
    with psycopg.connect(postgres_url, autocommit=True) as db:
        assert db.execute("SELECT version FROM iprogsms_schema_version").fetchall() == [
            (2,)
        ]
        planned_at = db.execute(
            "SELECT planned_at FROM iprogsms_broadcasts WHERE name = %s", (NAME,)
        ).fetchone()[0]
        indexes = {
            row[0]
            for row in db.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s",
                ("iprogsms_recipients",),
            )
        }
    assert planned_at is not None
    assert {"iprogsms_recipients_held", "iprogsms_recipients_left"} <= indexes
    # The row version 1 wrote is kept (and given its position), never resent.
    rows = journal_rows(postgres_url)
    assert rows[("09170000000", digest)] == (
        STATE_FINAL, "iSms-old", "delivered", None, 0,
    )  # fmt: skip
    assert fake.texts_to("09170000000") == []
    assert sorted(r.index for r in report.results) == [1, 2, 3, 4]


# --- options ------------------------------------------------------------------------


URL = "postgresql://h/db"


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"name": "n"}, "journal", "needs a postgresql:// journal"),
        ({"journal": "j.sqlite", "name": "n"}, "journal", "needs a postgresql://"),
        ({"journal": URL}, "name", "needs the broadcast's name"),
        ({"journal": URL, "name": "n", "dry_run": True}, "dry_run", "a dry run"),
        (
            {"journal": URL, "name": "n", "check_credits": True},
            "check_credits",
            "run a dry run first",
        ),
        (
            {"journal": URL, "name": "n", "deduplicate": False},
            "deduplicate",
            "texts each once",
        ),
    ],
)
def test_a_shared_broadcast_refuses_what_it_cannot_do(options, field, words):
    with pytest.raises(ConfigurationError, match=words) as caught:
        BroadcastOptions(shared=True, **options)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("lease", 0.5),
        ("claim_size", 0),
        ("plan_timeout", -1),
        ("worker_id", ""),
        ("worker_id", "x" * 201),
    ],
)
def test_the_shared_options_are_checked(option, value):
    with pytest.raises(ConfigurationError, match=option):
        BroadcastOptions(**{option: value})


async def test_broadcast_work_needs_a_postgres_journal_and_a_name():
    fake = FakeGateway()
    async with fake.client() as client:
        with pytest.raises(ConfigurationError, match="needs a postgresql:// journal"):
            await client.broadcast_work()
        with pytest.raises(ConfigurationError, match="needs the broadcast's name"):
            await client.broadcast_work(journal="postgresql://h/db")
        with pytest.raises(ConfigurationError, match="needs a postgresql:// journal"):
            await client.broadcast_plan(["09171234567"], message="Hi")
    assert fake.messages == []


async def test_a_worker_holds_rows_under_its_id_and_a_suffix_of_its_own(
    postgres_url,
):
    assert default_worker_id().rsplit(":", 1)[1].isdigit()
    journal = await SharedJournal.join(
        postgres_url, name=NAME, worker="pod-3/a1b2c3", lease=60
    )
    try:
        await journal.plan([(0, "09170000000", "Hi")])
        await journal.claim(1)
        assert journal_rows(postgres_url)[("09170000000", text_digest("Hi"))][3] == (
            "pod-3/a1b2c3"
        )
        assert await journal.renew() == 1
    finally:
        await journal.aclose()


# --- the engine's side ---------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 3])
async def test_the_engine_sends_only_what_intend_took(tmp_path, batch_size):
    # As a shared worker's journal does when another worker took some of its
    # claims: intend gives back a subset, and only that subset goes out.
    from iprogsms_async.broadcast._engine import BroadcastRun  # noqa: PLC0415
    from iprogsms_async.broadcast._journal import Journal  # noqa: PLC0415

    class TakesEveryOther(Journal):
        async def intend(self, keys):
            await super().intend(keys)
            return [key for key in keys if int(key[0][-1]) % 2 == 0]

    fake = FakeGateway(credits=1000)
    recipients = numbers(12)
    journal = await TakesEveryOther.open(tmp_path / "j.sqlite")
    options = BroadcastOptions(
        message="Hi", poll=False, concurrency=2, batch_size=batch_size
    )
    async with fake.client() as client:
        run = BroadcastRun(
            client._broadcast_sender(None), recipients, options, journal=journal
        )
        send, receive = anyio.create_memory_object_stream(100)
        async with anyio.create_task_group() as group:
            group.start_soon(run.run, send)
            with receive:
                results = [result async for result in receive]
    await journal.aclose()
    taken = [n for n in recipients if int(n[-1]) % 2 == 0]
    assert sorted(r.phone_number for r in results) == taken
    assert {r.status for r in results} == {"accepted"}
    for number in recipients:
        assert fake.texts_to(number) == (["Hi"] if number in taken else [])


async def test_a_heartbeat_keeps_a_worker_s_polls_its_own_past_its_lease(
    postgres_url,
):
    # Texts stay pending for 3 s, three leases of 1 s: the first worker polls
    # them all that time, renewing its leases; the second, joining meanwhile,
    # never takes one of them (else both would report it).
    fake = FakeGateway(credits=1_000_000, seed=8, delivery_delay=3.0)
    recipients = numbers(20)
    options = {
        "concurrency": 4, "lease": 1.0, "poll_interval": 0.1,
        "poll_max_interval": 0.2,
    }  # fmt: skip
    reports = {}
    accepted = anyio.Event()
    with fake.serve_in_thread() as base_url:
        served = (fake, base_url)

        async def first():
            async with client_of(served) as client:
                reports["first"] = await client.broadcast(
                    recipients, message="Hi", journal=postgres_url, name=NAME,
                    shared=True, claim_size=20,
                    on_result=lambda _: None,
                    on_progress=lambda p: p.accepted and accepted.set(),
                    **options,
                )  # fmt: skip

        async def second():
            await accepted.wait()
            async with client_of(served) as client:
                reports["second"] = await client.broadcast_work(
                    journal=postgres_url, name=NAME, **options
                )

        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                group.start_soon(first)
                group.start_soon(second)
    rows = journal_rows(postgres_url)
    check_exactly_once(fake, recipients, rows, reports.values())
    assert {row[0] for row in rows.values()} == {STATE_FINAL}
    assert sorted(r.index for r in reports["first"].results) == list(range(20))
    assert len(reports["second"]) == 0
