"""`python -m avepoint_simulator`: the command line; serves the simulated AvePoint API until SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from avepoint_simulator.faults import Faults
from avepoint_simulator.fleet import FleetSpec
from avepoint_simulator.identity import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from avepoint_simulator.server import Simulator


def _split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--listen wants host:port, got {value!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    """Serve a simulator until SIGTERM or SIGINT; print its base URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m avepoint_simulator",
        description="A fake AvePoint partner API with a synthetic fleet, for demos and tests.",
    )
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (0: a free port)")
    parser.add_argument("--customers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs-per-customer", type=int, default=None)
    parser.add_argument("--job-period", type=float, default=86400.0, help="seconds")
    parser.add_argument("--page-size", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per data request")
    parser.add_argument("--error-rate", type=float, default=0.0, help="0..1")
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="data requests per second per client, then 429 (default: none)"
    )
    parser.add_argument("--retry-after", type=int, default=None, help="Retry-After seconds on 429 and 503")
    parser.add_argument("--client-id", default=DEMO_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEMO_CLIENT_SECRET)
    parser.add_argument("--public-key-file", default=None, help="PEM key or certificate")
    args = parser.parse_args(argv)
    try:
        if args.rate_limit is not None and args.rate_limit < 1:
            raise ValueError(f"--rate-limit wants at least 1 request per second, got {args.rate_limit:g}")
        if args.retry_after is not None and args.retry_after < 0:
            raise ValueError(f"--retry-after wants seconds >= 0, got {args.retry_after}")
        host, port = _split_listen(args.listen)
        public_key = None
        if args.public_key_file:
            with open(args.public_key_file, "rb") as handle:
                public_key = handle.read()
        sim = Simulator(
            FleetSpec(args.customers, args.seed, args.jobs_per_customer),
            client_id=args.client_id,
            client_secret=args.client_secret,
            public_key_pem=public_key,
            page_size=args.page_size,
            job_period=args.job_period,
            faults=Faults(
                latency=args.latency,
                error_rate=args.error_rate,
                rate_limit=args.rate_limit,
                retry_after=args.retry_after,
            ),
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sim.start(host, port)
        print(sim.base_url, flush=True)
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
