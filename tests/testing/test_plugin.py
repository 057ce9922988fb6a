"""The pytest plugin: its fixtures, used here and in fresh pytest runs.

The plugin is registered by the package's ``pytest11`` entry point, so this
suite gets the fixtures the way any user's suite does.
"""

import pytest

from iprogsms_async import IProgSMS, ServerError
from iprogsms_async.testing import FakeGateway, Faults

pytest_plugins = ["pytester"]


@pytest.mark.anyio
async def test_the_client_fixture_talks_to_the_fake_fixture(
    iprogsms_client, iprogsms_fake
):
    assert isinstance(iprogsms_client, IProgSMS)
    assert isinstance(iprogsms_fake, FakeGateway)
    sent = await iprogsms_client.sms.send("0917 125 1234", "from the fixture")
    assert iprogsms_fake.message(sent.message_id).message == "from the fixture"


@pytest.mark.anyio
@pytest.mark.iprogsms(credits=1, faults=Faults(server_error_after_accept=1.0))
async def test_the_marker_configures_the_fake(iprogsms_client, iprogsms_fake):
    with pytest.raises(ServerError) as caught:
        await iprogsms_client.sms.send("09171251234", "x")
    assert caught.value.maybe_sent is True
    assert iprogsms_fake.credits == 0
    assert iprogsms_fake.texts_to("09171251234") == ["x"]


def test_a_sync_test_gets_a_fresh_fake(iprogsms_fake):
    assert iprogsms_fake.messages == []
    assert iprogsms_fake.credits == FakeGateway().credits


USER_TESTS = """
import pytest
from iprogsms_async import ServerError
from iprogsms_async.testing import Faults

CLIENTS = []


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_under_anyio(iprogsms_client, iprogsms_fake):
    CLIENTS.append(iprogsms_client)
    sent = await iprogsms_client.sms.send("09171251234", "hi")
    assert iprogsms_fake.message(sent.message_id).message == "hi"


@pytest.mark.anyio
@pytest.mark.iprogsms(faults=Faults(server_error_before_accept=1.0), seed=3)
async def test_marker(iprogsms_client, iprogsms_fake):
    CLIENTS.append(iprogsms_client)
    with pytest.raises(ServerError):
        await iprogsms_client.sms.send("09171251234", "hi")
    assert iprogsms_fake.messages == []


def test_sync(iprogsms_fake):
    assert iprogsms_fake.credits > 0


def test_every_client_was_closed_after_its_test():
    assert len(CLIENTS) == 4
    assert all(client.is_closed for client in CLIENTS)
"""

ASYNCIO_TESTS = """
import pytest

CLIENTS = []


@pytest.mark.asyncio
async def test_under_pytest_asyncio(iprogsms_client, iprogsms_fake):
    CLIENTS.append(iprogsms_client)
    await iprogsms_client.account.credits()
    assert iprogsms_fake.requests["GET /account/sms_credits"] == 1


def test_closed_after():
    assert [client.is_closed for client in CLIENTS] == [True]
"""

AUTO_MODE_TESTS = """
async def test_unmarked_in_auto_mode(iprogsms_client, iprogsms_fake):
    await iprogsms_client.sms.send("09171251234", "auto")
    assert iprogsms_fake.texts_to("09171251234") == ["auto"]
"""

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def test_fixtures_work_under_anyio_and_pytest_asyncio_strict_mode(pytester):
    pytester.makeini(INI)
    pytester.makepyfile(test_anyio=USER_TESTS, test_asyncio=ASYNCIO_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=8)


def test_fixtures_work_under_pytest_asyncio_auto_mode(pytester):
    pytester.makeini(INI + "asyncio_mode = auto\n")
    pytester.makepyfile(test_user=AUTO_MODE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_plugin_needs_no_pytest_asyncio(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=6)


def test_the_plugin_is_registered_by_its_entry_point_name(pytester):
    pytester.makepyfile(test_user="def test_x(iprogsms_fake):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:iprogsms"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'iprogsms_fake' not found*"])


def test_the_marker_takes_keywords_only(pytester):
    pytester.makepyfile(
        test_user=(
            "import pytest\n"
            "@pytest.mark.iprogsms(5)\n"
            "def test_x(iprogsms_fake):\n    pass\n"
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*keyword arguments only*"])
