"""Deterministic Salesforce records: Accounts, Contacts, Opportunities and Leads, with describe metadata.

For N (the sandbox's `customers`): N // 4 accounts (at least 1), N contacts, N // 2 opportunities,
N // 2 leads. Values are kept typed (datetimes as unix seconds) and rendered the way the REST API
writes them (`2024-03-05T14:22:10.000+0000`, dates `2024-03-05`, numbers as JSON numbers).
Ids are real-looking 18-character ids, checksum included, ascending in creation order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from purelink.sandbox.fakes import END, INDUSTRIES, Faker

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

# name, type, label; every object also has Id, OwnerId, IsDeleted, CreatedDate, LastModifiedDate, SystemModstamp
COMMON = [("Id", "id", "Record ID"), ("OwnerId", "reference", "Owner ID"), ("IsDeleted", "boolean", "Deleted"),
          ("CreatedDate", "datetime", "Created Date"), ("LastModifiedDate", "datetime", "Last Modified Date"),
          ("SystemModstamp", "datetime", "System Modstamp")]
FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "Account": [("Name", "string", "Account Name"), ("Type", "picklist", "Account Type"),
                ("Industry", "picklist", "Industry"), ("AnnualRevenue", "currency", "Annual Revenue"),
                ("NumberOfEmployees", "int", "Employees"), ("Phone", "phone", "Account Phone"),
                ("Website", "url", "Website"), ("BillingCity", "string", "Billing City"),
                ("BillingState", "string", "Billing State/Province"), ("BillingCountry", "string", "Billing Country")],
    "Contact": [("AccountId", "reference", "Account ID"), ("FirstName", "string", "First Name"),
                ("LastName", "string", "Last Name"), ("Name", "string", "Full Name"), ("Email", "email", "Email"),
                ("Phone", "phone", "Business Phone"), ("Title", "string", "Title"),
                ("Department", "string", "Department"), ("LeadSource", "picklist", "Lead Source"),
                ("MailingCity", "string", "Mailing City"), ("MailingCountry", "string", "Mailing Country")],
    "Opportunity": [("AccountId", "reference", "Account ID"), ("Name", "string", "Name"),
                    ("StageName", "picklist", "Stage"), ("Amount", "currency", "Amount"),
                    ("Probability", "percent", "Probability (%)"), ("CloseDate", "date", "Close Date"),
                    ("Type", "picklist", "Opportunity Type"), ("LeadSource", "picklist", "Lead Source"),
                    ("IsClosed", "boolean", "Closed"), ("IsWon", "boolean", "Won"),
                    ("ForecastCategory", "picklist", "Forecast Category")],
    "Lead": [("FirstName", "string", "First Name"), ("LastName", "string", "Last Name"),
             ("Name", "string", "Full Name"), ("Company", "string", "Company"), ("Email", "email", "Email"),
             ("Phone", "phone", "Phone"), ("Status", "picklist", "Status"), ("LeadSource", "picklist", "Lead Source"),
             ("Industry", "picklist", "Industry"), ("Rating", "picklist", "Rating"),
             ("IsConverted", "boolean", "Converted")],
}
KEY_PREFIX = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q"}
LABELS = {"Account": ("Account", "Accounts"), "Contact": ("Contact", "Contacts"),
          "Opportunity": ("Opportunity", "Opportunities"), "Lead": ("Lead", "Leads")}
STAGES = [("Prospecting", 10, "Pipeline"), ("Qualification", 20, "Pipeline"), ("Needs Analysis", 20, "Pipeline"),
          ("Proposal/Price Quote", 75, "BestCase"), ("Negotiation/Review", 90, "Commit"),
          ("Closed Won", 100, "Closed"), ("Closed Lost", 0, "Omitted")]
SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", None]
TITLES = ["CEO", "CFO", "VP Sales", "Head of Data", "Data Engineer", "Office Manager", "Buyer", None]
DEPARTMENTS = ["Finance", "Engineering", "Sales", "Operations", "Marketing", None]
USERS = ["005Sb00000" + s for s in ("0AbcDE", "0FghIJ", "0KlmNO")]


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str

    def render(self, value):
        if value is None:
            return None
        if self.type == "datetime":
            return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        return value


def fields(sobject: str) -> list[Field]:
    return [Field(*f) for f in (COMMON[:2] + FIELDS[sobject] + COMMON[2:])]


def salesforce_id(prefix: str, seq: int) -> str:
    body = ""
    while seq:
        seq, digit = divmod(seq, 62)
        body = BASE62[digit] + body
    short = prefix + "Sb" + body.rjust(10, "0")
    suffix = ""
    for chunk in (short[0:5], short[5:10], short[10:15]):
        suffix += CHECKSUM[sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")]
    return short + suffix


def _stamp(fake: Faker, rec: dict, created: int) -> None:
    modified = fake.later(created)
    rec.update(OwnerId=fake.pick(USERS), IsDeleted=False, CreatedDate=created, LastModifiedDate=modified,
               SystemModstamp=modified if fake.chance(0.8) else min(END - 1, modified + fake.rng.randrange(1, 3600)))


@lru_cache(maxsize=4)
def dataset(seed: int, n: int) -> dict[str, list[dict]]:
    """Records by sObject name, in Id order (which is creation order)."""
    fake = Faker(f"salesforce-{seed}")
    out: dict[str, list[dict]] = {}
    accounts = []
    for created in sorted(fake.moment() for _ in range(max(1, n // 4))):
        name, domain = fake.company()
        city, state, _, country = fake.place()
        rec = {"Name": name, "Type": fake.pick(["Customer - Direct", "Customer - Channel", "Prospect", "Partner"]),
               "Industry": fake.pick(INDUSTRIES), "AnnualRevenue": float(fake.rng.randrange(1, 5000) * 10000),
               "NumberOfEmployees": fake.rng.randrange(5, 20000), "Phone": fake.phone(),
               "Website": f"https://www.{domain}", "BillingCity": city, "BillingState": state,
               "BillingCountry": country}
        _stamp(fake, rec, created)
        accounts.append(rec)
    out["Account"] = accounts
    contacts = []
    for created in sorted(fake.moment() for _ in range(n)):
        first, last, email = fake.person()
        account = fake.pick(accounts)
        city, _, _, country = fake.place()
        rec = {"AccountId": account, "FirstName": first, "LastName": last, "Name": f"{first} {last}",
               "Email": None if fake.chance(0.05) else email, "Phone": fake.phone() if fake.chance(0.6) else None,
               "Title": fake.pick(TITLES), "Department": fake.pick(DEPARTMENTS), "LeadSource": fake.pick(SOURCES),
               "MailingCity": city, "MailingCountry": country}
        _stamp(fake, rec, max(created, account["CreatedDate"]))
        contacts.append(rec)
    out["Contact"] = contacts
    opportunities = []
    for created in sorted(fake.moment() for _ in range(n // 2)):
        account = fake.pick(accounts)
        stage, probability, forecast = fake.pick(STAGES)
        closed = stage.startswith("Closed")
        close = datetime.fromtimestamp(created + fake.rng.randrange(7, 180) * 86400, UTC).date().isoformat()
        rec = {"AccountId": account, "Name": f"{account['Name']} - {fake.pick(['Renewal', 'Expansion', 'New'])}",
               "StageName": stage, "Amount": None if fake.chance(0.05) else float(fake.rng.randrange(5, 500) * 100),
               "Probability": float(probability), "CloseDate": close,
               "Type": fake.pick(["New Customer", "Existing Customer - Upgrade", "Existing Customer - Renewal"]),
               "LeadSource": fake.pick(SOURCES), "IsClosed": closed, "IsWon": stage == "Closed Won",
               "ForecastCategory": forecast}
        _stamp(fake, rec, max(created, account["CreatedDate"]))
        opportunities.append(rec)
    out["Opportunity"] = opportunities
    leads = []
    for created in sorted(fake.moment() for _ in range(n // 2)):
        first, last, email = fake.person()
        rec = {"FirstName": first, "LastName": last, "Name": f"{first} {last}", "Company": fake.company()[0],
               "Email": email, "Phone": fake.phone() if fake.chance(0.5) else None,
               "Status": fake.pick(["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                                    "Closed - Not Converted"]),
               "LeadSource": fake.pick(SOURCES), "Industry": fake.pick(INDUSTRIES),
               "Rating": fake.pick(["Hot", "Warm", "Cold", None])}
        rec["IsConverted"] = rec["Status"] == "Closed - Converted"
        _stamp(fake, rec, created)
        leads.append(rec)
    out["Lead"] = leads
    for sobject, records in out.items():
        # creation order gives the ids; references are resolved once every id exists
        for seq, rec in enumerate(sorted(records, key=lambda r: r["CreatedDate"]), start=1):
            rec["Id"] = salesforce_id(KEY_PREFIX[sobject], 7000 + seq * 37)
    for sobject in ("Contact", "Opportunity"):
        for rec in out[sobject]:
            rec["AccountId"] = rec["AccountId"]["Id"]
    return {s: sorted(r, key=lambda rec: rec["Id"]) for s, r in out.items()}


def describe(sobject: str, version: str) -> dict:
    """The parts of `sobjects/{name}/describe` a loader reads: the object and its fields."""
    label, plural = LABELS[sobject]
    out_fields = []
    for f in fields(sobject):
        out_fields.append({
            "name": f.name, "label": f.label, "type": f.type, "nillable": f.name not in (
                "Id", "OwnerId", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "Name",
                "LastName", "StageName", "CloseDate", "Company", "Status"),
            "length": 255 if f.type in ("string", "picklist", "email", "url", "phone") else 0,
            "referenceTo": (["User"] if f.name == "OwnerId" else ["Account"]) if f.type == "reference" else [],
            "filterable": True, "sortable": True, "custom": False, "updateable": f.type not in ("id", "datetime"),
        })
    base = f"/services/data/{version}/sobjects/{sobject}"
    return {"name": sobject, "label": label, "labelPlural": plural, "keyPrefix": KEY_PREFIX[sobject],
            "custom": False, "queryable": True, "retrieveable": True, "searchable": True, "fields": out_fields,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}}
