"""The API's operations, grouped as namespaces of the client (``client.sms`` ...)."""

from ._base import Resource
from .account import Account
from .otp import OTP
from .phone_numbers import PhoneNumbers
from .reminders import Reminders
from .sms import SMS

__all__ = ["OTP", "SMS", "Account", "PhoneNumbers", "Reminders", "Resource"]
