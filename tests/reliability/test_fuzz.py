"""Fuzzed answers: whatever the gateway sends, the client raises only its own errors.

Every operation meets arbitrary bytes, arbitrary JSON, its documented answer
with a field of the wrong type or missing, HTML error pages, and a corpus of
hostile bodies (huge, deeply nested, badly compressed). It returns its model
only for a 2xx answer, raises an `IProgSMSError` otherwise (never KeyError,
TypeError, JSONDecodeError, AttributeError or RecursionError), and a send's
error says ``maybe_sent`` exactly as the status warrants. A broadcast records
such a recipient's error and goes on.
"""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iprogsms_async import (
    AuthenticationError,
    Credits,
    InsufficientCreditsError,
    IProgSMS,
    IProgSMSError,
    MessageStatus,
    NetworkInfo,
    Reminder,
    SentMessage,
    SentOtp,
)
from iprogsms_async.broadcast import DUPLICATE, INVALID, NOT_SENT, UNKNOWN

from ..support import TOKEN

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = [
    pytest.mark.anyio,
    # httpx nests async generators when it reads a body; under trio, those a
    # read abandons (a body over the cap, a broken gzip) are reported when
    # collected during the run (trio closes the rest quietly when the run
    # ends). An httpx matter (encode/httpx#3686), not a leak of ours.
    pytest.mark.filterwarnings(r"ignore:Async generator 'httpx\.:ResourceWarning"),
]

NUMBER, OTHER = "09171251234", "09181234567"
REMINDER = {
    "id": 1,
    "phone_number": NUMBER,
    "message": "Internet Bill.",
    "scheduled_at": "2025-03-08T05:00:00.000+08:00",
    "status": "scheduled",
    "created_at": "2025-03-07T16:11:38.937+08:00",
    "updated_at": "2025-03-07T16:11:38.937+08:00",
}
ENVELOPE = {"status": "success", "message": "Done."}


class Operation(NamedTuple):
    call: Callable[[IProgSMS], Awaitable[Any]]
    documented: dict[str, Any]
    """The documented success answer, which the fuzzing mutates."""
    sends: bool
    returns: Callable[[object], bool]


def _reminder(result):
    return isinstance(result, Reminder)


OPERATIONS = {
    "sms.send": Operation(
        lambda c: c.sms.send(NUMBER, "Hi"),
        {"status": 200, "message": "Queued.", "message_id": "iSms-XHYBk"},
        sends=True,
        returns=lambda r: isinstance(r, SentMessage),
    ),
    "sms.send_bulk": Operation(
        lambda c: c.sms.send_bulk([NUMBER, OTHER], "Hi"),
        {"status": 200, "message": "Queued.", "message_ids": "iSms-a1,iSms-b2"},
        sends=True,
        returns=lambda r: len(r) == 2 and all(isinstance(m, SentMessage) for m in r),
    ),
    "sms.status": Operation(
        lambda c: c.sms.status("iSms-XHYBk"),
        {"status": 200, "message_status": "pending"},
        sends=False,
        returns=lambda r: isinstance(r, MessageStatus),
    ),
    "account.credits": Operation(
        lambda c: c.account.credits(),
        {**ENVELOPE, "data": {"load_balance": 10}},
        sends=False,
        returns=lambda r: isinstance(r, Credits),
    ),
    "reminders.create": Operation(
        lambda c: c.reminders.create(
            phone_number=NUMBER, message="Bill", scheduled_at="2025-03-08 05:00AM"
        ),
        {**ENVELOPE, "data": REMINDER},
        sends=True,
        returns=_reminder,
    ),
    "reminders.get": Operation(
        lambda c: c.reminders.get(1),
        {**ENVELOPE, "data": REMINDER},
        sends=False,
        returns=_reminder,
    ),
    "reminders.update": Operation(
        lambda c: c.reminders.update(1, message="Changed"),
        {**ENVELOPE, "data": REMINDER},
        sends=False,
        returns=_reminder,
    ),
    "reminders.delete": Operation(
        lambda c: c.reminders.delete(1),
        {**ENVELOPE, "data": REMINDER},
        sends=False,
        returns=_reminder,
    ),
    "phone_numbers.detect": Operation(
        lambda c: c.phone_numbers.detect(NUMBER),
        {
            "status": "success",
            "data": {
                "phone_number": NUMBER,
                "is_smart_tnt": False,
                "network": "Globe/TM",
            },
        },
        sends=False,
        returns=lambda r: isinstance(r, NetworkInfo),
    ),
    "otp.send": Operation(
        lambda c: c.otp.send(NUMBER),
        {
            **ENVELOPE,
            "data": {
                "otp_code": "123456",
                "otp_code_expires_at": "2025-03-08T05:05:00+08:00",
            },
        },
        sends=True,
        returns=lambda r: isinstance(r, SentOtp),
    ),
    "otp.verify": Operation(
        lambda c: c.otp.verify(NUMBER, "123456"),
        {**ENVELOPE, "message": "OTP verified."},
        sends=False,
        returns=lambda r: isinstance(r, bool),
    ),
}


