"""A resolver keeps working in a forked worker (gunicorn ``--preload``): the child starts its
own I/O thread and keeps the parent's cached profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from servers.cdp import CdpServer

SCRIPT = r"""
import json, os, sys
from persona_sdk.config import Container
from persona_sdk.profiles import ProfileResolver

url, space, token = sys.argv[1:4]
source = {"type": "segment", "space_id": space, "access_token": token, "base_url": url}
r = ProfileResolver(Container.from_dict({"profiles": {"source": source, "deadline": 10.0}}))
parent = r.resolve(user_id="u-1")          # starts the I/O thread in the parent
pid = os.fork()
if pid == 0:
    miss = r.resolve(user_id="u-2")        # the child's own I/O thread
    hit = r.resolve(user_id="u-1")         # the parent's cache came along
    os.write(1, json.dumps([miss.source.value, dict(miss.traits), hit.source.value]).encode())
    r.close()
    os._exit(0)
_, status = os.waitpid(pid, 0)
r.close()
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_resolver_works_in_a_forked_child(cdp: CdpServer) -> None:
    """After fork, a miss in the child is fetched (by a new I/O thread) and L1 hits remain."""
    cdp.add("u-2", {"plan": "free"})
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, cdp.url, cdp.space, cdp.token],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == ["remote", {"plan": "free"}, "l1"]
