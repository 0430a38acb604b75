"""``python -m examples.shop [--host H] [--port P] [--var DIR] [--redis URL] [--simulate N]``.

Without ``--simulate`` it serves the shop until Ctrl-C. With it, it serves the shop from a
thread, drives N simulated visitors through it over HTTP, prints a summary and exits non-zero
when a check failed (CI runs it this way).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .server import DEFAULT_VAR, serve, start


def main(argv: list[str] | None = None) -> int:
    """Run the demo shop; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m examples.shop", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default 8000, or a free one when it is taken; "
                             "a free one with --simulate)")
    parser.add_argument("--var", type=Path, default=None,
                        help=f"where events and the spool go (default {DEFAULT_VAR})")
    parser.add_argument("--simulate", type=int, metavar="N",
                        help="drive N simulated visitors, print a summary and exit")
    parser.add_argument("--seed", type=int, default=7, help="the simulation's random seed")
    parser.add_argument("--drill", type=int, default=5000, metavar="N",
                        help="visitors of the in-process personalization drill (default 5000)")
    parser.add_argument("--redis", metavar="URL",
                        help="keep profiles, sticky buckets and exposure de-duplication in "
                             "Redis (needs persona-redis: pip install -e plugins/persona-redis)")
    args = parser.parse_args(argv)
    var_dir: Path = args.var or DEFAULT_VAR
    try:
        shared = _redis_stores(args.redis) if args.redis else {}
    except ImportError:
        print("--redis needs persona-redis: pip install -e plugins/persona-redis",
              file=sys.stderr)
        return 2
    if args.simulate is None:
        try:
            serve(host=args.host, port=8000 if args.port is None else args.port,
                  var_dir=var_dir, **shared)
        except KeyboardInterrupt:
            pass
        return 0

    from .simulate import simulate

    if args.var is None:
        # a fresh folder per run: the checks read what this run wrote, nothing older
        import tempfile

        var_dir = Path(tempfile.mkdtemp(prefix="sim-", dir=_ensure(DEFAULT_VAR)))
    shop = start(host=args.host, port=args.port or 0, var_dir=var_dir, **shared)
    print(f"Persona Outdoor is running at {shop.url}/ (simulating {args.simulate} visitors)",
          flush=True)
    try:
        outcome = simulate(shop, args.simulate, seed=args.seed, var_dir=var_dir,
                           drill_visitors=args.drill)
    finally:
        shop.stop()
    print("\n".join(outcome.lines))
    print(f"events written to {var_dir}/")
    if not outcome.ok:
        print(f"FAILED: {len(outcome.failures)} check(s)", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


def _redis_stores(url: str) -> dict[str, object]:
    """The shop's shared state on Redis, so several shop processes see the same visitors."""
    from persona_redis import (
        RedisDedupStore,
        RedisOptions,
        RedisProfileStore,
        RedisStickyBucketStore,
    )

    opts = RedisOptions(url)
    return {
        "profile_store": RedisProfileStore(opts),
        "sticky_store": RedisStickyBucketStore(opts),
        "dedup_store": RedisDedupStore(opts),
    }


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    sys.exit(main())
