"""What a search text asks for (pure; no data): a site id, a kadastrale aanduiding, a postcode
with or without a house number, or a street with a house number (and a place).

:func:`parse_query` turns the text into a :class:`Query`; the stores look it up in the result's
``zoekindex`` (docs/contracts.md §C) and the candidate layers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from api.errors import InvalidRequest

MAX_QUERY = 100

SITE_ID_RE = re.compile(r"^(TL|KT|PL)-[0-9A-Za-z._-]{1,60}$", re.IGNORECASE)
# KLA01 N 5440, KLA01N5440, kla01-n-5440
PARCEL_RE = re.compile(r"^([A-Z]{3}\d{2})[\s-]*([A-Z]{1,2})[\s-]*0*(\d{1,5})$")
# 2611 AB 12, 2611AB12a, 2611 ab 12-3
POSTCODE_RE = re.compile(r"^(\d{4})\s*([A-Z]{2})(?:[\s,]*(\d{1,5})(?:\s*-?\s*([A-Z0-9]{1,4}))?)?$")


@dataclass(frozen=True)
class Query:
    """A parsed search: ``kind`` is ``site``, ``perceel``, ``postcode`` or ``straat``."""

    kind: str
    site_id: str | None = None
    akr_code: str | None = None
    sectie: str | None = None
    perceelnummer: str | None = None
    postcode: str | None = None
    huisnummer: int | None = None
    toevoeging: str | None = None
    straat: str | None = None
    woonplaats: str | None = None


def normalise(text: str) -> str:
    """The search form of a text, as the scan wrote it (``pipeline.search_index.normalise``):
    lower case, no accents, runs of other characters one space."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^0-9a-z]+", " ", ascii_text.lower()).strip()


def parse_query(text: str) -> Query:
    """Parse a search text; raises :class:`InvalidRequest` when it cannot be a search."""
    q = " ".join(text.split())
    if len(q) < 2:
        raise InvalidRequest("Typ minstens twee tekens.")
    if len(q) > MAX_QUERY:
        raise InvalidRequest(f"Zoektekst te lang (maximaal {MAX_QUERY} tekens).")
    if SITE_ID_RE.match(q):
        prefix, _, tail = q.partition("-")
        return Query("site", site_id=f"{prefix.upper()}-{tail}")
    upper = q.upper()
    m = PARCEL_RE.match(upper)
    if m:
        return Query("perceel", akr_code=m[1], sectie=m[2], perceelnummer=str(int(m[3])))
    m = POSTCODE_RE.match(upper)
    if m:
        return Query(
            "postcode",
            postcode=m[1] + m[2],
            huisnummer=int(m[3]) if m[3] else None,
            toevoeging=normalise(m[4]) if m[4] else None,
        )
    words = normalise(q).split()
    number_at = next((i for i, w in enumerate(words) if w[0].isdigit()), None)
    if number_at is None:
        if not words:
            raise InvalidRequest("Zoek op adres, postcode en huisnummer, perceel of kenmerk.")
        return Query("straat", straat=" ".join(words))
    if number_at == 0:
        raise InvalidRequest(
            "Begin met de straat (Stationsweg 12), de postcode (2611 AB 12), het perceel "
            "(KLA01 N 5440) of het kenmerk van een locatie (TL-…)."
        )
    m2 = re.match(r"^(\d{1,5})([a-z]{0,4})$", words[number_at])
    if not m2:
        raise InvalidRequest("Het huisnummer is niet te lezen.")
    rest: list[str] = words[number_at + 1 :]
    addition: str | None = m2[2] or None
    if addition is None and rest and len(rest[0]) == 1:
        # "Stationsweg 12 a Delft": a single letter or digit right after the number
        addition, rest = rest[0], rest[1:]
    return Query(
        "straat",
        straat=" ".join(words[:number_at]),
        huisnummer=int(m2[1]),
        toevoeging=addition,
        woonplaats=" ".join(rest) or None,
    )
