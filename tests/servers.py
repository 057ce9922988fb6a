"""Real PostgreSQL and Redis servers for the tests of the journal stores and limits.

`scripts/services` (which `.ci/run` uses) starts both on free loopback ports
and exports their URLs in ``IPROGSMS_TEST_POSTGRES_URL`` and
``IPROGSMS_TEST_REDIS_URL``. Without one, a test that needs it is skipped and
says why; in CI (``CI=true``) it fails instead: there, these tests must run.

PostgreSQL through pytest-postgresql: its noproc fixture on the given server,
and a database of the test's own, made from a template and dropped after it
(named per xdist worker, so parallel workers never share one). Redis through
pytest-redis's noproc fixture (it checks the server answers); its client
fixture is not used because it ends each test with FLUSHALL, which would wipe
the keys of tests running at the same time in other workers. Each test gets a
key prefix of its own instead, and its keys are deleted after it.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote, urlsplit

import pytest
from pytest_postgresql import factories as pg_factories
from pytest_redis import factories as redis_factories

POSTGRES_ENV = "IPROGSMS_TEST_POSTGRES_URL"
REDIS_ENV = "IPROGSMS_TEST_REDIS_URL"
_HOW = "`scripts/services run -- scripts/test` starts one"


def server_url(variable: str, what: str) -> str:
    """The URL in ``variable``; skip the test without one (fail it in CI)."""
    url = os.environ.get(variable)
    if url:
        return url
    reason = f"needs a {what} server: set {variable} ({_HOW})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; in CI these tests must run", pytrace=False)
    pytest.skip(reason)


def _parts(variable: str, default_port: int) -> dict[str, object]:
    url = urlsplit(os.environ.get(variable) or f"x://127.0.0.1:{default_port}")
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or default_port,
        "password": url.password,
    }


_pg = _parts(POSTGRES_ENV, 5432)
iprogsms_postgresql_server = pg_factories.postgresql_noproc(
    host=str(_pg["host"]),
    port=int(str(_pg["port"])),
    user=urlsplit(os.environ.get(POSTGRES_ENV, "")).username or "postgres",
    password=_pg["password"],
    dbname="iprogsms_test",
)
iprogsms_postgresql_database = pg_factories.postgresql("iprogsms_postgresql_server")

_redis = _parts(REDIS_ENV, 6379)
iprogsms_redis_server = redis_factories.redis_noproc(
    host=str(_redis["host"]), port=int(str(_redis["port"]))
)


@pytest.fixture
def postgres_url(request):
    """A URL to an empty database of this test's own on the test server."""
    server_url(POSTGRES_ENV, "PostgreSQL")
    connection = request.getfixturevalue("iprogsms_postgresql_database")
    info = connection.info
    user = quote(info.user, safe="")
    password = f":{quote(info.password, safe='')}" if info.password else ""
    return f"postgresql://{user}{password}@{info.host}:{info.port}/{info.dbname}"


@pytest.fixture
def redis_url(request):
    """The test Redis server's URL."""
    url = server_url(REDIS_ENV, "Redis")
    request.getfixturevalue("iprogsms_redis_server")
    return url


@pytest.fixture
def redis_key(redis_url):
    """A key prefix of this test's own; its keys are deleted after the test."""
    import redis  # noqa: PLC0415 -- only where a Redis server is given

    prefix = f"iprogsms-test:{os.environ.get('PYTEST_XDIST_WORKER', 'main')}:"
    prefix += uuid.uuid4().hex
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