class Answer(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]

    def response(self, request: httpx.Request) -> httpx.Response:
        # A stream, not content=: the client must meet the raw bytes (and any
        # broken Content-Encoding) as it would from a socket.
        return httpx.Response(
            self.status,
            headers=self.headers,
            stream=httpx.ByteStream(self.body),
            request=request,
        )


# --- strategies -------------------------------------------------------------------

STATUSES = st.sampled_from((200, 201, 204, 299, 301, 400, 401, 402, 403, 404))
STATUSES |= st.sampled_from((408, 418, 422, 429, 500, 502, 503, 504, 599))
ASCII = st.characters(min_codepoint=32, max_codepoint=126)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.one_of(
            st.text(ASCII, max_size=40),
            st.integers(-(10**6), 10**30).map(str),
            st.floats().map(repr),
            st.sampled_from(
                ["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"]
            ),
        ),
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "text/html; charset=utf-8",
                "text/plain",
                "x/y; charset=nope",
            ]
        ),
        "Content-Encoding": st.sampled_from(["gzip", "deflate", "identity", "bogus"]),
    },
)


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    # A named function, not a lambda: hypothesis reads a lambda's source with
    # ast.parse to describe it, which CPython 3.11.7 can get wrong
    # ("AST constructor recursion depth mismatch") deep in a test's stack.
    return st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["status", "message", "data", "error", "errors"])
        | st.text(max_size=8),
        children,
        max_size=5,
    )


def _not_a_bad_token(status: int) -> bool:
    return status not in (401, 403)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["error", "success", "200", "500", "²", "pending", ""]),
    _containers,
    max_leaves=16,
)


def encode(value: object) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity too, as a sloppy server might


def html_page(title: str, text: str) -> bytes:
    head = f"<title>{title}</title>" if title else ""
    return (
        f"<!DOCTYPE html><html><head>{head}</head><body>{text}</body></html>".encode()
    )


