"""Every option has help, and every default is shown."""

import argparse

import pytest

from iprogsms_async.cli._parser import build_parser


def every_parser(parser=None):
    parser = parser or build_parser()
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from every_parser(sub)


PARSERS = {parser.prog: parser for parser in every_parser()}


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_every_argument_has_help_and_every_value_option_its_default(prog):
    parser = PARSERS[prog]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        shown = formatter._get_help_string(action)
        assert shown, f"{prog}: {action.dest} has no help"
        takes_a_value = action.option_strings and action.nargs != 0
        takes_a_value = takes_a_value and not action.required
        if takes_a_value:
            assert "default" in shown, f"{prog}: {action.dest} shows no default"


@pytest.mark.parametrize(
    ("prog", "fragments"),
    [
        ("iprogsms demo", ["--recipients N", "(default: 2000)", "(default: 50)"]),
        (
            "iprogsms sandbox serve",
            ["(default: 8080)", "(default: 127.0.0.1)", "(default: test-token)"],
        ),
        ("iprogsms reminders update", ["--at SCHEDULED_AT", "(default: unchanged)"]),
        ("iprogsms otp send", ["--expires-in MINUTES", "how long the code stays"]),
        ("iprogsms broadcast", ["(default: 50)", "(default: 600.0)"]),
        ("iprogsms credits", ["--sandbox", "(default: 30)", "before or after"]),
    ],
)
def test_the_help_of_a_command_shows_its_defaults(prog, fragments, capsys):
    with pytest.raises(SystemExit) as exited:
        PARSERS[prog].parse_args(["--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for fragment in fragments:
        assert fragment in out


def test_the_main_help_says_options_go_before_or_after(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "`iprogsms --sandbox credits` is `iprogsms credits --sandbox`" in out
    assert "--sandbox" in out
    assert "--json" in out
