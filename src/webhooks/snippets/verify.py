# Verify a request from Herald (Standard Webhooks signature). Python 3.9+, standard library.
import base64
import hashlib
import hmac
import time


def verify(secret: str, headers, body: bytes, tolerance: int = 300) -> bool:
    """secret: the webhook's "whsec_..." signing secret. headers: the request's headers
    (Flask's and Django's ignore case; a plain dict needs lower-case names).
    body: the raw bytes received, before any JSON parsing."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    # Refuse old or future timestamps, so a captured request cannot be replayed later.
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # During a secret rotation the header carries one "v1,<signature>" per secret.
    return any(
        hmac.compare_digest(candidate.removeprefix("v1,"), expected)
        for candidate in headers.get("webhook-signature", "").split(" ")
        if candidate.startswith("v1,")
    )
