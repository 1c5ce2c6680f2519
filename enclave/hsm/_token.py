"""The only module that calls ``python-pkcs11``: sessions, the wrapping key, wrap and unwrap.

Every PKCS#11 error becomes a :class:`~enclave.errors.CustodyError` naming the
step it happened in (``hsm.module``, ``hsm.token``, ``hsm.login``,
``hsm.key``, ``hsm.keygen``, ``dek.wrap``, ``dek.unwrap``). The calls block,
so callers run them in a thread.

The module is initialised for one operation and finalised after it: custody
needs the HSM only at start-up, no session is left open, and a token created
since the last operation is seen by the next.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, Final

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, TokenFlag
from pkcs11.exceptions import (
    MultipleTokensReturned,
    NoSuchToken,
    PinExpired,
    PinIncorrect,
    PinLocked,
    PKCS11Error,
    UserPinNotInitialized,
)

from enclave._fingerprint import DEK_BYTES
from enclave.errors import CustodyError
from enclave.hsm._target import HsmTarget

WRAP_MECHANISM: Final = Mechanism.AES_KEY_WRAP_PAD
KEK_BITS: Final = 256
TOKEN_LOOKUPS: Final = 5
"""Attempts to find the token before failing closed, 0.2 s apart: a file-backed token
(SoftHSM) that another worker is opening at the same moment can read as absent."""


def _why(exc: PKCS11Error) -> str:
    # PKCS#11 errors carry a return-value class and at most a library message; no secrets.
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def _step(step: str, what: str) -> Iterator[None]:
    """Turn a PKCS#11 error inside the block into a CustodyError at ``step``."""
    try:
        yield
    except PKCS11Error as exc:
        raise CustodyError(step, f"{what} ({_why(exc)})") from exc


class OpenToken:
    """A logged-in session on the token, with the wrapping key found and checked."""

    def __init__(self, target: HsmTarget, session: Any, kek: Any) -> None:
        self._target = target
        self._session = session
        self._kek = kek

    def wrap(self, dek: bytes) -> bytes:
        """Wrap ``dek`` with the token's key. Raises CustodyError (``dek.wrap``)."""
        if len(dek) != DEK_BYTES:
            raise CustodyError("dek.wrap", f"a DEK is {DEK_BYTES} bytes, got {len(dek)}")
        with _step("dek.wrap", f"the HSM could not wrap the DEK with {self._target.key_label!r}"):
            # C_WrapKey wraps key objects: the DEK enters the token as a
            # session object (gone when the session closes) and is destroyed
            # as soon as it is wrapped.
            plain = self._session.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.AES,
                    Attribute.VALUE: dek,
                    Attribute.TOKEN: False,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: False,
                    Attribute.EXTRACTABLE: True,
                }
            )
            try:
                wrapped: bytes = self._kek.wrap_key(plain, mechanism=WRAP_MECHANISM)
            finally:
                plain.destroy()
        return wrapped

    def unwrap(self, wrapped: bytes) -> bytes:
        """Unwrap ``wrapped`` inside the token and return the DEK. Raises CustodyError."""
        with _step(
            "dek.unwrap",
            f"the HSM key {self._target.key_label!r} cannot open the stored DEK (another key "
            "wrapped it, or the record was altered)",
        ):
            # PKCS#11 reveals CKA_VALUE only of a key that is neither sensitive
            # nor unextractable; it is a session object, destroyed once read.
            plain = self._kek.unwrap_key(
                ObjectClass.SECRET_KEY,
                KeyType.AES,
                wrapped,
                mechanism=WRAP_MECHANISM,
                capabilities=MechanismFlag(0),
                template={
                    Attribute.TOKEN: False,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: False,
                    Attribute.EXTRACTABLE: True,
                },
            )
        try:
            with _step("dek.unwrap", "the HSM unwrapped the DEK but will not reveal it"):
                dek: bytes = bytes(plain[Attribute.VALUE])
        finally:
            with contextlib.suppress(PKCS11Error):
                plain.destroy()
        return dek


def _load(target: HsmTarget) -> Any:
    with _step("hsm.module", f"cannot load the PKCS#11 module {target.module}"):
        return pkcs11.lib(str(target.module))


def _token(lib: Any, target: HsmTarget) -> Any:
    step = "hsm.token"
    attempt = 0
    while True:
        attempt += 1
        try:
            return lib.get_token(token_label=target.token_label)
        except NoSuchToken:
            if attempt < TOKEN_LOOKUPS:
                time.sleep(0.2)
                continue
            with _step(step, "cannot list the module's tokens"):
                labels = sorted(t.label for t in lib.get_tokens())
            present = ", ".join(repr(label) for label in labels) or "none"
            raise CustodyError(
                step,
                f"no token labelled {target.token_label!r} in {target.module} (present: {present}); "
                "check TAP_PKCS11_TOKEN_LABEL and that the HSM is connected",
            ) from None
        except MultipleTokensReturned:
            raise CustodyError(
                step, f"several tokens are labelled {target.token_label!r}; labels must be unique"
            ) from None
        except PKCS11Error as exc:
            raise CustodyError(step, f"cannot read the module's tokens ({_why(exc)})") from exc


