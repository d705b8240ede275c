"""Passwords, session and API tokens, CSRF and roles.

- Passwords: argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile).
- Session ids and API tokens: 256-bit random values, handed to the client once and stored only as
  HMAC-SHA256(secret key, value), so a copy of the database alone cannot be replayed.
- CSRF: double submit. The readable cookie ``kk_csrf`` holds HMAC(secret, "csrf" + session id);
  every state-changing request with a session cookie must send it back in ``X-CSRF-Token``. Being
  derived from the session, a planted cookie cannot be paired with someone else's session.
- Roles: ``beleidsmaker`` (only their municipalities; may export those; sets the status of
  their sites), ``provincie`` (the province's policy makers: all municipalities, may export,
  sets site statuses and edits the progress per municipality), ``analist`` (all, may export;
  reads statuses and progress), ``beheerder`` (manages users; no access to the scan data).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SESSION_COOKIE = "kk_session"
CSRF_COOKIE = "kk_csrf"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "kk_"

ROLES = ("beleidsmaker", "provincie", "analist", "beheerder")
DATA_ROLES = ("beleidsmaker", "provincie", "analist")
EXPORT_ROLES = ("beleidsmaker", "provincie", "analist")
#: Roles that see every municipality (the province's view).
PROVINCE_ROLES = ("provincie", "analist")
#: Roles that may set a site's status and note (a beleidsmaker only in their municipalities).
STATUS_ROLES = ("beleidsmaker", "provincie")
#: Roles that edit the progress per municipality.
PROGRESS_ROLES = ("provincie",)
GEMEENTECODE_RE = re.compile(r"^GM\d{4}$")
MIN_PASSWORD_LENGTH = 10


class Passwords:
    """argon2id hashing with the configured cost (defaults: argon2-cffi's RFC 9106 profile)."""

    def __init__(
        self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """Return the argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Check ``password``; spends the same time when there is no such user."""
        try:
            return (
                self._hasher.verify(password_hash or self._dummy, password)
                and password_hash is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def new_secret_value(prefix: str = "") -> str:
    """A fresh 256-bit random value, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def keyed_hash(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under the server's secret key, hex."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def csrf_token_for(secret: bytes, session_value: str) -> str:
    """The CSRF token that belongs to one session."""
    return keyed_hash(secret, "csrf:" + session_value)[:43]


def csrf_ok(secret: bytes, session_value: str, cookie: str | None, header: str | None) -> bool:
    """Double-submit check: header == cookie == the session's token (constant-time)."""
    if not cookie or not header:
        return False
    expected = csrf_token_for(secret, session_value)
    return hmac.compare_digest(header, cookie) and hmac.compare_digest(header, expected)


def _keystream(secret: bytes, nonce: bytes, n: int) -> bytes:
    blocks = (
        hmac.new(secret, b"cursor-stream" + nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
        for i in range((n + 31) // 32)
    )
    return b"".join(blocks)[:n]


def seal(secret: bytes, value: str) -> str:
    """``value`` encrypted and authenticated for a client to hand back (paging cursors).

    A store's cursor may hold internal positions (a row number tells how many rows come before
    it, of any municipality); sealed, the client learns nothing from it and cannot forge one.
    Encrypt-then-MAC with HMAC-SHA256 as the keystream and as the tag, under the server's
    secret key (shared by all instances, so any instance can open it).
    """
    data = value.encode()
    nonce = secrets.token_bytes(12)
    body = bytes(a ^ b for a, b in zip(data, _keystream(secret, nonce, len(data)), strict=True))
    tag = hmac.new(secret, b"cursor-tag" + nonce + body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(nonce + body + tag).decode().rstrip("=")


def unseal(secret: bytes, sealed: str) -> str | None:
    """The value :func:`seal` sealed, or ``None`` when ``sealed`` is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) < 12 + 16:
        return None
    nonce, body, tag = raw[:12], raw[12:-16], raw[-16:]
    expected = hmac.new(secret, b"cursor-tag" + nonce + body, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(tag, expected):
        return None
    data = bytes(a ^ b for a, b in zip(body, _keystream(secret, nonce, len(body)), strict=True))
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


#: Words the estimator's (English) lists lack but Dutch users reach for, and this service's own
#: names; a password built from them is guessed early.
GUESSABLE_WORDS = (
    "kansenkaart",
    "flexwonen",
    "flexwoning",
    "provincie",
    "zuidholland",
    "zuid-holland",
    "gemeente",
    "beleid",
    "beleidsmaker",
    "analist",
    "beheerder",
    "woningen",
    "wonen",
    "welkom",
    "wachtwoord",
    "geheim",
    "hallo",
    "hoi",
    "doei",
    "dank",
    "bedankt",
    "liefde",
    "schat",
    "schatje",
    "lieverd",
    "zomer",
    "winter",
    "lente",
    "herfst",
    "maandag",
    "vrijdag",
    "januari",
    "december",
    "voetbal",
    "ajax",
    "feyenoord",
    "psv",
    "oranje",
    "nederland",
    "holland",
    "amsterdam",
    "rotterdam",
    "denhaag",
    "leiden",
    "delft",
    "dordrecht",
    "kantoor",
    "werk",
    "thuis",
    "fiets",
    "hond",
    "kat",
    "konijn",
    "appel",
    "banaan",
    "koffie",
    "kaas",
)
#: Least zxcvbn score accepted (3: ~10^8 guesses or more, "safely unguessable" for a slow hash).
MIN_PASSWORD_SCORE = 3


def password_problem(password: str, *, user_inputs: tuple[str, ...] = ()) -> str | None:
    """Why ``password`` is not acceptable, or ``None``.

    At least :data:`MIN_PASSWORD_LENGTH` characters, and not easy to guess: zxcvbn (Dropbox's
    estimator, with its lists of common passwords, names and words, keyboard patterns, dates and
    l33t substitutions) must rate it at least :data:`MIN_PASSWORD_SCORE`, counting the account's
    e-mail address and :data:`GUESSABLE_WORDS` as known to the guesser.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if password.strip() != password:
        return "the password must not start or end with whitespace"
    from zxcvbn import zxcvbn  # 0.2 s to import: only where passwords are set

    inputs: list[str] = []  # the account's own words first: a guesser tries those first
    for text in user_inputs:
        inputs += [text, *re.split(r"[@._+-]+", text)]
    rest = password.lower()
    for word in sorted({w.lower() for w in inputs if len(w) >= 3}, key=len, reverse=True):
        rest = rest.replace(word, "")
    if len(re.sub(r"[^a-z]", "", rest)) < 4:
        return "the password is made of the account's own name or e-mail address: choose another"
    inputs += GUESSABLE_WORDS
    verdict = zxcvbn(password[:100], user_inputs=[i for i in inputs if i])
    if verdict["score"] < MIN_PASSWORD_SCORE:
        feedback = verdict["feedback"]
        why = " ".join(t for t in [feedback.get("warning"), *feedback.get("suggestions", [])] if t)
        return (
            "the password is too easy to guess"
            + (f" ({why.strip()})" if why.strip() else "")
            + ": use a longer passphrase of several unrelated words, or a password manager"
        )
    return None


@dataclass(frozen=True)
class Throttle:
    """Login throttling: how many failed attempts are free, and the delay after them.

    Three counters slow a password guesser down without locking the owner out:

    - per account *and* address (``pair_free``): the owner's own mistakes and a guesser at one
      address against one account;
    - per address (``address_free``): one address guessing many accounts;
    - per account, counted only for addresses the account has not logged in from within
      ``known_address`` seconds (``account_free``): many addresses guessing one account. The
      owner's usual addresses are exempt, so a guesser elsewhere cannot lock the owner out.

    Every attempt is counted *before* the password is checked (atomically, in the database) and
    given back when it succeeds. After ``free`` counted failures each further attempt must wait
    ``delay · 2^(n − free)`` seconds (at most ``max_delay``) after the previous one; a counter
    with no attempt for ``forget`` seconds starts again from zero.
    """

    pair_free: int = 5
    address_free: int = 20
    account_free: int = 10
    delay: float = 1.0
    max_delay: float = 900.0
    forget: float = 86_400.0
    known_address: float = 90 * 86_400.0

    def wait_after(self, failures: int, free: int) -> float:
        """Seconds to wait after the ``failures``-th counted failure (the SQL computes the same)."""
        if failures < free:
            return 0.0
        step = failures - free
        return self.max_delay if step >= 30 else min(self.max_delay, self.delay * (1 << step))


@dataclass(frozen=True)
class Scope:
    """Which municipalities a caller may see: ``None`` = all, empty = none."""

    gemeenten: frozenset[str] | None

    @property
    def is_all(self) -> bool:
        return self.gemeenten is None

    def allows(self, code: str | None) -> bool:
        if self.gemeenten is None:
            return True
        return code is not None and code in self.gemeenten

    def key(self) -> str:
        """A stable text for cache keys and ETags."""
        return "*" if self.gemeenten is None else ",".join(sorted(self.gemeenten))


@dataclass(frozen=True)
class User:
    """An account (without its password hash)."""

    id: int
    email: str
    role: str
    gemeenten: tuple[str, ...]
    disabled: bool = False

    @property
    def has_data_access(self) -> bool:
        return self.role in DATA_ROLES

    @property
    def can_export(self) -> bool:
        return self.role in EXPORT_ROLES

    @property
    def is_province(self) -> bool:
        return self.role in PROVINCE_ROLES

    @property
    def can_set_status(self) -> bool:
        return self.role in STATUS_ROLES

    @property
    def can_edit_progress(self) -> bool:
        return self.role in PROGRESS_ROLES

    @property
    def scope(self) -> Scope:
        if self.role in PROVINCE_ROLES:
            return Scope(None)
        if self.role == "beleidsmaker":
            return Scope(frozenset(self.gemeenten))
        return Scope(frozenset())
