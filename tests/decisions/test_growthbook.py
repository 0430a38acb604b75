"""Importing GrowthBook SDK payloads, plain and encrypted."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest

import persona_sdk as ps
from persona_sdk import ConfigError
from persona_sdk.config import Container
from persona_sdk.decisions import Engine, Visitor, container_from_growthbook
from persona_sdk.decisions._growthbook import decrypt_payload

PAYLOAD: dict[str, Any] = {
    "features": {
        "new-checkout": {
            "defaultValue": False,
            "rules": [{"condition": {"id": {"$inGroup": "beta"}}, "force": True}],
        },
        "odd": {"defaultValue": 1, "rules": [{"condition": {"x": {"$regx": "."}}, "force": 2}]},
    },
    "savedGroups": {"beta": ["u-1", "u-2"]},
    "experiments": [{"key": "solo", "variations": [0, 1]}],
}


def _encrypt(plaintext: str, key: bytes) -> str:
    """Encrypt as GrowthBook does: base64(iv) "." base64(AES-128-CBC, PKCS#7)."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    body = encryptor.update(data) + encryptor.finalize()
    return base64.b64encode(iv).decode() + "." + base64.b64encode(body).decode()


def test_a_plain_payload_becomes_a_container() -> None:
    """Features, saved groups and experiments land in the container, leniently compiled."""
    container = container_from_growthbook(PAYLOAD)
    assert container.decisions.strict_conditions is False
    engine = Engine.build(container)
    assert Visitor(engine=engine, user_id="u-1").is_on("new-checkout")
    assert not Visitor(engine=engine, user_id="u-9").is_on("new-checkout")
    assert Visitor(engine=engine, attributes={"x": "a"}).get("odd", None) == 1
    assert Visitor(engine=engine, anonymous_id="a").experiment("solo").in_experiment


def test_json_text_and_base_container_merge() -> None:
    """A JSON string is accepted; the base container's other sections are kept."""
    base = Container.from_dict({"features": {"own": {"defaultValue": 1}}})
    container = container_from_growthbook(json.dumps(PAYLOAD), base=base)
    assert set(container.features) == {"own", "new-checkout", "odd"}


def test_encrypted_sections_are_decrypted() -> None:
    """encryptedFeatures/encryptedSavedGroups decrypt with the key."""
    pytest.importorskip("cryptography")
    key = os.urandom(16)
    payload = {
        "encryptedFeatures": _encrypt(json.dumps(PAYLOAD["features"]), key),
        "encryptedSavedGroups": _encrypt(json.dumps(PAYLOAD["savedGroups"]), key),
    }
    container = container_from_growthbook(payload, decryption_key=base64.b64encode(key).decode())
    assert container.saved_groups == PAYLOAD["savedGroups"]
    assert Visitor(engine=Engine.build(container), user_id="u-2").is_on("new-checkout")


def test_decryption_failures_are_config_errors_naming_the_section() -> None:
    """A missing or wrong key is refused with the section's name."""
    pytest.importorskip("cryptography")
    key = os.urandom(16)
    payload = {"encryptedFeatures": _encrypt(json.dumps(PAYLOAD["features"]), key)}
    with pytest.raises(ConfigError, match="encryptedFeatures: the payload is encrypted"):
        container_from_growthbook(payload)
    wrong = base64.b64encode(os.urandom(16)).decode()
    with pytest.raises(ConfigError, match="encryptedFeatures"):
        container_from_growthbook(payload, decryption_key=wrong)
    with pytest.raises(ConfigError, match="decryption failed"):
        decrypt_payload("no-dot", wrong)


def test_malformed_payloads_are_refused() -> None:
    """Not JSON, or sections of the wrong type, are ConfigErrors."""
    with pytest.raises(ConfigError, match="not JSON"):
        container_from_growthbook("{nope")
    with pytest.raises(ConfigError, match="features: expected an object"):
        container_from_growthbook({"features": []})


def test_persona_from_growthbook() -> None:
    """Persona.from_growthbook decides on the imported features."""
    with ps.Persona.from_growthbook(PAYLOAD) as persona:
        assert persona.visitor(user_id="u-1").is_on("new-checkout")
