"""A tiny WSGI shop on persona-sdk with every piece of state in Redis, for the multi-process
proofs (gunicorn workers and a second instance on one Redis).

Environment: ``REDIS_URL``; ``SINK_URL`` (where events go); ``WEIGHTS`` (``"1,0"``: the
experiment's weights, so a second instance can run shifted weights).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import parse_qs

from persona_redis import (
    RedisCounterStore,
    RedisDedupStore,
    RedisOptions,
    RedisStickyBucketStore,
)

from persona_sdk import Persona

URL = os.environ["REDIS_URL"]
OPTS = RedisOptions(URL, timeout=float(os.environ.get("REDIS_TIMEOUT", "1.0")), cooldown=0.2)
WEIGHTS = [float(w) for w in os.environ.get("WEIGHTS", "0.5,0.5").split(",")]

CONTAINER: dict[str, Any] = {
    "profiles": {
        "store": {"type": "redis", "url": URL, "timeout": OPTS.timeout, "cooldown": 0.2},
        "computed_flush_interval": 0.05,
        # generous: this proof runs 6 workers and 32 client threads on a small shared box,
        # where a cold worker's first Redis connection can take longer than the 50 ms default
        "deadline": 2.0,
    },
    "computed_traits": {
        "spent": {"kind": "sum", "event": "Order Completed", "property": "revenue"},
    },
    "segments": {"big_spender": {"condition": {"spent": {"$gte": 100}}}},
    "features": {
        "cta": {
            "defaultValue": "none",
            "rules": [
                {
                    "key": "cta-test",
                    "hashAttribute": "id",
                    "variations": ["blue", "green"],
                    "weights": WEIGHTS,
                    "meta": [{"key": "0"}, {"key": "1"}],
                }
            ],
        }
    },
    "content": [{"id": "promo"}, {"id": "plain"}, {"id": "h1"}, {"id": "h2"}, {"id": "h3"}],
    "placements": {
        # a cap of 3 per visitor, counted in Redis by every worker
        "promo": {"items": ["promo"], "fallback": "plain",
                  "caps": [{"per": "item", "limit": 3, "window": 3600}]},
        # a bandit whose statistics (exposures, clicks) every worker adds to in Redis
        "hero": {"strategy": "bandit", "items": ["h1", "h2", "h3"],
                 "bandit": {"refresh": 0.05}},
    },
    "tags": [{"name": "all", "destination": "sink"}],
    "destinations": {
        "sink": {
            "type": "http",
            "options": {"url": os.environ.get("SINK_URL", "http://127.0.0.1:9/v1/batch")},
            "batch": {"interval": 0.05},
        }
    },
}

counters = RedisCounterStore(OPTS, flush_interval=0.05)
persona = Persona(
    CONTAINER,
    sticky_store=RedisStickyBucketStore(OPTS),
    dedup_store=RedisDedupStore(OPTS),
    counter_store=counters,
)


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    path = environ.get("PATH_INFO", "/")
    uid = q.get("uid", "u-0")
    out: dict[str, Any] = {"pid": os.getpid()}
    try:
        if path == "/buy":
            persona.track(
                "Order Completed", user_id=uid, properties={"revenue": float(q["amount"])}
            )
            out["flushed"] = persona.flush(timeout=5.0)
        elif path == "/visit":
            v = persona.visitor(user_id=uid)
            out["segments"] = sorted(v.segments)
            out["computed"] = dict(v.profile.computed)
            out["profile"] = [v.profile.source.value, *(r.value for r in v.profile.reasons)]
            out["cta"] = v.get("cta", "none")
        elif path == "/cap":
            out["shown"] = counters.window_hit(
                f"cap:{{{uid}}}:promo", now=time.time(), window=3600.0, limit=3
            )
        elif path == "/decide":
            v = persona.visitor(user_id=uid)
            decision = v.decide(q["placement"])
            out["items"] = decision.ids()
            if q.get("click"):
                v.click(decision)
        elif path == "/bandit":
            out["bandit"] = counters.get_all("bandit:hero:*")
        elif path == "/stats":
            out["stats"] = persona.stats()
            out["counters"] = counters.stats()
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
    except Exception as exc:  # the proof counts these: there must be none
        out["exception"] = f"{type(exc).__name__}: {exc}"
    body = json.dumps(out, default=str).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
