"""geth V3 keystore and the official worker's ECDH key file (spec/toolkit.md §5)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from tray_agent.common.errors import CorruptKeystoreError, WrongPasswordError

REAL_SCRYPT_N = 262144
ECDH_SCRYPT_N = 32768


def encrypt_keystore(private_key: bytes, password: str, scrypt_n: int = REAL_SCRYPT_N) -> dict[str, Any]:
    """geth V3 JSON (scrypt, aes-128-ctr, keccak MAC) with the lower-case ``address`` field."""
    from eth_account import Account

    data = Account.encrypt(private_key, password, kdf="scrypt", iterations=scrypt_n)
    if "address" not in data:
        data["address"] = Account.from_key(private_key).address[2:].lower()
    data["address"] = data["address"].lower().removeprefix("0x")
    return dict(data)


def keystore_address(data: dict[str, Any]) -> str:
    """Checksummed address from a keystore's ``address`` field."""
    from eth_utils import to_checksum_address

    addr = data.get("address")
    if not isinstance(addr, str) or len(addr.removeprefix("0x")) != 40:
        raise CorruptKeystoreError(
            "the keystore has no valid 'address' field",
            fix="import the original keystore file again or restore it from a backup",
        )
    return to_checksum_address("0x" + addr.removeprefix("0x"))


def parse_keystore(text: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptKeystoreError("the keystore file is not valid JSON", fix="restore it from a backup") from e
    if not isinstance(data, dict) or "crypto" not in {k.lower() for k in data} or data.get("version") != 3:
        raise CorruptKeystoreError(
            "the file is not a version 3 keystore (no 'crypto' section)",
            fix="choose the keystore JSON file (UTC--… or keystore.json)",
        )
    return data


def decrypt_keystore(data: dict[str, Any], password: str) -> bytes:
    """Return the 32-byte private key; wrong password and damaged files raise distinct errors."""
    from eth_account import Account

    try:
        return bytes(Account.decrypt(data, password))
    except ValueError as e:
        if "MAC mismatch" in str(e):
            raise WrongPasswordError(
                "the password does not open this keystore",
                fix="type the password again (it is case-sensitive)",
            ) from None
        raise CorruptKeystoreError("the keystore is damaged and cannot be decrypted", fix="restore it from a backup") from None
    except (KeyError, TypeError) as e:
        raise CorruptKeystoreError(f"the keystore is missing field {e}", fix="restore it from a backup") from None


# --- ECDH (P-256) encryption key file ------------------------------------------------------------


def _file_key(password: str, salt: bytes, n: int = ECDH_SCRYPT_N) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(password.encode())


def create_ecdh_file(password: str) -> tuple[dict[str, Any], bytes]:
    """New P-256 key: returns (file JSON, 65-byte uncompressed public key 0x04‖X‖Y)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return encrypt_ecdh_scalar(scalar, password), ecdh_public_key(scalar)


def encrypt_ecdh_scalar(scalar: bytes, password: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt = os.urandom(16)
    nonce = os.urandom(12)
    ct = AESGCM(_file_key(password, salt)).encrypt(nonce, scalar, None)
    return {"version": 1, "salt": base64.b64encode(salt).decode(), "encryptedKey": base64.b64encode(nonce + ct).decode()}


def decrypt_ecdh_file(data: dict[str, Any], password: str) -> bytes:
    """Return the raw 32-byte P-256 scalar."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        salt = base64.b64decode(data["salt"])
        blob = base64.b64decode(data["encryptedKey"])
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptKeystoreError("the encryption key file is damaged", fix="restore encryption.key from a backup") from e
    try:
        return AESGCM(_file_key(password, salt)).decrypt(blob[:12], blob[12:], None)
    except InvalidTag:
        raise WrongPasswordError(
            "the password does not open the encryption key file",
            fix="the keystore and encryption.key must share one password; restore the matching pair",
        ) from None


def ecdh_public_key(scalar: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
