"""``python -m iprogsms_async.cli``: the same as the ``iprogsms`` command."""

from . import main

main()
