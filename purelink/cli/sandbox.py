"""`purelink sandbox`: serve the local test API until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

DEFAULT_PORT = 12111  # `purelink demo` writes its recipe for this port, so this command serves it again


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one "
                        f"(default: {DEFAULT_PORT})")
    parser.add_argument("--seed", type=int, default=0, help="data seed; the same seed gives the same records")
    parser.add_argument("--customers", type=int, default=3421, metavar="N",
                        help="customers to generate (default: 3421); charges 2N, subscriptions 0.4N, invoices 1.2N")
    parser.add_argument("--latency-ms", type=float, default=0, metavar="L", help="delay added to every API response")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="R",
                        help="requests per second across all clients; more are answered 429 with Retry-After")
    parser.add_argument("--fail-rate", type=float, default=0.0, metavar="F",
                        help="share of API requests (0..1) answered 500 with Stripe-Should-Retry: true")
    parser.add_argument("--drift-after", type=int, default=None, metavar="N",
                        help="records from this position in creation order on gain a field and change a type")
    parser.add_argument("--api-key", action="append", default=[], metavar="KEY",
                        help="another secret key to accept (repeatable)")
    parser.add_argument("--restricted-key", action="append", default=[], metavar="KEY",
                        help="another restricted key to accept, which may read customers only (repeatable)")
    parser.add_argument("--log-requests", action="store_true", help="print one line per request to stderr")


def run(args: argparse.Namespace) -> int:
    from purelink.sandbox.server import serve
    from purelink.sandbox.stripe_api import mask

    if args.customers >= 10_000:  # generating them takes a while: say so, or the terminal looks stuck
        print(f"Generating {args.customers:,} customers and their charges, invoices and subscriptions: "
              "this takes a while...", flush=True)
    sandbox = serve(host=args.host, port=args.port, seed=args.seed, customers=args.customers,
                    latency_ms=args.latency_ms, rate_limit=args.rate_limit, fail_rate=args.fail_rate,
                    drift_after=args.drift_after, api_keys=args.api_key, restricted_keys=args.restricted_key,
                    log_requests=args.log_requests)
    lines = [f"Purelink sandbox on {sandbox.url} (seed {args.seed}, {args.customers:,} customers)"]
    for name, source in sandbox.sources().items():
        lines.append(f"  {name}: base URL {source['base_url']}")
        lines += [f"    {field.replace('_', ' ')}: {value}" for field, value in source.items() if field != "base_url"]
    extra = [mask(k) for k in args.api_key] + [mask(k) for k in args.restricted_key]
    if extra:
        lines.append(f"  also accepted: {', '.join(extra)}")
    faults = [f"rate limit {args.rate_limit:g}/s" if args.rate_limit else "",
              f"latency {args.latency_ms:g} ms" if args.latency_ms else "",
              f"fail rate {args.fail_rate:g}" if args.fail_rate else "",
              f"drift after record {args.drift_after}" if args.drift_after is not None else ""]
    lines.append("  faults: " + (", ".join(f for f in faults if f) or "none"))
    lines.append(f"  stats: {sandbox.url}/_sandbox/stats   sources: {sandbox.url}/_sandbox/sources")
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)
    stopped = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # `docker stop`, process managers
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    print("sandbox stopped", flush=True)
    return 0
