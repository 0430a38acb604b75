"""Privacy: consent purposes, PII normalization and hashing, IP truncation.

Configured PII is normalized per the destination's platform rules (Meta's or Google's) and
SHA-256 hashed, or removed, before an event leaves the process; see ``docs/privacy.md``::

    from persona_sdk.privacy import PrivacyPolicy, hash_pii

    hash_pii("email", "John_Smith@gmail.com")     # Meta's rules by default
    hash_pii("email", "John.Smith@gmail.com", rules="google")
    PrivacyPolicy(fields={"traits.email": "email"}, truncate_ip=True).apply(event)
"""

from ..config import PiiAction, PiiConfig, PiiKind, PiiRules
from ._ip import truncate_ip
from ._normalize import hash_pii, is_sha256_hex, normalize_pii, sha256_hex
from ._policy import PrivacyPolicy, check_path

# isort: split
# For the tag layer only: not public (not in __all__).
from ._consent import ConsentRequirement as ConsentRequirement
from ._consent import check_purposes as check_purposes
from ._consent import gpc_header_signal as gpc_header_signal
from ._consent import gpc_signal as gpc_signal
from ._policy import IP_PATH as IP_PATH
from ._policy import check_pii_config as check_pii_config

__all__ = [
    "PiiAction",
    "PiiConfig",
    "PiiKind",
    "PiiRules",
    "PrivacyPolicy",
    "check_path",
    "hash_pii",
    "is_sha256_hex",
    "normalize_pii",
    "sha256_hex",
    "truncate_ip",
]
