"""Deterministic people, companies and moments for the Salesforce, Shopify, GitHub and HubSpot sandboxes.

Each protocol draws from its own `Faker(f"{protocol}-{seed}")`, so one protocol's data does not
change when another's generator changes, and the same seed always gives the same records. Times
lie in 2024-01-01..2026-01-01 UTC, like the Stripe data.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

from purelink.sandbox.stripe_data import FIRST, LAST  # one list of names for every protocol

START = 1704067200  # 2024-01-01T00:00:00Z
END = 1767225600  # 2026-01-01T00:00:00Z

DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]
COMPANY_A = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Soylent",
             "Cyberdyne", "Aperture", "Massive", "Pied Piper", "Wonka", "Gringotts", "Oscorp", "Monarch"]
COMPANY_B = ["Labs", "Industries", "Systems", "Logistics", "Foods", "Analytics", "Energy", "Health", "Capital",
             "Robotics", "Media", "Retail", "Works", "Partners"]
SUFFIX = ["Inc.", "Ltd", "GmbH", "SA", "LLC", "BV", ""]
INDUSTRIES = ["Technology", "Manufacturing", "Retail", "Healthcare", "Finance", "Education", "Energy", "Media",
              "Transportation", "Hospitality"]
# (city, state or province, country code, country name)
PLACES = [("San Francisco", "CA", "US", "United States"), ("New York", "NY", "US", "United States"),
          ("Austin", "TX", "US", "United States"), ("Toronto", "ON", "CA", "Canada"),
          ("London", None, "GB", "United Kingdom"), ("Berlin", None, "DE", "Germany"),
          ("Paris", None, "FR", "France"), ("Amsterdam", None, "NL", "Netherlands"),
          ("Sydney", "NSW", "AU", "Australia"), ("Tokyo", None, "JP", "Japan"),
          ("São Paulo", "SP", "BR", "Brazil"), ("Bengaluru", "KA", "IN", "India")]
STREETS = ["Market St", "Main St", "High Street", "Hauptstraße", "Rue de Rivoli", "King St", "Elm Ave"]


class Faker:
    def __init__(self, seed: str) -> None:
        self.rng = random.Random(seed)

    def person(self) -> tuple[str, str, str]:
        """(first name, last name, email); emails are unique enough for a sandbox, not guaranteed."""
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        user = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
        return first, last, f"{user}{self.rng.randrange(1000)}@{self.rng.choice(DOMAINS)}"

    def company(self) -> tuple[str, str]:
        """(name, domain)."""
        a, b = self.rng.choice(COMPANY_A), self.rng.choice(COMPANY_B)
        name = " ".join(p for p in (a, b, self.rng.choice(SUFFIX)) if p)
        return name, f"{a}{b}".lower().replace(" ", "") + f"{self.rng.randrange(100)}.example.com"

    def place(self) -> tuple[str, str | None, str, str]:
        return self.rng.choice(PLACES)

    def street(self) -> str:
        return f"{self.rng.randrange(1, 400)} {self.rng.choice(STREETS)}"

    def phone(self) -> str:
        return f"+1 {self.rng.randrange(200, 999)}-{self.rng.randrange(200, 999)}-{self.rng.randrange(1000, 9999)}"

    def moment(self, lo: int = START, hi: int = END) -> int:
        return self.rng.randrange(lo, max(lo + 1, hi))

    def later(self, t: int) -> int:
        """An update time after `t`: often the same, else up to a few months on, never past END."""
        if self.rng.random() < 0.3:
            return t
        return min(END - 1, t + self.rng.randrange(60, 120 * 86400))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, items):
        return self.rng.choice(items)


def utc(ts: int, *, ms: bool = False, z: bool = True) -> str:
    """`2024-03-05T14:22:10Z` (or `.000Z` with ms; `+00:00` without z)."""
    text = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S" + (".000" if ms else ""))
    return text + ("Z" if z else "+00:00")


def local(ts: int, offset_hours: int) -> str:
    """`2024-03-05T09:22:10-05:00`: a time in a shop's time zone."""
    tz = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(ts, tz).isoformat()


def parse_time(text: str) -> int | None:
    """Unix seconds from an ISO 8601 time or date; None when it is not one."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def encode(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
