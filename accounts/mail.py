"""Email to people, sent off the request path: a request that sends mail answers as fast as
one that does not, so its timing tells nobody whether a message went out (registration with
an address that has an account)."""

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.core.mail import send_mail

log = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accounts-mail")
_pending: set[Future] = set()


def _send(to: str, subject: str, body: str) -> None:
    try:
        send_mail(subject, body, None, [to])
    except Exception:  # noqa: BLE001 - a notice that cannot be sent is logged, not retried
        log.warning("could not send %r", subject, exc_info=True)


def send_later(*, to: str, subject: str, body: str) -> None:
    """Queues one email and returns at once."""
    future = _executor.submit(_send, to, subject, body)
    _pending.add(future)
    future.add_done_callback(_pending.discard)


def drain(timeout: float = 10) -> None:
    """Waits for the queued emails (tests)."""
    wait(list(_pending), timeout=timeout)
