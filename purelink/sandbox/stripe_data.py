"""Deterministic Stripe-shaped test data: customers, charges, subscriptions, invoices.

Record shapes come from `data/sandbox/stripe_templates.json` (data, not code), trimmed from openapi/fixtures3.json of
github.com/stripe/openapi (MIT licence, (c) Stripe, Inc.). The varying fields are drawn from one
`random.Random(seed)`, so the same seed and counts give byte-identical records.

Counts for N customers: 2N charges, round(0.4 N) subscriptions (at most one per customer),
round(1.2 N) invoices (about 60 % of them billing a subscription). Every `created` lies in
2024-01-01..2026-01-01 UTC, and a charge, subscription or invoice is never older than its
customer. Some emails and names are null and about 1 % of emails are malformed ("bob@"), so
validations have something to catch. No subscription is canceled.
"""

from __future__ import annotations

import json
import random
import string
import zlib
from datetime import UTC, datetime
from functools import lru_cache

from purelink.sandbox.listing import Record
from purelink.shipped import shipped

START = 1704067200  # 2024-01-01T00:00:00Z
END = 1767225600  # 2026-01-01T00:00:00Z
ALNUM = string.ascii_letters + string.digits
RESOURCES = ("customers", "charges", "subscriptions", "invoices")

FIRST = ["Ada", "Ben", "Chloé", "Dmitri", "Elena", "Farah", "Gustav", "Hana", "Ivan", "Jenny", "Kofi", "Lena",
         "Mateo", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Ximena",
         "Yusuf", "Zoë", "Aiko", "Bruno", "Carmen", "Diego", "Emma", "Felix", "Grace", "Hugo", "Isla", "José"]
LAST = ["Rosen", "Okafor", "Müller", "Tanaka", "García", "Smith", "Nguyen", "Kowalski", "Haddad", "Silva",
        "Johansson", "O'Brien", "Rossi", "Dubois", "Patel", "Kim", "Novak", "Fischer", "Costa", "Brown",
        "Ivanova", "Chen", "Moreau", "Jensen", "Lopez", "Wright", "Yilmaz", "Schmidt", "Ahmed", "Walker"]
DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "corp.example.io"]
MALFORMED = ["{u}@", "{u}.example.com", "{u}@@example.com", "{u}@example", "@example.com", "{u} @example.com"]
# (city, state, country, postal code pattern with # for digits)
PLACES = [
    ("San Francisco", "CA", "US", "941##"), ("New York", "NY", "US", "100##"), ("Austin", "TX", "US", "787##"),
    ("Chicago", "IL", "US", "606##"), ("Seattle", "WA", "US", "981##"), ("Toronto", "ON", "CA", "M5V 2T#"),
    ("London", None, "GB", "EC1A #BB"), ("Manchester", None, "GB", "M# 1AE"), ("Berlin", None, "DE", "101##"),
    ("Munich", None, "DE", "803##"), ("Paris", None, "FR", "750##"), ("Lyon", None, "FR", "690##"),
    ("Amsterdam", None, "NL", "10## AB"), ("Dublin", None, "IE", "D0#"), ("Sydney", "NSW", "AU", "2###"),
    ("Tokyo", None, "JP", "100-00##"), ("São Paulo", "SP", "BR", "01###-000"), ("Bengaluru", "KA", "IN", "560###"),
]
STREETS = ["Market St", "Main St", "High Street", "Hauptstraße", "Rue de Rivoli", "King St", "Elm Ave"]
CURRENCY = {"US": "usd", "CA": "cad", "GB": "gbp", "DE": "eur", "FR": "eur", "NL": "eur", "IE": "eur",
            "AU": "aud", "JP": "jpy", "BR": "brl", "IN": "inr"}
PLANS = [("Starter", 900), ("Team", 2900), ("Business", 9900), ("Enterprise", 49900)]
CARDS = [("visa", 60), ("mastercard", 25), ("amex", 10), ("discover", 5)]
SUB_STATUS = [("active", 72), ("trialing", 9), ("past_due", 7), ("unpaid", 3), ("incomplete", 3), ("paused", 6)]
INVOICE_STATUS = [("paid", 75), ("open", 12), ("draft", 5), ("void", 4), ("uncollectible", 4)]
FAILURES = [("card_declined", "Your card was declined."), ("insufficient_funds", "Your card has insufficient funds."),
            ("expired_card", "Your card has expired."), ("incorrect_cvc", "Your card's security code is incorrect.")]
TIERS = ["bronze", "silver", "gold", "platinum"]


