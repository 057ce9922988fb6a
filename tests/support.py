"""Constants and small helpers the tests share."""

TOKEN = "tok-SECRET-1234567890"
BASE = "https://www.iprogsms.com/api/v1"
