"""The single-operation subcommands: one API call each, its result shown."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .._errors import ValidationError
from .._schedule import MANILA

if TYPE_CHECKING:
    import argparse

    from .._client import IProgSMS

__all__ = ["call_operation"]


async def call_operation(  # noqa: PLR0911 -- one return a command
    client: IProgSMS, args: argparse.Namespace
) -> tuple[object, str]:
    """Run the operation ``args`` names; return its result and a title for it."""
    command, action = args.command, getattr(args, "action", None)
    if command == "send":
        sent = await client.sms.send(
            args.phone_number, args.message, sms_provider=args.sms_provider
        )
        return sent, "sent (queued by the gateway)"
    if command == "send-bulk":
        many = await client.sms.send_bulk(
            args.phone_numbers, args.message, sms_provider=args.sms_provider
        )
        return many, "sent (queued by the gateway)"
    if command == "status":
        return await client.sms.status(args.message_id), "delivery status"
    if command == "credits":
        return await client.account.credits(), "credits"
    if command == "detect":
        return await client.phone_numbers.detect(args.phone_number), "network"
    if command == "reminders":
        return await _reminders(client, args, action), f"reminder ({action})"
    if command == "otp" and action == "send":
        sent_otp = await client.otp.send(
            args.phone_number,
            message=args.message,
            expires_in_minutes=args.expires_in_minutes,
            sms_provider=args.sms_provider,
        )
        return sent_otp, "one-time password sent"
    if command == "otp" and action == "verify":
        verified = await client.otp.verify(args.phone_number, args.code)
        return {"phone_number": args.phone_number, "verified": verified}, "verification"
    raise ValueError(f"unknown command {command} {action or ''}")  # pragma: no cover


async def _reminders(
    client: IProgSMS, args: argparse.Namespace, action: object
) -> object:
    if action == "create":
        return await client.reminders.create(
            phone_number=args.phone_number,
            message=args.message,
            scheduled_at=when(args.scheduled_at),
        )
    if action == "get":
        return await client.reminders.get(args.reminder_id)
    if action == "update":
        return await client.reminders.update(
            args.reminder_id,
            phone_number=args.phone_number,
            message=args.message,
            scheduled_at=None if args.scheduled_at is None else when(args.scheduled_at),
        )
    return await client.reminders.delete(args.reminder_id)


def when(text: str) -> datetime | str:
    """``--at``: the API's own form passes through; ISO 8601 becomes a datetime.

    A naive ISO time is taken as Manila time, as the client does.
    """
    if text.strip()[-2:].upper() in ("AM", "PM"):
        return text
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"--at {text!r} is neither like '2025-03-08 05:00AM' nor ISO 8601 "
            "like '2025-03-08T05:00'",
            field="scheduled_at",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=MANILA)