@lru_cache(maxsize=1)
def templates() -> dict[str, str]:
    """Each resource's template as JSON text; `json.loads` of it is a fresh deep copy."""
    text = (shipped("data") / "sandbox" / "stripe_templates.json").read_text("utf-8")
    return {k: json.dumps(v) for k, v in json.loads(text).items() if not k.startswith("_")}


def encode(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def drift(obj: dict) -> None:
    """Schema drift for late records: a new field, and one field that changes type."""
    obj["loyalty_tier"] = TIERS[zlib.crc32(obj["id"].encode()) % len(TIERS)]
    kind = obj["object"]
    if kind == "customer":
        obj["balance"] = float(obj["balance"]) + 0.5  # int cents -> float
    elif kind == "charge":
        obj["amount"] = obj["amount"] / 100  # int cents -> float units
    elif kind == "invoice":
        obj["amount_due"] = obj["amount_due"] / 100
    elif kind == "subscription":
        obj["start_date"] = datetime.fromtimestamp(obj["start_date"], UTC).isoformat()  # int -> str


@lru_cache(maxsize=4)
def dataset(seed: int, customers: int, drift_after: int | None = None) -> dict[str, list[Record]]:
    """Every resource's records in ascending (created, id) order, drifted from position `drift_after`.

    Cached, and records are immutable, so sandboxes with the same settings share them.
    """
    if drift_after is not None:
        plain = dataset(seed, customers, None)
        return {name: rows[:drift_after] + [drifted(r) for r in rows[drift_after:]] for name, rows in plain.items()}
    objs = Generator(seed).generate(customers)
    out = {}
    for name in RESOURCES:
        objs[name].sort(key=lambda o: (o["created"], o["id"]))
        out[name] = [Record(o["id"], o["created"], o, encode(o)) for o in objs[name]]
    return out


def drifted(record: Record) -> Record:
    obj = dict(record.obj)  # drift only touches top-level fields
    drift(obj)
    return Record(record.id, record.created, obj, encode(obj))


def pick(rng: random.Random, weighted: list[tuple]) -> tuple:
    return rng.choices(weighted, weights=[w[-1] for w in weighted])[0]


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tpl = templates()
        self.ids: set[str] = set()

    def new_id(self, prefix: str, length: int) -> str:
        while True:
            candidate = prefix + "".join(self.rng.choices(ALNUM, k=length))
            if candidate not in self.ids:
                self.ids.add(candidate)
                return candidate

    def when(self, after: int = START) -> int:
        return self.rng.randrange(after, END)

    def generate(self, n: int) -> dict[str, list[dict]]:
        customers = [self.customer() for _ in range(n)]
        charges = [self.charge(self.rng.choice(customers)) for _ in range(2 * n)] if n else []
        subs = [self.subscription(c) for c in self.rng.sample(customers, round(0.4 * n))]
        invoices = []
        for _ in range(round(1.2 * n)):
            sub = self.rng.choice(subs) if subs and self.rng.random() < 0.6 else None
            invoices.append(self.invoice(self.rng.choice(customers) if sub is None else sub["_customer"], sub))
        self.number_invoices(invoices, customers, subs)
        for obj in charges + subs + invoices:
            del obj["_customer"]
        return {"customers": customers, "charges": charges, "subscriptions": subs, "invoices": invoices}

    def person(self) -> tuple[str | None, str | None]:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = None if rng.random() < 0.03 else f"{first} {last}"
        user = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
        roll = rng.random()
        if roll < 0.06:
            email = None
        elif roll < 0.07:
            email = rng.choice(MALFORMED).format(u=user.split(".")[0])
        else:
            email = f"{user}{rng.randrange(100)}@{rng.choice(DOMAINS)}"
        return name, email

    def address(self) -> dict | None:
        rng = self.rng
        if rng.random() < 0.12:
            return None
        city, state, country, postal = rng.choice(PLACES)
        postal = "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in postal)
        line1 = f"{rng.randrange(1, 400)} {rng.choice(STREETS)}"
        line2 = f"Suite {rng.randrange(100, 999)}" if rng.random() < 0.2 else None
        return {"city": city, "country": country, "line1": line1, "line2": line2, "postal_code": postal,
                "state": state}

    def customer(self) -> dict:
        rng = self.rng
        c = json.loads(self.tpl["customer"])
        name, email = self.person()
        address = self.address()
        currency = CURRENCY[address["country"]] if address else "usd"
        c.update(id=self.new_id("cus_", 14), created=self.when(), name=name, email=email, address=address,
                 invoice_prefix="".join(rng.choices("0123456789ABCDEF", k=8)))
        c["currency"] = None if rng.random() < 0.15 else currency
        c["balance"] = 0 if rng.random() < 0.8 else rng.randrange(-50000, 50000, 100)
        c["delinquent"] = rng.random() < 0.04
        c["phone"] = f"+1{rng.randrange(2000000000, 9999999999)}" if rng.random() < 0.35 else None
        c["description"] = rng.choice([None, None, "Self-serve signup", "Imported from CRM", "Partner referral"])
        c["preferred_locales"] = rng.choice([[], [], ["en"], ["de", "en"], ["fr"]])
        c["tax_exempt"] = "none" if rng.random() < 0.95 else "exempt"
        c["metadata"] = self.metadata()
        return c

    def metadata(self) -> dict:
        rng = self.rng
        meta = {}
        if rng.random() < 0.5:
            meta["signup_channel"] = rng.choice(["web", "sales", "partner", "mobile"])
        if rng.random() < 0.3:
            meta["crm_id"] = f"00Q{rng.randrange(10**11, 10**12)}"
        if rng.random() < 0.1:
            meta["account_manager"] = rng.choice(FIRST)
        return meta

    def charge(self, cus: dict) -> dict:
        rng = self.rng
        ch = json.loads(self.tpl["charge"])
        cid = self.new_id("ch_", 24)
        amount = rng.randrange(500, 50000)
        status = rng.choices(["succeeded", "failed", "pending"], weights=[90, 7, 3])[0]
        ch.update(id=cid, _customer=cus, customer=cus["id"], created=self.when(cus["created"]), amount=amount,
                  currency=cus["currency"] or "usd", status=status, paid=status == "succeeded",
                  captured=status == "succeeded", amount_captured=amount if status == "succeeded" else 0,
                  description=rng.choice([None, "Subscription payment", "One-off purchase", "Top-up"]),
                  balance_transaction=None if status == "failed" else "txn_" + self.new_id("", 24),
                  payment_method="pm_" + self.new_id("", 24), receipt_email=cus["email"],
                  metadata={"order_id": str(rng.randrange(10000, 99999))} if rng.random() < 0.4 else {})
        if status == "succeeded" and rng.random() < 0.05:
            ch.update(refunded=True, amount_refunded=amount)
        if status == "failed":
            code, message = rng.choice(FAILURES)
            ch.update(failure_code=code, failure_message=message)
            ch["outcome"].update(network_status="declined_by_network", type="issuer_declined",
                                 reason="generic_decline", seller_message="The bank did not return any "
                                 "further details with this decline.")
        ch["outcome"]["risk_score"] = rng.randrange(0, 80)
        ch["billing_details"].update(name=cus["name"], email=cus["email"], address=cus["address"] or
                                     ch["billing_details"]["address"])
        brand = pick(rng, CARDS)[0]
        ch["payment_method_details"]["card"].update(
            brand=brand, network=brand, last4=f"{rng.randrange(10000):04d}", exp_month=rng.randrange(1, 13),
            exp_year=rng.randrange(2025, 2032), fingerprint="".join(rng.choices(ALNUM, k=16)),
            country=(cus["address"] or {}).get("country", "US"), amount_authorized=amount)
        ch["payment_method_details"]["card"]["overcapture"]["maximum_amount_capturable"] = amount
        ch["receipt_url"] = f"https://pay.stripe.com/receipts/payment/{self.new_id('', 32)}"
        ch["refunds"]["url"] = f"/v1/charges/{cid}/refunds"
        return ch

    def subscription(self, cus: dict) -> dict:
        rng = self.rng
        s = json.loads(self.tpl["subscription"])
        sid, created = self.new_id("sub_", 24), self.when(cus["created"])
        plan_name, amount = rng.choice(PLANS)
        status = pick(rng, SUB_STATUS)[0]
        period_start = created + ((END - created) // (30 * 86400)) * 30 * 86400
        s.update(id=sid, _customer=cus, customer=cus["id"], created=created, start_date=created,
                 billing_cycle_anchor=created, status=status, currency=cus["currency"] or "usd",
                 cancel_at_period_end=rng.random() < 0.08, metadata=self.metadata(),
                 description=f"{plan_name} plan")
        if status == "trialing":
            s.update(trial_start=created, trial_end=created + 14 * 86400)
        if s["cancel_at_period_end"]:
            s["cancel_at"] = period_start + 30 * 86400
        item = s["items"]["data"][0]
        price_id, product = "price_" + self.new_id("", 24), "prod_" + self.new_id("", 14)
        quantity = rng.choice([1, 1, 1, 2, 3, 5, 10])
        item.update(id=self.new_id("si_", 14), created=created, subscription=sid, quantity=quantity,
                    current_period_start=period_start, current_period_end=period_start + 30 * 86400)
        item["price"].update(id=price_id, product=product, created=START, unit_amount=amount,
                             unit_amount_decimal=str(amount), nickname=plan_name, currency=s["currency"])
        item["plan"].update(id=price_id, product=product, created=START, amount=amount, amount_decimal=str(amount),
                            nickname=plan_name, currency=s["currency"])
        s["items"]["url"] = f"/v1/subscription_items?subscription={sid}"
        return s

    def invoice(self, cus: dict, sub: dict | None) -> dict:
        rng = self.rng
        inv = json.loads(self.tpl["invoice"])
        iid = self.new_id("in_", 24)
        created = self.when(max(cus["created"], sub["created"]) if sub else cus["created"])
        if sub is not None:
            price = sub["items"]["data"][0]["price"]
            amount = price["unit_amount"] * sub["items"]["data"][0]["quantity"]
            description = f"{sub['items']['data'][0]['quantity']} × {price['nickname']} plan"
        else:
            amount, description = rng.randrange(1000, 200000), rng.choice(["Consulting", "Setup fee", "Hardware"])
        status = pick(rng, INVOICE_STATUS)[0]
        paid = amount if status == "paid" else 0
        inv.update(id=iid, _customer=cus, customer=cus["id"], created=created, currency=cus["currency"] or "usd",
                   customer_email=cus["email"], customer_name=cus["name"], customer_address=cus["address"],
                   customer_phone=cus["phone"], status=status, amount_due=amount, amount_paid=paid,
                   amount_remaining=amount - paid, subtotal=amount, subtotal_excluding_tax=amount, total=amount,
                   total_excluding_tax=amount, period_start=created - 30 * 86400, period_end=created,
                   effective_at=None if status == "draft" else created + 3600, attempted=status != "draft",
                   attempt_count=0 if status == "draft" else rng.choice([1, 1, 1, 2, 3]),
                   auto_advance=status in ("draft", "open"), metadata=self.metadata(),
                   billing_reason="subscription_cycle" if sub else "manual",
                   collection_method="charge_automatically" if sub or rng.random() < 0.5 else "send_invoice")
        if inv["collection_method"] == "send_invoice":
            inv["due_date"] = created + 30 * 86400
        if status != "draft":
            inv["hosted_invoice_url"] = f"https://invoice.stripe.com/i/acct_sandbox/{self.new_id('test_', 24)}"
            inv["invoice_pdf"] = inv["hosted_invoice_url"] + "/pdf"
        if status == "paid":
            inv["status_transitions"].update(finalized_at=created + 3600, paid_at=created + 3700)
        if sub is not None:
            inv["parent"] = {"quote_details": None, "type": "subscription_details",
                             "subscription_details": {"metadata": {}, "subscription": sub["id"]}}
        line = inv["lines"]["data"][0]
        line.update(id=self.new_id("il_", 24), invoice=iid, amount=amount, subtotal=amount, currency=inv["currency"],
                    description=description, period={"start": created - 30 * 86400, "end": created},
                    quantity=sub["items"]["data"][0]["quantity"] if sub else 1)
        inv["lines"]["url"] = f"/v1/invoices/{iid}/lines"
        inv["subscription"] = sub["id"] if sub else None
        inv["_subscription"] = sub
        return inv

    def number_invoices(self, invoices: list[dict], customers: list[dict], subs: list[dict]) -> None:
        """Numbers per customer in creation order, next_invoice_sequence, latest_invoice of subscriptions."""
        seq: dict[str, int] = {}
        latest: dict[str, str] = {}
        for inv in sorted(invoices, key=lambda o: (o["created"], o["id"])):
            sub = inv.pop("_subscription")
            if sub is not None:
                latest[sub["id"]] = inv["id"]
            if inv["status"] != "draft":
                seq[inv["customer"]] = seq.get(inv["customer"], 0) + 1
                inv["number"] = f"{inv['_customer']['invoice_prefix']}-{seq[inv['customer']]:04d}"
        for c in customers:
            c["next_invoice_sequence"] = seq.get(c["id"], 0) + 1
        for s in subs:
            s["latest_invoice"] = latest.get(s["id"])
