"""Login throttling under attack (issue 11, items 2 and 3).

The attempt is counted before the password is checked, atomically, so a burst of concurrent
guesses cannot all be checked; counters per account *and* address, per address, and per account
from unfamiliar addresses slow a guesser down with a doubling delay, without locking the owner
out from their usual address.
"""

from __future__ import annotations

import threading
import time

PASSWORD = "correct horse battery"  # the fixture accounts' password (conftest.py)
WRONG = "wrong password!"
FREE, FREE_ADDRESS, FREE_ACCOUNT = 5, 20, 10  # free failures: account+address, address, account
MAX_DELAY, FORGET = 900, 86_400
RULES = {
    "login_free_attempts": FREE,
    "login_free_attempts_per_address": FREE_ADDRESS,
    "login_free_attempts_per_account": FREE_ACCOUNT,
    "login_delay_seconds": 1,
    "login_max_delay_seconds": MAX_DELAY,
    "login_forget_seconds": FORGET,
}


def _login(client, email, password=PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


class GatedVerify:
    """Wraps the store's password check: counts the checks and holds them until released, as a
    slow argon2id check on a busy server would."""

    def __init__(self, passwords) -> None:
        self.inner = passwords.verify
        self.calls = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()

    def __call__(self, password_hash, password):
        with self.lock:
            self.calls += 1
        self.gate.wait(timeout=30)
        return self.inner(password_hash, password)


def test_a_burst_of_guesses_is_counted_before_any_password_is_checked(make_env):
    env = make_env(password_concurrency=16, **RULES)
    free = FREE
    verify = GatedVerify(env.users.passwords)
    env.users.passwords.verify = verify
    client = env.client(address="198.51.100.7")
    results: dict[int, int] = {}

    def attempt(i: int, password: str) -> None:
        results[i] = _login(client, "bm1@test.nl", password).status_code

    threads = [threading.Thread(target=attempt, args=(i, WRONG)) for i in range(29)]
    for t in threads:
        t.start()
    # Every guess beyond the free ones is refused at once; the free ones wait in the check.
    deadline = time.monotonic() + 5
    while list(results.values()).count(429) < 29 - free and time.monotonic() < deadline:
        time.sleep(0.01)
    # Then the right password, in the same burst: too late, the free attempts are taken.
    right = threading.Thread(target=attempt, args=(29, PASSWORD))
    right.start()
    right.join(timeout=2)
    verify.gate.set()
    for t in [*threads, right]:
        t.join(timeout=30)
    assert results[29] == 429
    assert verify.calls == free
    assert sorted(results.values()) == [401] * free + [429] * (30 - free)


def test_the_delay_doubles_with_every_further_failure_and_is_forgotten(make_env):
    env = make_env(**RULES)
    c = env.client(address="198.51.100.8")
    for _ in range(FREE):
        assert _login(c, "bm1@test.nl", WRONG).status_code == 401
    waits = []
    for _ in range(12):
        r = _login(c, "bm1@test.nl", WRONG)
        assert r.status_code == 429
        retry = r.json()["error"]["retry_after"]
        assert r.headers["retry-after"] == str(retry)
        waits.append(retry)
        env.clock.advance(retry - 0.5)
        assert _login(c, "bm1@test.nl", WRONG).status_code == 429  # not a moment earlier
        env.clock.advance(0.5)
        assert _login(c, "bm1@test.nl", WRONG).status_code == 401  # then one more guess
    assert waits == [min(2**k, MAX_DELAY) for k in range(12)]
    assert waits[-1] == MAX_DELAY
    # Quiet for a day: the counter starts again from zero.
    env.clock.advance(FORGET + 1)
    for _ in range(FREE):
        assert _login(c, "bm1@test.nl", WRONG).status_code == 401
    assert _login(c, "bm1@test.nl").status_code == 429


def test_a_guesser_at_another_address_cannot_lock_the_owner_out(make_env):
    env = make_env(**RULES)
    owner = env.client(address="10.1.2.3")
    assert _login(owner, "bm1@test.nl").status_code == 200  # the owner's usual address
    env.clock.advance(1)
    attacker = env.client(address="203.0.113.9")
    statuses = [_login(attacker, "bm1@test.nl", WRONG).status_code for _ in range(50)]
    assert statuses.count(401) == FREE
    assert set(statuses[FREE:]) == {429}
    # The right password from the owner's usual address still works at once.
    assert _login(owner, "bm1@test.nl").status_code == 200
    # And the owner's own typos count on their own counter only.
    assert _login(owner, "bm1@test.nl", WRONG).status_code == 401
    assert _login(owner, "bm1@test.nl").status_code == 200


def test_many_addresses_guessing_one_account_are_slowed_but_not_the_owner(make_env):
    env = make_env(**RULES)
    owner = env.client(address="10.1.2.3")
    assert _login(owner, "bm2@test.nl").status_code == 200
    env.clock.advance(1)
    free = FREE_ACCOUNT
    statuses = [
        _login(env.client(address=f"203.0.113.{i}"), "bm2@test.nl", WRONG).status_code
        for i in range(1, 31)
    ]
    assert statuses.count(401) == free and set(statuses[free:]) == {429}
    # From an unfamiliar address even the right password waits (documented) …
    assert _login(env.client(address="192.0.2.1"), "bm2@test.nl").status_code == 429
    # … but not from the owner's usual one.
    assert _login(owner, "bm2@test.nl").status_code == 200
    # Other accounts are not affected.
    assert _login(env.client(address="192.0.2.1"), "bm1@test.nl").status_code == 200


def test_one_address_guessing_many_accounts_is_slowed(make_env):
    env = make_env(**RULES)
    c = env.client(address="203.0.113.50")
    free = FREE_ADDRESS
    statuses = [_login(c, f"user{i}@test.nl", WRONG).status_code for i in range(free + 5)]
    assert statuses.count(401) == free and set(statuses[free:]) == {429}
    # Successful logins give their attempt back, so a shared office address is not slowed by them.
    office = env.client(address="10.9.9.9")
    for _ in range(free + 5):
        assert _login(office, "analist@test.nl").status_code == 200


def test_guesses_at_a_shared_address_do_not_slow_an_owner_whose_usual_address_it_is(make_env):
    env = make_env(**RULES)
    office = env.client(address="10.9.9.9")
    assert _login(office, "bm1@test.nl").status_code == 200  # the owner's usual address
    guesser = env.client(address="10.9.9.9")  # a colleague behind the same office address
    statuses = [
        _login(guesser, f"user{i}@test.nl", WRONG).status_code for i in range(FREE_ADDRESS + 5)
    ]
    assert set(statuses[FREE_ADDRESS:]) == {429}  # the address counter slows the guesser …
    assert _login(office, "bm1@test.nl").status_code == 200  # … not the owner at that address
    # Guessing the owner's own account there still meets the pair counter.
    guesses = [_login(guesser, "bm1@test.nl", WRONG).status_code for _ in range(FREE + 1)]
    assert guesses == [401] * FREE + [429]


def test_throttled_attempts_are_audited_with_the_counter(make_env):
    env = make_env(**RULES)
    c = env.client(address="203.0.113.77")
    for _ in range(FREE + 1):
        _login(c, "bm1@test.nl", WRONG)
    throttled = [e for e in env.users.audit_entries() if e.outcome == "throttled"]
    assert len(throttled) == 1
    assert throttled[0].detail == {"by": "pair"} and throttled[0].address == "203.0.113.77"
