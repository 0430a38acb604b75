"""The one registry of fork and exit hooks (``persona_sdk._lifecycle``): order, weak
references, failures logged once and never raised, and the process's handlers at a real fork."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys

import pytest

from persona_sdk import _lifecycle
from persona_sdk._lifecycle import Registry


class Owner:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls

    def hook(self) -> None:
        self.calls.append(self.name)


def test_order_then_registration_and_before_in_reverse() -> None:
    """After a fork, hooks run by ``order`` then registration; before it, in reverse."""
    reg = Registry()
    calls: list[str] = []
    for name, order in (("a", 0), ("b", 0), ("early", _lifecycle.EARLY)):
        def cb(name: str = name) -> None:
            calls.append(name)
        reg.register(name, before=cb, after_in_child=cb, order=order)
    reg.run("after_in_child")
    assert calls == ["early", "a", "b"]
    calls.clear()
    reg.run("before")
    assert calls == ["b", "a", "early"]
    calls.clear()
    reg.run("at_exit")
    assert calls == []


def test_bound_methods_are_held_weakly_and_cancel_removes() -> None:
    """Registering never keeps an object alive; a gone object's hook is skipped and pruned."""
    reg = Registry()
    calls: list[str] = []
    kept, gone = Owner("kept", calls), Owner("gone", calls)
    hook = reg.register("kept", after_in_parent=kept.hook)
    reg.register("gone", after_in_parent=gone.hook)
    del gone
    gc.collect()
    reg.run("after_in_parent")
    assert calls == ["kept"]
    assert len(reg) == 1
    hook.cancel()
    reg.run("after_in_parent")
    assert calls == ["kept"]
    assert len(reg) == 0


def test_a_failing_hook_is_logged_once_and_never_stops_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A raising callback is logged once per hook and moment; the others still run."""
    reg = Registry()
    calls: list[str] = []

    def boom() -> None:
        raise RuntimeError("no")

    reg.register("boom", after_in_child=boom, at_exit=boom)
    reg.register("ok", after_in_child=lambda: calls.append("ok"))
    with caplog.at_level(logging.ERROR, logger="persona_sdk"):
        for _ in range(3):
            reg.run("after_in_child")
        reg.run("at_exit")
    assert calls == ["ok"] * 3
    logged = [r.getMessage() for r in caplog.records]
    assert logged == ["persona-sdk: the after_in_child hook of boom failed",
                      "persona-sdk: the at_exit hook of boom failed"]
    with pytest.raises(ValueError, match="moment"):
        reg.run("later")


SCRIPT = r"""
import os, sys
from persona_sdk import _lifecycle

seen = []
class Owner:
    def before(self): seen.append("before")
    def parent(self): seen.append("parent")
    def child(self): seen.append("child")
    def exit(self): sys.stdout.write("exit:" + os.environ["WHO"] + "\n"); sys.stdout.flush()
owner = Owner()
_lifecycle.register("test", before=owner.before, after_in_parent=owner.parent,
                    after_in_child=owner.child, at_exit=owner.exit)
pid = os.fork()
if pid == 0:
    os.environ["WHO"] = "child"
    sys.stdout.write(",".join(seen) + "\n"); sys.stdout.flush()
    sys.exit(0)  # a normal exit: the exit hooks run
os.waitpid(pid, 0)
os.environ["WHO"] = "parent"
sys.stdout.write(",".join(seen) + "\n")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_process_registry_runs_at_a_real_fork_and_at_exit() -> None:
    """``os.fork`` runs before / after-in-parent / after-in-child, ``exit`` the exit hooks,
    in each process."""
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, timeout=60,
                          check=False, env={**os.environ, "WHO": "parent"})
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["before,child", "exit:child", "before,parent",
                                            "exit:parent"]


def test_one_registry_installs_process_hooks() -> None:
    """Only ``_lifecycle`` calls ``os.register_at_fork`` or ``atexit.register``: every
    component registers there."""
    from pathlib import Path

    import persona_sdk

    root = Path(persona_sdk.__file__).parent
    users = sorted(
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if "register_at_fork(" in (text := p.read_text()) or "atexit.register(" in text
    )
    assert users == ["_lifecycle.py"]
