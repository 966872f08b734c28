"""Whether an endpoint as a whole still answers: a circuit breaker over every request's tries, and a give-up rule
for rate-limit storms. Each request keeps its own retries; these decide when retrying is pointless for all of them.
"""

from __future__ import annotations

import time

from ._protocol import EndpointDown

#: Consecutive tries without an API reply that trip the breaker (at least one more than one request's own tries,
#: so that a single unlucky request never trips it alone).
DEFAULT_FAULT_LIMIT = 8
#: Seconds of nothing but rate-limit replies after which a storm is given up (or 3x the longest Retry-After).
DEFAULT_STORM_GIVE_UP_S = 120.0
#: Requests that ran out of rate-limit tries, with nothing answered since the storm began, that give it up.
DEFAULT_STORM_EXHAUSTED = 3


class EndpointHealth:
    """Watches the outcome of every try at one endpoint, across all requests in flight.

    * Circuit breaker: after ``fault_limit`` consecutive tries that got no API reply (connection refused or reset,
      timeout, an HTML page or other body that is not the API's JSON, an empty reply) with no answer between them,
      the endpoint has stopped answering: `fault` raises `EndpointDown` instead of letting every remaining request
      spend its own retries and back-off.
    * Rate-limit storm: when every reply since the last answer was a rate limit (429/503) for ``storm_give_up_s``
      (or three times the longest Retry-After seen, if longer), or once ``storm_exhausted`` requests ran out of their
      rate-limit tries with no answer since the storm began, the run gives up as a whole (`EndpointDown` again)
      instead of every request spending its own tries.

    Any answer resets both.

    Args:
        endpoint: the base URL, for messages.
        fault_limit: consecutive faults that trip the breaker.
        storm_give_up_s: seconds of rate limits only before giving up.
        storm_exhausted: requests out of rate-limit tries that give a storm up.
    """

    def __init__(self, endpoint: str, *, fault_limit: int = DEFAULT_FAULT_LIMIT,
                 storm_give_up_s: float = DEFAULT_STORM_GIVE_UP_S,
                 storm_exhausted: int = DEFAULT_STORM_EXHAUSTED) -> None:
        self.endpoint = endpoint
        self.fault_limit = max(1, fault_limit)
        self.storm_give_up_s = storm_give_up_s
        self.storm_exhausted = max(1, storm_exhausted)
        self._exhausted = 0
        self.answers = 0
        self.consecutive_faults = 0
        self._storm_since: float | None = None
        self._storm_longest_wait = 0.0

    def answered(self) -> None:
        """A try got an API reply (a completion, or an error the API itself stated)."""
        self.answers += 1
        self.consecutive_faults = 0
        self._storm_since = None
        self._storm_longest_wait = 0.0
        self._exhausted = 0

    def replied(self) -> None:
        """A try got an error the API itself stated (a JSON error body): the endpoint answers, though not with a
        completion (a rate-limit storm goes on)."""
        self.consecutive_faults = 0

    def fault(self, reason: str) -> None:
        """A try got no API reply.

        Raises:
            EndpointDown: this fault trips the breaker.
        """
        self.consecutive_faults += 1
        if self.consecutive_faults >= self.fault_limit:
            raise EndpointDown(f"{self.consecutive_faults} tries in a row got no usable reply; the last: {reason}",
                               endpoint=self.endpoint, kind="not_answering", answered=self.answers > 0)

    def rate_limited(self, reason: str, retry_after: float | None) -> None:
        """A try got a rate-limit reply.

        Raises:
            EndpointDown: the storm has lasted too long.
        """
        self.replied()
        now = time.monotonic()
        if self._storm_since is None:
            self._storm_since = now
        self._storm_longest_wait = max(self._storm_longest_wait, retry_after or 0.0)
        limit = max(self.storm_give_up_s, 3 * self._storm_longest_wait)
        if now - self._storm_since >= limit:
            raise EndpointDown(f"every reply for {now - self._storm_since:.0f} s was a rate limit ({reason})",
                               endpoint=self.endpoint, kind="rate_limited", answered=self.answers > 0)

    def out_of_rate_limit_tries(self, reason: str) -> None:
        """A request spent all its rate-limit tries.

        Raises:
            EndpointDown: the ``storm_exhausted``-th such request with nothing answered since the storm began: the
                others would fare no better.
        """
        if self._storm_since is None:
            return
        self._exhausted += 1
        if self._exhausted >= self.storm_exhausted:
            waited = time.monotonic() - self._storm_since
            raise EndpointDown(f"every reply for {waited:.0f} s was a rate limit and {self._exhausted} requests ran "
                               f"out of tries (the last: {reason})", endpoint=self.endpoint, kind="rate_limited",
                               answered=self.answers > 0)