def _login(token: Any, target: HsmTarget, *, rw: bool) -> Any:
    step = "hsm.login"
    pin = target.read_pin()
    try:
        return token.open(rw=rw, user_pin=pin)
    except PinIncorrect:
        raise CustodyError(
            step,
            f"token {target.token_label!r} refused the PIN in TAP_PKCS11_PIN_FILE (PIN incorrect"
            f"{_pin_warning(token)}); fix the file before restarting: every wrong attempt counts "
            "toward locking the PIN",
        ) from None
    except PinLocked:
        raise CustodyError(
            step,
            f"the user PIN of token {target.token_label!r} is locked; the security officer "
            "must reset it",
        ) from None
    except (PinExpired, UserPinNotInitialized) as exc:
        raise CustodyError(
            step, f"token {target.token_label!r} has no usable user PIN ({_why(exc)})"
        ) from exc
    except PKCS11Error as exc:
        raise CustodyError(
            step, f"cannot log in to token {target.token_label!r} ({_why(exc)})"
        ) from exc
    finally:
        del pin


def _pin_warning(token: Any) -> str:
    """What the token says about its PIN counter after a failed login, if anything."""
    try:
        flags = TokenFlag(token.slot.get_token().flags)
    except (PKCS11Error, ValueError):
        return ""
    if TokenFlag.USER_PIN_FINAL_TRY in flags:
        return "; the token says the next wrong PIN locks it"
    if TokenFlag.USER_PIN_COUNT_LOW in flags:
        return "; the token reports failed PIN attempts"
    return ""


def _keys_labelled(session: Any, label: str) -> list[Any]:
    with _step("hsm.key", f"cannot search the token for {label!r}"):
        return list(
            session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label})
        )


def _check_kek(kek: Any, target: HsmTarget) -> None:
    """Refuse a wrapping key that could leave the token or cannot do the job."""
    label = target.key_label
    with _step("hsm.key", f"cannot read the attributes of {label!r}"):
        key_type = kek[Attribute.KEY_TYPE]
        bits = int(kek[Attribute.VALUE_LEN]) * 8 if key_type == KeyType.AES else 0
        sensitive = bool(kek[Attribute.SENSITIVE])
        extractable = bool(kek[Attribute.EXTRACTABLE])
        can_wrap = bool(kek[Attribute.WRAP]) and bool(kek[Attribute.UNWRAP])
    if key_type != KeyType.AES:
        raise CustodyError("hsm.key", f"the key {label!r} is not an AES key")
    if bits < KEK_BITS:
        raise CustodyError("hsm.key", f"the key {label!r} is {bits} bits; at least {KEK_BITS}")
    if not sensitive or extractable:
        raise CustodyError(
            "hsm.key",
            f"the key {label!r} can leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE "
            "true); a wrapping key must be sensitive and not extractable",
        )
    if not can_wrap:
        raise CustodyError("hsm.key", f"the key {label!r} is not allowed to wrap and unwrap keys")


@contextlib.contextmanager
def _session(target: HsmTarget, *, rw: bool) -> Iterator[Any]:
    """Load the module, log in to the token; close and finalise whatever happens."""
    lib = _load(target)
    try:
        session = _login(_token(lib, target), target, rw=rw)
        try:
            yield session
        finally:
            with contextlib.suppress(PKCS11Error):
                session.close()
    finally:
        with contextlib.suppress(PKCS11Error):
            lib.finalize()


@contextlib.contextmanager
def open_token(target: HsmTarget) -> Iterator[OpenToken]:
    """Log in and find the wrapping key. Raises CustodyError naming the step that failed."""
    with _session(target, rw=False) as session:
        found = _keys_labelled(session, target.key_label)
        if not found:
            raise CustodyError(
                "hsm.key",
                f"token {target.token_label!r} holds no secret key labelled "
                f"{target.key_label!r}; check TAP_PKCS11_KEY_LABEL, or create the key with "
                "`tap enclave hsm-init`",
            )
        if len(found) > 1:
            raise CustodyError(
                "hsm.key",
                f"token {target.token_label!r} holds {len(found)} keys labelled "
                f"{target.key_label!r}; the label must name one key",
            )
        _check_kek(found[0], target)
        yield OpenToken(target, session, found[0])


def create_wrapping_key(target: HsmTarget) -> None:
    """Generate the AES-256 wrapping key in the token: sensitive, never extractable.

    Refuses when a key with the label exists. Raises CustodyError (``hsm.keygen``).
    """
    with _session(target, rw=True) as session:
        if _keys_labelled(session, target.key_label):
            raise CustodyError(
                "hsm.keygen",
                f"token {target.token_label!r} already holds a key labelled "
                f"{target.key_label!r}; nothing was created",
            )
        with _step("hsm.keygen", f"the HSM could not generate {target.key_label!r}"):
            kek = session.generate_key(
                KeyType.AES,
                KEK_BITS,
                label=target.key_label,
                store=True,
                capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                },
            )
        _check_kek(kek, target)
