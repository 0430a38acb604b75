"""docs/personalization.md stays true: its container loads and decides as it says."""

from __future__ import annotations

import re
from pathlib import Path

import persona_sdk as ps

DOC = Path(__file__).resolve().parents[2] / "docs" / "personalization.md"


def test_the_documented_container_decides(tmp_path: Path) -> None:
    """The first TOML block of the page builds a Persona whose placements decide as the
    page describes."""
    toml = re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)[0]
    path = tmp_path / "persona.toml"
    path.write_text(toml)
    with ps.Persona.from_file(path) as persona:
        decisions = [
            persona.visitor(anonymous_id=f"a-{i}", attributes={"country": "FR"}).decide(
                "home-hero"
            )
            for i in range(200)
        ]
        shown = [d for d in decisions if not d.holdout]
        assert all(d.ids() == ["hero-summer"] for d in shown)
        assert all(d.ids() == ["hero-default"] for d in decisions if d.holdout)
        assert 5 <= len(decisions) - len(shown) <= 40
        rec = persona.visitor(
            anonymous_id="b", attributes={"category_affinity": {"bags": 1.0}}
        ).decide("recommended")
        assert rec.ids()[0] == "hero-bags"
        assert len(rec.items) == 2
