"""The retry loop on its own: attempts counted, backoff bounds, Retry-After honoured, giving up.
Only time is faked (the sleep); the attempts are plain functions answering what a receiver
would."""

from __future__ import annotations

import pytest

from feeds.retrying import Policy, Transient, retry

POLICY = Policy(attempts=4, backoff_base=1.0, backoff_cap=5.0, longest_wait=60.0)


class Receiver:
    """Answers each attempt with the next of `outcomes`, and notes what happened in order."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.events: list[tuple] = []

    def attempt(self):
        self.events.append(("attempt",))
        return self.outcomes.pop(0)

    def record(self, number: int) -> None:
        self.events.append(("recorded", number))

    def sleep(self, seconds: float) -> None:
        self.events.append(("slept", seconds))

    def run(self, policy: Policy = POLICY):
        return retry(self.attempt, policy, record_attempt=self.record, sleep=self.sleep)

    def waits(self) -> list[float]:
        return [event[1] for event in self.events if event[0] == "slept"]


def test_it_stops_at_once_on_a_final_outcome():
    receiver = Receiver("done", Transient("never asked"))
    assert receiver.run() == "done"
    assert receiver.events == [("recorded", 1), ("attempt",)]


def test_it_records_each_attempt_before_making_it_and_returns_the_first_final_outcome():
    receiver = Receiver(Transient("503"), Transient("timeout"), {"accepted": 2})
    assert receiver.run() == {"accepted": 2}
    kinds = [event[0] for event in receiver.events]
    assert kinds == ["recorded", "attempt", "slept", "recorded", "attempt", "slept"] + [
        "recorded",
        "attempt",
    ]
    assert [event[1] for event in receiver.events if event[0] == "recorded"] == [1, 2, 3]


def test_it_gives_up_after_the_policys_attempts_with_the_last_error_and_no_last_sleep():
    receiver = Receiver(*(Transient(f"503 #{n}") for n in range(1, 6)))
    outcome = receiver.run()
    assert outcome == Transient("503 #4")
    assert [event for event in receiver.events if event[0] == "recorded"] == [
        ("recorded", n) for n in range(1, 5)
    ]
    assert len(receiver.waits()) == POLICY.attempts - 1
    assert receiver.events[-1] == ("attempt",)  # nothing to wait for after the last
    assert receiver.outcomes == [Transient("503 #5")]


def test_no_attempts_allowed_means_nothing_is_tried():
    receiver = Receiver("done")
    assert receiver.run(Policy(attempts=0, backoff_base=1.0, backoff_cap=5.0)) == Transient("")
    assert receiver.events == []


def test_the_backoff_doubles_with_each_attempt_up_to_the_cap_with_full_jitter():
    policy = Policy(attempts=10, backoff_base=0.5, backoff_cap=5.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (9, 5.0)]:
        draws = [policy.backoff(attempt) for _ in range(500)]
        assert all(0 <= wait <= ceiling for wait in draws)
        # Spread over the whole window (500 draws all in one part of it: odds below 1e-20).
        assert max(draws) > 0.9 * ceiling and min(draws) < 0.1 * ceiling


def test_the_waits_between_attempts_stay_within_the_backoff_window():
    receiver = Receiver(*(Transient("503") for _ in range(6)))
    receiver.run(Policy(attempts=6, backoff_base=1.0, backoff_cap=5.0))
    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(receiver.waits()) == len(ceilings)
    assert all(
        0 <= wait <= ceiling for wait, ceiling in zip(receiver.waits(), ceilings, strict=True)
    )


def test_a_wait_the_receiver_asks_for_is_taken_instead_of_the_backoff():
    receiver = Receiver(Transient("429", wait=17.0), Transient("429", wait=0.5), "done")
    assert receiver.run() == "done"
    assert receiver.waits() == [17.0, 0.5]


@pytest.mark.parametrize("wait", [60.5, 120.0, float("inf")])
def test_a_wait_longer_than_the_policy_takes_ends_the_run_at_once(wait):
    receiver = Receiver(Transient("429", wait=wait), "done")
    assert receiver.run() == Transient("429", wait=wait)
    assert receiver.events == [("recorded", 1), ("attempt",)]


def test_the_longest_wait_itself_is_still_taken():
    receiver = Receiver(Transient("429", wait=60.0), "done")
    assert receiver.run() == "done"
    assert receiver.waits() == [60.0]
