"""Import a GrowthBook SDK payload (``features``, ``savedGroups``, ``experiments``) as a
container, decrypting encrypted payloads.

GrowthBook encrypts a payload section as ``base64(iv) "." base64(ciphertext)`` with
AES-128-CBC and PKCS#7 padding under a base64 key. Decryption needs the ``cryptography``
package (``pip install persona-sdk-py[growthbook]``), imported only when a payload is encrypted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import msgspec

from .._errors import ConfigError
from ..config import check_depth

if TYPE_CHECKING:
    from ..config import Container

__all__ = ["container_from_growthbook", "decrypt_payload"]

_SECTIONS = (
    # (plain key, encrypted key, container field)
    ("features", "encryptedFeatures", "features"),
    ("savedGroups", "encryptedSavedGroups", "saved_groups"),
    ("experiments", "encryptedExperiments", "experiments"),
)


def _b64(text: str) -> bytes:
    # strict: a lenient decoder would silently drop illegal characters
    return base64.b64decode(text.encode("ascii"), validate=True)


def decrypt_payload(encrypted: str, decryption_key: str) -> str:
    """Decrypt one GrowthBook-encrypted string and return the UTF-8 plaintext.

    Raises ``ConfigError`` when it cannot be decrypted (wrong key, bad key length, invalid
    base64, missing ``.``, bad IV) and ``ImportError`` naming the extra to install when
    ``cryptography`` is missing.
    """
    try:
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "decrypting GrowthBook payloads needs the cryptography package: "
            "pip install 'persona-sdk-py[growthbook]'"
        ) from None
    if not isinstance(encrypted, str) or not isinstance(decryption_key, str):
        raise ConfigError("expected an encrypted string <iv>.<ciphertext> and a string key")
    try:
        iv_text, sep, body_text = encrypted.partition(".")
        if not sep:
            raise ValueError("expected <iv>.<ciphertext>")
        key, iv, body = _b64(decryption_key), _b64(iv_text), _b64(body_text)
        if len(iv) != 16:
            raise ValueError("the IV must be 16 bytes")
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(body) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, TypeError, UnicodeError, binascii.Error) as exc:
        raise ConfigError(f"decryption failed ({exc}); is the decryption key right?") from None


def container_from_growthbook(
    payload: Mapping[str, Any] | str | bytes,
    decryption_key: str | None = None,
    base: Container | None = None,
) -> Container:
    """A container holding a GrowthBook SDK payload's features, saved groups, experiments
    and contextual bandits, on top of ``base`` (destinations, tags and the rest).

    Conditions compile with JavaScript's leniency (as GrowthBook's SDKs evaluate them).
    Raises ``ConfigError`` naming the section when the payload is malformed or an
    encrypted section cannot be decrypted.
    """
    from ..config import Container

    if isinstance(payload, (str, bytes)):
        try:
            payload = msgspec.json.decode(payload)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise ConfigError(f"<payload>: not JSON or nested too deep ({exc})") from None
    if not isinstance(payload, Mapping):
        raise ConfigError("<payload>: expected a JSON object")
    base = base if base is not None else Container()
    errors: list[str] = []
    sections = _read_sections(payload, decryption_key, errors)
    bandits = payload.get("contextualBandits")
    if bandits is not None and not isinstance(bandits, Mapping):
        errors.append("contextualBandits: expected an object")
        bandits = None
    if errors:
        raise ConfigError(errors)
    decisions = attrs.evolve(
        base.decisions,
        strict_conditions=False,
        contextual_bandits={**base.decisions.contextual_bandits, **(bandits or {})},
    )
    return attrs.evolve(
        base,
        features={**base.features, **sections.get("features", {})},
        saved_groups={**base.saved_groups, **sections.get("saved_groups", {})},
        experiments=[*base.experiments, *sections.get("experiments", [])],
        decisions=decisions,
    )


def _read_sections(
    payload: Mapping[str, Any], decryption_key: str | None, errors: list[str]
) -> dict[str, Any]:
    """The payload's sections by container field, decrypted where encrypted and checked
    for shape and depth; each problem goes to ``errors``."""
    sections: dict[str, Any] = {}
    for plain, encrypted, field in _SECTIONS:
        value = payload.get(plain)
        if payload.get(encrypted):
            if decryption_key is None:
                errors.append(f"{encrypted}: the payload is encrypted; pass decryption_key")
                continue
            try:
                value = msgspec.json.decode(decrypt_payload(payload[encrypted], decryption_key))
            except ConfigError as exc:
                errors.append(f"{encrypted}: {exc.errors[0]}")
                continue
            except (msgspec.DecodeError, RecursionError) as exc:
                errors.append(f"{encrypted}: decrypted to invalid JSON ({exc})")
                continue
        if value is None:
            continue
        try:  # the compilers recurse: a hostile payload must not reach them 2,000 levels deep
            check_depth(value, where=plain)
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        expected = list if field == "experiments" else Mapping
        if not isinstance(value, expected):
            errors.append(f"{plain}: expected {'a list' if expected is list else 'an object'}")
            continue
        sections[field] = value
    return sections
