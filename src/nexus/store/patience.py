"""Wait for a database that refused or dropped a connection, then run the work again.

A producer run that meets `DatabaseUnavailable` (the server restarting, its
session terminated, connections refused) runs again from the start once the
database answers. That is safe because every write commits whole: a sync page
commits with its feed's token, a reconciliation or a refresh in one
transaction, so the new attempt resumes right after the last applied page and
nothing is applied twice or half.

Waits grow from `FIRST_WAIT_S` to `MAX_WAIT_S`, so a database that comes back
is noticed within seconds. After `wait_s` seconds spent waiting in all
(`NEXUS_DATABASE_RETRY_S`), the work fails with an error that says so. Only the
waits count, not the attempts: a run that worked for an hour before the
database restarted still gets the whole allowance.

Nothing else is waited for: a statement the database refused, or cancelled
(`StatementTimeout`), fails at once — the same work would meet the same limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from nexus.errors import DatabaseUnavailable
from nexus.retrying import retried_after
from nexus.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds of waiting before giving up: NEXUS_DATABASE_RETRY_S's default.
DEFAULT_WAIT_S: float = Settings.model_fields["database_retry_s"].default
#: The first wait; each next one doubles, up to MAX_WAIT_S.
FIRST_WAIT_S = 0.25
MAX_WAIT_S = 5.0


@dataclass(frozen=True)
class Patience:
    """How long to wait for an unavailable database: `wait_s` seconds of waits in all."""

    wait_s: float = DEFAULT_WAIT_S
    sleep: Callable[[float], None] = time.sleep

    def run(self, what: str, work: Callable[[], T]) -> T:
        """Call `work`; while it raises `DatabaseUnavailable`, wait and call it again.

        `what` names the work in the log and in the final error ("tenant 1001: job_sync").
        """
        try:
            return work()  # the waiting is set up only once the database is unavailable
        except DatabaseUnavailable as failure:
            retrying = Retrying(
                retry=retry_if_exception_type(DatabaseUnavailable),
                stop=self._spent,
                wait=wait_exponential(multiplier=FIRST_WAIT_S, max=MAX_WAIT_S),
                sleep=self.sleep,
                before_sleep=lambda state: _waiting(what, self.wait_s, state),
                retry_error_callback=lambda state: _give_up(what, self.wait_s, state),
            )
            return retried_after(failure, retrying, work)

    def _spent(self, state: RetryCallState) -> bool:
        return state.idle_for >= self.wait_s


def _last_error(state: RetryCallState) -> BaseException:
    assert state.outcome is not None
    error = state.outcome.exception()
    assert error is not None
    return error


def _waiting(what: str, wait_s: float, state: RetryCallState) -> None:
    pause = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "%s: %s; trying again in %.1f s (attempt %d; %.0f of %.0f s of waiting used)",
        what,
        _last_error(state),
        pause,
        state.attempt_number + 1,
        state.idle_for,
        wait_s,
    )


def _give_up(what: str, wait_s: float, state: RetryCallState) -> NoReturn:
    last = _last_error(state)
    raise DatabaseUnavailable(
        f"{what}: the database stayed unavailable through {state.attempt_number} attempts and "
        f"{state.idle_for:.0f} s of waiting (NEXUS_DATABASE_RETRY_S={wait_s:g}); last: {last}. "
        "Start the database server or correct NEXUS_DATABASE_URL, then run it again: "
        "everything applied before was committed whole, so it resumes where it stopped."
    ) from last
