"""The scaling page's example runs as written, against a real Redis; its
recipes parse, and their commands are real."""

import configparser
import re
import shlex

import pytest

from iprogsms_async.cli._exit import ExitCode
from iprogsms_async.cli._parser import parse_args
from iprogsms_async.testing import FakeGateway

from .doc_blocks import blocks, code_block, run_async_block


def test_the_shared_rate_limit_runs_as_written(redis_url, redis_key, monkeypatch):
    pytest.importorskip("redis")
    code = code_block(
        "docs/scaling.md", "One rate limit for every process: `RedisRateLimit`"
    )
    assert '"redis://redis:6379/0", key="account-1"' in code
    code = code.replace('"redis://redis:6379/0"', repr(redis_url))
    code = code.replace('"account-1"', repr(redis_key))
    fake = FakeGateway()
    numbers = ["09171251234", "09181234567"]
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", fake.token)
        # Redis's client is asyncio's only: the page says so.
        found = run_async_block(
            code, {"numbers": numbers}, backend="asyncio", name="scaling"
        )
    assert found["report"].counts == {"delivered": 2}
    assert sorted(fake.texts_to(n)[0] for n in numbers) == ["Hi", "Hi"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_many_workers_run_as_written(postgres_url, monkeypatch, backend):
    code = code_block("docs/scaling.md", "Many workers, one broadcast")
    assert 'JOURNAL = "postgresql://sms@db.internal/sms"' in code
    code = code.replace('"postgresql://sms@db.internal/sms"', repr(postgres_url))
    fake = FakeGateway()
    numbers = [f"0917125{i:04d}" for i in range(30)]
    with fake.serve_in_thread() as base_url:
        monkeypatch.setenv("IPROGSMS_BASE_URL", base_url)
        monkeypatch.setenv("IPROGSMS_API_TOKEN", fake.token)
        found = run_async_block(
            code, {"numbers": numbers}, backend=backend, name="shared"
        )
    # Run one after the other, the first worker did everything; the second
    # joined, found nothing left, and left.
    assert sorted(r.index for r in found["report"].results) == list(range(30))
    assert len(found["joined"]) == 0
    for number in numbers:
        assert fake.texts_to(number) == ["Your bill is due"]


# --- the recipes: Kubernetes and systemd ---------------------------------------

PAGE = "docs/scaling.md"
JOURNAL_URL = "postgresql://sms@postgres.db.svc:5432/sms"
JOURNAL_COMMIT = 30
"""Seconds the drain allows for the journal's last commit (its statement bound)."""


def drain_bound(timeout):
    """The longest a stopped worker drains: a request's 4 parts, and a commit."""
    return 4 * timeout + JOURNAL_COMMIT


def manifests():
    yaml = pytest.importorskip("yaml")
    found = {}
    for block in blocks(PAGE):
        if (block.heading, block.language) == ("Kubernetes", "yaml"):
            for manifest in yaml.safe_load_all(block.code):
                found[manifest["kind"]] = manifest
    return found


def container_of(manifest):
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    return container


def expanded(args, env):
    """Kubernetes' ``$(NAME)`` in args, from the container's env (secrets faked)."""
    values = {
        "JOURNAL_URL": JOURNAL_URL,
        "POD_NAME": "sms-june-bills-0-x7k2q",
        "IPROGSMS_JOURNAL_URL": JOURNAL_URL,
    }
    declared = {variable["name"] for variable in env}
    out = []
    for arg in args:
        names = re.findall(r"\$\((\w+)\)", arg)
        assert set(names) <= declared, f"{names} are not all in the container's env"
        value = arg
        for name in names:
            value = value.replace(f"$({name})", values[name])
        out.append(value)
    return out


def option(argv, name):
    return argv[argv.index(name) + 1]


def test_the_kubernetes_manifests_parse_and_name_their_secrets():
    found = manifests()
    assert set(found) == {"Secret", "Job", "Deployment"}
    secret = found["Secret"]
    keys = set(secret["stringData"])
    assert secret["stringData"]["journal-url"] == JOURNAL_URL
    assert "@" in JOURNAL_URL
    assert ":" not in JOURNAL_URL.partition("@")[0].removeprefix("postgresql://")
    for kind in ("Job", "Deployment"):
        container = container_of(found[kind])
        env = {variable["name"]: variable for variable in container["env"]}
        token = env["IPROGSMS_API_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert token == {"name": "iprogsms", "key": "api-token"}
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "pg-password"
        for variable in env.values():
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["name"] == secret["metadata"]["name"]
                assert ref["key"] in keys
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]["memory"]
        # No secret in any argument: tokens and passwords come from the env.
        assert not any("REPLACE" in arg for arg in container["command"])


def test_the_indexed_jobs_command_is_the_clis_and_its_grace_covers_the_drain():
    job = manifests()["Job"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 4
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # as podFailurePolicy requires
    rules = spec["podFailurePolicy"]["rules"]
    assert {"action": "FailIndex", "onExitCodes": {
        "containerName": "worker", "operator": "In",
        "values": [ExitCode.PARTIAL]}} in rules  # fmt: skip
    container = container_of(job)
    assert container["name"] == "worker"
    argv = expanded(container["command"], container["env"])
    assert argv[0] == "iprogsms"
    args = parse_args(argv[1:])
    assert (args.command, args.shared) == ("broadcast", True)
    assert (args.journal, args.name) == (JOURNAL_URL, "june-bills")
    assert args.worker_id == "sms-june-bills-0-x7k2q"
    assert args.recipients.startswith(container["volumeMounts"][0]["mountPath"])
    # Four workers at 5 a second: the account's 20, as the comment says.
    assert args.rate_limit * spec["parallelism"] == 20
    assert pod["terminationGracePeriodSeconds"] >= drain_bound(args.timeout)


def test_the_deployments_command_is_procrastinates_and_its_grace_covers_the_drain(
    monkeypatch,
):
    cli = pytest.importorskip("procrastinate.cli")
    example = pytest.importorskip("examples.procrastinate_broadcast")
    deployment = manifests()["Deployment"]
    container = container_of(deployment)
    argv = expanded(container["command"], container["env"])
    assert argv[0] == "procrastinate"
    parsed = cli.parse_args(argv[1:])
    assert parsed["app"] is example.app
    assert (parsed["command"], parsed["queues"]) == ("worker", [example.QUEUE])
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    stop = parsed["shutdown_graceful_timeout"]
    assert grace >= stop + drain_bound(example.TIMEOUT)
    assert "IPROGSMS_JOURNAL_URL" in {v["name"] for v in container["env"]}
    assert example.JOURNAL_VARIABLE == "IPROGSMS_JOURNAL_URL"


def systemd_unit():
    text = code_block(PAGE, "systemd", language="ini")
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # systemd's keys are case-sensitive
    unit.read_string(text)
    return unit


def test_the_systemd_unit_parses_and_its_command_is_the_clis():
    unit = systemd_unit()
    service = unit["Service"]
    command = service["ExecStart"]
    command = command.replace("${JOURNAL_URL}", JOURNAL_URL)
    command = command.replace("%i", "june-bills").replace("%H", "host-1")
    assert "%" not in command
    assert "$" not in command  # every variable is one systemd fills in
    argv = shlex.split(command)
    assert argv[0].endswith("/iprogsms")
    args = parse_args(argv[1:])
    assert args.command in {"broadcast work", "broadcast-work"}
    assert (args.journal, args.name, args.worker_id) == (
        JOURNAL_URL, "june-bills", "host-1"
    )  # fmt: skip
    assert service["EnvironmentFile"].startswith("/")
    assert service["Restart"] == "on-failure"
    # The signal the command drains on, given the time its drain may take.
    assert service["KillSignal"] in {"SIGINT", "SIGTERM"}
    assert int(service["TimeoutStopSec"]) >= drain_bound(args.timeout)
    assert str(int(ExitCode.PARTIAL)) in service["SuccessExitStatus"].split()
    assert str(int(ExitCode.INTERRUPTED)) in service["SuccessExitStatus"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_console_lines_of_the_recipes_are_real_commands():
    console = code_block(PAGE, "systemd", language="console")
    lines = [
        line.removeprefix("$ ")
        for line in console.splitlines()
        if line.startswith("$ iprogsms ")
    ]
    assert lines
    for line in lines:
        argv = shlex.split(line.replace('"$JOURNAL_URL"', JOURNAL_URL))
        parse_args(argv[1:])
