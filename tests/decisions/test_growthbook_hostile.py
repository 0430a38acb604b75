"""Hostile GrowthBook payloads and documents fail with ``ConfigError``, never a crash (#12)."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

import persona_sdk as ps
from persona_sdk import ConfigError

KEY = os.urandom(16)


def _encrypt(plaintext: str) -> str:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(iv)).encryptor()
    body = encryptor.update(data) + encryptor.finalize()
    return base64.b64encode(iv).decode() + "." + base64.b64encode(body).decode()


def _nested_condition(depth: int) -> dict[str, Any]:
    cond: dict[str, Any] = {"country": "FR"}
    for _ in range(depth):
        cond = {"$and": [cond]}
    return cond


def _feature_doc(depth: int) -> dict[str, Any]:
    return {"f": {"defaultValue": 1, "rules": [{"condition": _nested_condition(depth),
                                                   "force": 2}]}}  # fmt: skip


@pytest.mark.parametrize("value", [123, ["x"], {"a": 1}, True])
def test_encrypted_section_of_the_wrong_type(value: Any) -> None:
    """``encryptedFeatures: 123`` (or a list, an object) is a ``ConfigError`` naming the
    section, not an ``AttributeError``."""
    key = base64.b64encode(KEY).decode()
    with pytest.raises(ConfigError) as info:
        ps.Persona.from_growthbook({"encryptedFeatures": value}, decryption_key=key)
    assert info.value.errors[0].startswith("encryptedFeatures: ")


def test_conditions_nested_2000_deep() -> None:
    """A condition nested 2,000 levels deep, in a GrowthBook payload or in a container
    document (``Persona(dict)``, ``reload(dict)``), is refused with a path, never a
    ``RecursionError``; a reasonably nested condition still works."""
    with pytest.raises(ConfigError) as info:
        ps.Persona.from_growthbook({"features": _feature_doc(2000)})
    assert "features.f.rules[0].condition.$and[0]" in info.value.errors[0]
    assert "nested deeper than" in info.value.errors[0]
    with pytest.raises(ConfigError, match="nested deeper than"):
        ps.Persona({"features": _feature_doc(2000)})
    with ps.Persona({"features": _feature_doc(10)}) as persona:
        with pytest.raises(ConfigError, match="nested deeper than"):
            persona.reload({"features": _feature_doc(2000)})
        assert persona.visitor(attributes={"country": "FR"}).get("f", 0) == 2


def test_decrypted_json_nested_100k_deep() -> None:
    """A section that decrypts to JSON nested 100,000 levels deep is a ``ConfigError``."""
    key = base64.b64encode(KEY).decode()
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ConfigError) as info:
        ps.Persona.from_growthbook({"encryptedFeatures": _encrypt(deep)}, decryption_key=key)
    assert info.value.errors[0].startswith("encryptedFeatures: ")
    with pytest.raises(ConfigError):
        ps.Persona.from_growthbook('{"features":' + "[" * 100_000 + "]" * 100_000 + "}")
