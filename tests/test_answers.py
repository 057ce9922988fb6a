"""Reading an answer's body: whatever json.loads makes of it, read faster."""

import json

import pytest

from iprogsms_async._response import _NOT_JSON, decode_body


def json_loads_or_not_json(content):
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return _NOT_JSON


@pytest.mark.parametrize(
    "content",
    [
        b'{"status": 200, "message_id": "iSms-1"}',
        b'{"a": 1}  \r\n\t',  # JSON whitespace after the object
        b'{"a": 1}\x0c',  # not JSON whitespace
        b'{"a": 1}\xc2\xa0',  # nor is a no-break space
        b'{"a": 1} {"b": 2}',  # extra data
        b'{"a": 1',  # cut short
        b'{"a": "\xff"}',  # not UTF-8
        b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate: json.loads keeps it
        b'{"a": "\\ud800"}',
        b'{"a": NaN}',
        b'{"a": 1}\x00',
        b"{}",
        b'  {"a": 1}',  # whitespace first: json.loads' own way
        b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 byte order mark
        '{"a": "é"}'.encode("utf-16"),
        '{"a": "é"}'.encode("utf-16-le"),
        '{"a": "é"}'.encode("utf-32"),
        b'["a"]',
        b'"a"',
        b"<html></html>",
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # too deep
    ],
)
def test_a_body_is_read_as_json_loads_reads_it(content):
    assert repr(decode_body(content)) == repr(json_loads_or_not_json(content))
