"""Security: who is acting, what they may see, and how personal data is protected at rest.

- :class:`Actor` names the person or service calling the registry; every registry method takes
  ``actor=``.
- Keys (:mod:`~custrec.security.keys`, :mod:`~custrec.security.keyring`): a :class:`KeyProvider`
  holds master keys that wrap per-customer data keys; :class:`IndexKeys` are the separate
  secrets behind blind indexes; :class:`KeyRing` bundles them.
- Field encryption (:mod:`~custrec.security.crypto`): AES-256-GCM bound to customer and field
  path; :class:`DocumentCipher` seals the personal fields of a record document.
- Blind indexes (:mod:`~custrec.security.blind_index`): keyed tokens for exact lookup.
- Masking (:mod:`~custrec.security.masking`): :func:`mask`, :func:`mask_record`.
- Access control (:mod:`~custrec.security.access`): :class:`RoleBasedPolicy` and :func:`require`.
- Audit (:mod:`~custrec.security.audit`): the tamper-evident :class:`AuditChain`.

This layer is pure logic: the only I/O is a key provider reading its environment variable or
key file.
"""

from custrec.security.access import (
    DEFAULT_GRANTS,
    PERMISSION_ACTIONS,
    AccessDecision,
    AccessPolicy,
    Action,
    Grant,
    Resource,
    RoleBasedPolicy,
    Scope,
    ScopedPolicy,
    require,
)
from custrec.security.actors import Actor
from custrec.security.audit import (
    GENESIS,
    AuditChain,
    AuditEntry,
    ChainedAuditEntry,
    ChainVerification,
    Checkpoint,
)
from custrec.security.blind_index import BlindIndexer
from custrec.security.crypto import (
    ENCRYPTED_KEY,
    DataKey,
    DecryptionFailed,
    DocumentCipher,
    decrypt_field,
    decrypt_json,
    encrypt_field,
    encrypt_json,
)
from custrec.security.keyring import KeyRing, KeyringFingerprint, KeyringMismatch
from custrec.security.keys import (
    EnvKeyProvider,
    FileKeyProvider,
    IndexKeys,
    InsecureKeyFile,
    KeyConfigurationError,
    KeyProvider,
    KeyUnavailable,
    StaticKeyProvider,
    generate_key_file,
    rotate_key_file,
)
from custrec.security.masking import MaskKind, mask, mask_address, mask_custom, mask_record

__all__ = [
    "DEFAULT_GRANTS",
    "ENCRYPTED_KEY",
    "GENESIS",
    "PERMISSION_ACTIONS",
    "AccessDecision",
    "AccessPolicy",
    "Action",
    "Actor",
    "AuditChain",
    "AuditEntry",
    "BlindIndexer",
    "ChainVerification",
    "ChainedAuditEntry",
    "Checkpoint",
    "DataKey",
    "DecryptionFailed",
    "DocumentCipher",
    "EnvKeyProvider",
    "FileKeyProvider",
    "Grant",
    "IndexKeys",
    "InsecureKeyFile",
    "KeyConfigurationError",
    "KeyProvider",
    "KeyRing",
    "KeyUnavailable",
    "KeyringFingerprint",
    "KeyringMismatch",
    "MaskKind",
    "Resource",
    "RoleBasedPolicy",
    "Scope",
    "ScopedPolicy",
    "StaticKeyProvider",
    "decrypt_field",
    "decrypt_json",
    "encrypt_field",
    "encrypt_json",
    "generate_key_file",
    "mask",
    "mask_address",
    "mask_custom",
    "mask_record",
    "require",
    "rotate_key_file",
]
