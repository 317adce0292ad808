"""The official Stripe SDK pages through the sandbox like through Stripe."""

from __future__ import annotations

import stripe

from purelink.sandbox import serve


def test_official_sdk_lists_every_customer():
    with serve(seed=0) as sb:
        client = stripe.StripeClient(sb.api_key, base_addresses={"api": sb.url})
        ids = [c.id for c in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()]
        assert len(ids) == 3421 and len(set(ids)) == 3421
        charge = client.v1.charges.list(params={"limit": 1}).data[0]
        assert client.v1.customers.retrieve(charge.customer).id == charge.customer
