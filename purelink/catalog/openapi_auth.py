"""Auth, rate limit, concurrency and health check: the connector-wide guesses, each with how sure
it is and why. Operation-level `security` counts as much as the document's; a document that is
silent or contradicts itself gives an "unsure" guess, which the user is asked about.
"""

from __future__ import annotations

import re

from purelink.catalog.openapi_guesses import Document

# apiKey headers that vendors document as "Authorization: Bearer <token>" (HubSpot's private apps)
BEARER_TOKENS = re.compile(r"private[-_ ]?app|access[-_ ]?token|bearer", re.IGNORECASE)
RATE_HEADER = re.compile(r"^(x-)?(rate-?limit|ratelimit)[\w-]*$|^x-[\w]+-ratelimit[\w-]*$|^retry-after$",
                         re.IGNORECASE)


def used_schemes(doc: dict, operations: list[dict]) -> dict[str, int]:
    """How many GET operations each security scheme covers (document-level `security` applies to
    every operation that declares none)."""
    counts: dict[str, int] = {}
    top = doc.get("security") or []
    for op in operations:
        for requirement in op.get("security", top) or []:
            for name in requirement or {}:
                counts[name] = counts.get(name, 0) + 1
    return counts


def detect_auth(d: Document, doc: dict, name: str, operations: list[dict]) -> tuple[dict, float, str]:
    declared = (doc.get("components") or {}).get("securitySchemes") or {}
    schemes = {k: d.resolve(v) for k, v in declared.items()}
    uses = used_schemes(doc, operations)
    env = f"{name.upper()}_API_KEY"
    docs = (doc.get("externalDocs") or {}).get("url")
    step = (f"Create an API key or access token in the {name} dashboard (see its documentation) "
            "and paste it here.")
    guidance = {"dashboard_url": docs, "steps": [step]}
    ranked = []
    for key, s in schemes.items():
        t, scheme = s.get("type"), str(s.get("scheme", "")).lower()
        header = str(s.get("name", ""))
        if t == "http" and scheme == "bearer":
            ranked.append((0.9, {"style": "bearer"}, f"security scheme {key}: HTTP bearer"))
        elif t in ("oauth2", "openIdConnect"):
            ranked.append((0.6, {"style": "bearer"}, f"security scheme {key}: {t}; paste an access token"))
        elif t == "apiKey" and s.get("in") == "header":
            if header.lower() == "authorization":
                ranked.append((0.55, {"style": "header", "header": "Authorization"},
                               f"security scheme {key}: the key goes in the Authorization header as is"))
            elif BEARER_TOKENS.search(header) or BEARER_TOKENS.search(key):
                ranked.append((0.6, {"style": "bearer"},
                               (f"security scheme {key} names a header `{header}`, but such tokens are sent as "
                               "Authorization: Bearer (HubSpot private apps); check the vendor's docs")))
            else:
                ranked.append((0.85, {"style": "header", "header": header},
                               f"security scheme {key}: key in the {header} header"))
        elif t == "http" and scheme == "basic":
            ranked.append(basic_auth(key, name))
        elif t == "apiKey" and s.get("in") == "query":
            ranked.append((0.8, {"style": "query", "param": header},
                           f"security scheme {key}: key in the {header} query parameter"))
        if ranked and ranked[-1][2].startswith(f"security scheme {key}"):
            n = uses.get(key, 0)
            conf, auth, ev = ranked[-1]
            ranked[-1] = (conf + 0.01 * min(n, 5), auth, ev + f" (used by {n} of {len(operations)} operations)")
    if not ranked:
        text = " ".join(str((doc.get("info") or {}).get(k, "")) for k in ("description", "summary"))
        if re.search(r"token|authori[sz]ation|bearer", text, re.IGNORECASE):
            return ({"style": "bearer", "env": env, "guidance": guidance}, 0.4,
                    "unsure: no security scheme, but the description mentions tokens; is it a bearer token?")
        return ({"style": "none", "guidance": guidance}, 0.3,
                "unsure: the document declares no security scheme; does the API need a key?")
    ranked.sort(key=lambda r: r[0], reverse=True)
    conf, auth, ev = ranked[0]
    styles = {r[1]["style"] for r in ranked}
    if len(styles) > 1 and ranked[1][0] >= conf - 0.1:
        # two ways that are about as likely: the document contradicts itself, the user decides
        conf = min(conf, 0.6)
        ev += f"; unsure: it also declares {ranked[1][2]}"
    elif len(ranked) > 1:
        ev += f" (preferred among {len(ranked)} schemes)"
    if auth.get("password_env"):
        guidance["steps"] = [(f"Copy the {auth['user']} (the user name) and the {auth['password']} (the password) "
                             f"from the {name} console (see its documentation) and paste them here.")]
    auth = {k: v for k, v in auth.items() if k not in ("user", "password")}
    return {"env": env, **auth, "guidance": guidance}, round(min(conf, 0.95), 2), ev


