"""Consent requirements: every needed purpose granted; unknown is not granted; GPC."""

from __future__ import annotations

import pytest

from persona_sdk.config import ConsentConfig, PurposeConfig
from persona_sdk.privacy import ConsentRequirement, check_purposes

CONSENT = ConsentConfig(
    purposes={"analytics": PurposeConfig(), "ads": PurposeConfig(sale_sharing=True)}
)


@pytest.mark.parametrize(
    ("needed", "prefs", "gpc", "allowed"),
    [
        ((), None, False, True),  # nothing needed: always
        ((), None, True, True),
        (("analytics",), {"analytics": True}, False, True),
        (("analytics",), {"analytics": False}, False, False),
        (("analytics",), {}, False, False),  # unknown purpose: not granted
        (("analytics",), None, False, False),  # no consent at all: not granted
        (("analytics",), {"analytics": "yes"}, False, False),  # only true grants
        (("analytics",), {"analytics": True}, True, True),  # GPC spares non-sale purposes
        (("ads",), {"ads": True}, True, False),  # GPC revokes sale/sharing
        (("analytics", "ads"), {"analytics": True, "ads": True}, False, True),
        (("analytics", "ads"), {"analytics": True}, False, False),
    ],
)
def test_requirement_matrix(
    needed: tuple[str, ...], prefs: dict[str, object] | None, gpc: bool, allowed: bool
) -> None:
    """Granted / denied / unknown / GPC, one row each."""
    req = ConsentRequirement.build(needed, CONSENT)
    assert req.allows(prefs, gpc) is allowed


def test_purpose_names_are_checked_against_declared_purposes() -> None:
    """With purposes declared, an unknown name is an error naming its path; with none
    declared, any name is accepted."""
    errors = check_purposes(["analytics", "analytcs", 3], CONSENT, "tags[0].consent")
    assert errors[0].startswith('tags[0].consent[1]: unknown consent purpose "analytcs"')
    assert errors[1].startswith("tags[0].consent[2]: ")
    assert check_purposes(["anything"], ConsentConfig(), "x") == []


def test_container_pii_settings_are_checked_with_paths() -> None:
    """An unknown PII kind or action in the container names its path and the choices."""
    from persona_sdk import ConfigError, Container

    with pytest.raises(ConfigError) as info:
        Container.from_dict({"pii": {"fields": {"traits.email": "emial"}, "action": "blur"}})
    errors = "\n".join(info.value.errors)
    assert "pii.fields.traits.email: 'emial' is not a valid PiiKind" in errors
    assert "pii.action: 'blur' is not a valid PiiAction" in errors