def leaf_paths(value, path=()):
    """Every path to a key or item inside a JSON value, outermost first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from leaf_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from leaf_paths(item, (*path, index))


@st.composite
def mutated(draw, documented):
    """The documented answer with one field given another value, or taken away."""
    body = copy.deepcopy(documented)
    path = draw(st.sampled_from(list(leaf_paths(body))))
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        parent[path[-1]] = draw(JSON)
    else:
        del parent[path[-1]]
    return body


def bodies(documented):
    return st.one_of(
        st.binary(max_size=200),
        JSON.map(encode),
        mutated(documented).map(encode),
        st.just(encode(documented)),
        st.builds(html_page, st.text(max_size=40), st.text(max_size=100)),
    )


def answers(documented):
    return st.builds(Answer, STATUSES, bodies(documented), HEADERS)


# --- the checks -------------------------------------------------------------------


def check_error(error: IProgSMSError, operation: Operation, answer: Answer) -> None:
    # Its text, repr and traceback can be produced (no RecursionError there either).
    text = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    assert TOKEN not in text
    if not operation.sends:
        assert error.maybe_sent is False
    elif not 200 <= answer.status < 300:
        # A refusal (4xx) did not send; a 5xx may have, and so may a 3xx
        # (after a POST it often means "done, look elsewhere").
        maybe = answer.status >= 500 or 300 <= answer.status < 400
        assert error.maybe_sent is maybe, (error, answer)


async def call_with(operation: Operation, answer: Answer) -> None:
    transport = httpx.MockTransport(answer.response)
    async with IProgSMS(TOKEN, transport=transport, max_retries=0) as client:
        try:
            result = await operation.call(client)
        except IProgSMSError as error:
            check_error(error, operation, answer)
            return
    assert operation.returns(result), result
    if result is not False:  # otp.verify says False to a refusal
        assert 200 <= answer.status < 300, (answer, result)


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("name", OPERATIONS)
@FUZZ
@given(data=st.data())
async def test_any_answer_to_any_operation(name, data):
    operation = OPERATIONS[name]
    await call_with(operation, data.draw(answers(operation.documented), "answer"))


# --- hostile bodies, every operation ------------------------------------------------

DEEP = 100_000  # far past any recursion limit
HOSTILE = {
    "over 1 MB of text": Answer(200, b"a" * (2 << 20), {}),
    "over 1 MB, announced": Answer(
        200, b"{}" * (1 << 20), {"Content-Length": "2097152"}
    ),
    "Content-Length a lie": Answer(200, b"{}", {"Content-Length": "9" * 40}),
    "nested arrays past the stack": Answer(200, b"[" * DEEP + b"]" * DEEP, {}),
    "nested objects past the stack": Answer(
        200, b'{"a":' * DEEP + b"1" + b"}" * DEEP, {}
    ),
    "a deep message in a 400": Answer(
        400, b'{"message":' + b"[" * 900 + b"]" * 900 + b"}", {}
    ),
    "a deep message in a 500": Answer(
        500, b'{"errors":{"a":' + b"[" * 900 + b'"x"' + b"]" * 900 + b"}}", {}
    ),
    "a deep message_id": Answer(
        200, b'{"status":200,"message_id":' + b"[" * 900 + b"]" * 900 + b"}", {}
    ),
    "a huge list of ids": Answer(
        200, encode({"status": 200, "message_ids": ",".join(["iSms-x"] * 100_000)}), {}
    ),
    "a gzip bomb": Answer(
        200, gzip.compress(b"0" * (20 << 20)), {"Content-Encoding": "gzip"}
    ),
    "broken gzip": Answer(200, b"not gzip at all", {"Content-Encoding": "gzip"}),
    "broken deflate": Answer(500, b"\x00\x01\x02", {"Content-Encoding": "deflate"}),
    "empty": Answer(200, b"", {}),
    "null": Answer(200, b"null", {}),
    "a list": Answer(200, b"[]", {}),
    "a string": Answer(200, b'"ok"', {}),
    "a number": Answer(200, b"42", {}),
    "NaN": Answer(200, b'{"status": NaN, "message_id": Infinity}', {}),
    "invalid UTF-8": Answer(200, b'{"status": 200, "message_id": "\xff\xfe"}', {}),
    "UTF-16 JSON": Answer(200, "\ufeff{}".encode("utf-16"), {}),
    "a status of '²'": Answer(200, encode({"status": "²", "message_id": "x"}), {}),
    "a status of 5000 digits": Answer(200, encode({"status": "9" * 5000}), {}),
    "a status of 10**100": Answer(200, encode({"status": 10**100}), {}),
    "a number of 4000 digits": Answer(
        200, b'{"status":"success","data":{"load_balance":' + b"9" * 4000 + b"}}", {}
    ),
    "an id of 5000 digits": Answer(
        200, encode({**ENVELOPE, "data": {**REMINDER, "id": "9" * 5000}}), {}
    ),
    "a timestamp out of range": Answer(
        200,
        encode(
            {
                **ENVELOPE,
                "data": {**REMINDER, "scheduled_at": "9999-12-31T23:59:59-12:00"},
            }
        ),
        {},
    ),
    "an endless Retry-After": Answer(429, b"{}", {"Retry-After": "9" * 400}),
    "a Retry-After in year 9999": Answer(
        429, b"{}", {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}
    ),
    "a nonsense Retry-After date": Answer(
        429, b"{}", {"Retry-After": "Mon, 32 Foo 99999999999 99:99:99 +9999"}
    ),
    "a Cloudflare 502 page": Answer(
        502,
        html_page("502 Bad Gateway", "<center>cloudflare</center>" * 100),
        {"Content-Type": "text/html"},
    ),
    "a maintenance page with 200": Answer(
        200,
        html_page("We'll be back soon", "Maintenance"),
        {"Content-Type": "text/html"},
    ),
    "an HTML page without a title": Answer(
        404, b"<html><body>Not here</body></html>", {}
    ),
    "a 900 KB HTML page": Answer(
        503, html_page("Down", "x" * 900_000), {"Content-Type": "text/html"}
    ),
    "a 3xx redirect": Answer(301, b"", {"Location": "http://127.0.0.1:1/"}),
}


@pytest.mark.parametrize("name", OPERATIONS)
async def test_hostile_bodies_to_every_operation(name):
    operation = OPERATIONS[name]
    for answer in HOSTILE.values():
        await call_with(operation, answer)


# --- a broadcast goes on -------------------------------------------------------------

ANY_SEND_ANSWER = st.builds(
    Answer,
    STATUSES.filter(_not_a_bad_token),  # a bad token stops it, by design
    bodies(OPERATIONS["sms.send"].documented)
    | bodies(OPERATIONS["sms.send_bulk"].documented)
    | bodies(OPERATIONS["sms.status"].documented),
    # No long Retry-After: a 429 would pause the client for it.
    st.fixed_dictionaries({}, optional={"Retry-After": st.sampled_from(["0", "junk"])}),
)
RECIPIENTS = [f"0917{i:07d}" for i in range(10)] + ["not a number", "09170000001"]


@FUZZ
@given(
    served=st.lists(ANY_SEND_ANSWER, min_size=1, max_size=6),
    batch_size=st.sampled_from([None, 3]),
)
async def test_a_broadcast_records_bad_answers_and_goes_on(
    served, batch_size, no_backoff
):
    cycle = itertools.cycle(served)
    texted = set()  # numbers whose send got a 2xx answer

    def handler(request):
        answer = next(cycle)
        if request.method == "POST" and 200 <= answer.status < 300:
            texted.update(json.loads(request.content)["phone_number"].split(","))
        return answer.response(request)

    transport = httpx.MockTransport(handler)
    async with IProgSMS(TOKEN, transport=transport) as client:
        try:
            report = await client.broadcast(
                RECIPIENTS,
                message="Hi",
                concurrency=3,
                batch_size=batch_size,
                poll_interval=0.001,
                poll_max_interval=0.002,
                poll_timeout=0.01,
            )
        except AuthenticationError:
            # A 401 or 403 stops a broadcast: one was declared in a body.
            return
        except InsufficientCreditsError as error:
            # So does a 402: every recipient is still reported, the rest
            # not_sent (checked below with the others: no id, an error).
            report = error.report
            unsent = error.unsent
        else:
            unsent = 0
    results = report.results
    assert sum(r.status == NOT_SENT for r in results) == unsent
    assert [r.index for r in results] == list(range(len(RECIPIENTS)))
    assert results[-2].status == INVALID
    assert results[-1].status == DUPLICATE
    for result in results[:-2]:
        if result.message_id is not None:
            # Reported as sent only if its send was answered with success.
            assert result.phone_number in texted, result
        else:
            assert result.error is not None, result
            assert isinstance(result.error, IProgSMSError)
            if result.status == UNKNOWN:
                assert result.error.maybe_sent