def basic_auth(key: str, name: str) -> tuple[float, dict, str]:
    """HTTP basic: a scheme named after its two parts (Twilio's `accountSid_authToken`) is a user
    name and a password, two secrets; otherwise the key is the user name (Stripe's `basicAuth`)."""
    parts = [p for p in re.split(r"[_\-\s]+|(?<=[a-z])And(?=[A-Z])", key) if p]
    if len(parts) == 2 and not any(p.lower() in ("basic", "auth", "http") for p in parts):
        user, password = (re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", p).upper() for p in parts)
        prefix = name.upper()
        return (0.7, {"style": "basic", "env": f"{prefix}_{user}", "password_env": f"{prefix}_{password}",
                       "user": parts[0], "password": parts[1]},
                (f"security scheme {key}: HTTP basic, {parts[0]} as the user name and {parts[1]} as the password "
                f"(from the scheme's name): two secrets, {prefix}_{user} and {prefix}_{password}"))
    return 0.7, {"style": "basic"}, f"security scheme {key}: HTTP basic, the key as user name"


GUESSED_RATE = "Guessed when the connector was imported: its OpenAPI document states no limit."


def detect_rate_limit(doc: dict, d: Document, operations: list[dict]) -> tuple[dict, float, str]:
    """Documented rate: a sentence such as "100 requests per 10 seconds"; headers: the response
    header names (never schema property names) that look like rate-limit headers."""
    headers: set[str] = set()
    for op in operations:
        for response in (op.get("responses") or {}).values():
            for h in (d.resolve(response).get("headers") or {}):
                if RATE_HEADER.match(h):
                    headers.add(h)
    info = doc.get("info") or {}
    text = " ".join(str(info.get(k, "")) for k in ("description", "summary"))
    text += " " + " ".join(str(op.get("description", "")) for op in operations[:200])
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:read\s+)?requests?\s*(?:per|/|a|an|every)\s*(\d+\s*)?(second|sec|minute|min)",
                  text, re.IGNORECASE)
    found = sorted(headers)
    if m:
        per = float(m[2] or 1) * (60 if m[3].lower().startswith("min") else 1)
        rps = round(float(m[1]) / per, 3)
        return {"requests_per_second": rps, "headers": found}, 0.7, f"the documentation says {m[0]!r}"
    return ({"requests_per_second": 5.0, "headers": found, "notes": GUESSED_RATE}, 0.3,
            "no documented limit: a conservative 5 requests/s is a guess"
            + (f"; the API sends {', '.join(found)}" if found else ""))


def detect_concurrency(rate: dict) -> tuple[int, float, str]:
    rps = rate.get("requests_per_second") or 5
    n = max(1, min(4, int(rps // 2) or 1))  # 4 at most: more only pays once the limit is known
    return n, 0.5, f"no documented concurrency limit: {n} at once, from {rps:g} requests/s"


def detect_health_check(streams: list[dict], pagination: dict) -> tuple[dict, float, str]:
    """One record of the first chosen stream whose path needs the fewest variables."""
    plain = sorted(streams, key=lambda s: s["path"].count("{"))  # stable: the first listed wins ties
    first = plain[0]
    limit = (first.get("pagination") or pagination).get("limit_param")
    check = {"path": first["path"], "params": {limit: 1} if limit else {}}
    conf = 0.8 if "{" not in first["path"] else 0.6
    return check, conf, f"one record of the chosen stream {first['name']} (GET {first['path']})"
