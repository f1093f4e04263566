"""Personal data in the audit log: masked for reading, optionally sealed for re-sending.

The audit payload keeps personal-data values as a keyed fingerprint (`masked:<hex>`): reviewers can
check "did we send this email?" without the log holding the email. A fingerprint cannot be turned
back into the value, so a replay could only send the mask, which would overwrite the person's real
traits in Segment. When `AUDIT_ENCRYPTION_KEY` is set, the original values are also kept encrypted
(Fernet: AES-128-CBC + HMAC-SHA256) in a column of their own, which only `replay` opens. Without
a key, entries whose payload holds masks are skipped by replay with that reason.

The setting takes one key or several separated by commas: the first encrypts, all decrypt, so a key
can be rotated without losing what older keys sealed.

Personal data may sit inside a property (a nested model's field, the items of a list): it is named by
its path, as `analytics.nested` spells it (`payment_method.cardholder_name`, `line_items.email`), and
masked where it is. The sealed copy holds the whole top-level property that a mask went into, so that
putting it back is one replacement per property, at any depth.

A host's own Segment `context` (`context=`: `ip`, `userAgent`, …) is masked the same way, its paths
relative to the context (`ip`, `traits.email`): its masked top-level keys are sealed beside the
properties (`PersonalDataCipher.seal`), so replay restores both and an erasure clears both.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from analytics.nested import ANY_KEY

MASK_PREFIX = "masked:"
CONTEXT_SECTION = "context"
"""Where a message keeps the host's Segment context, masked apart from the properties (traits)."""
_MASK = re.compile(r"masked:[0-9a-f]{16}")


_PERSONAL_NAME = re.compile(
    r"e_?mail|phone|(^|_)(first|last|full|display|given|family|user)_?name($|_)|(^|_)ip_address($|_)"
)
"""The English names of personal data, matched in a key's `spelled` form."""

_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# `E-Mail` (German), `e.mail`, `first name`: a hyphen, a dot or a space separates words as `_` does.
_SEPARATORS = re.compile(r"[\s.\-]+")

# Scripts written without spaces between words, by how Unicode names their letters: Chinese and
# Japanese (kanji, kana, the long-vowel mark ー), Thai, Lao, Khmer, Burmese.
_UNSPACED_SCRIPTS = (
    "CJK UNIFIED IDEOGRAPH",
    "CJK COMPATIBILITY IDEOGRAPH",
    "HIRAGANA",
    "KATAKANA",
    "HALFWIDTH KATAKANA",
    "THAI",
    "LAO",
    "KHMER",
    "MYANMAR",
)

# The letters (`_` not counted) from which a team's name is found anywhere in a key: `ort`, `plz`, `tel`
# sit inside many unrelated words (`sort_order`, `hotel_id`), `telefon` or `adresse` inside few.
_ANYWHERE_FROM = 4

_extra_names: re.Pattern[str] | None = None
"""The names `use_personal_keys` added, as one pattern (`_extra_name_pattern`)."""

_NAMES_REMEMBERED = 4096
"""How many keys `looks_personal` remembers its answer for: a payload's keys repeat from send to send,
while a free-form value keyed by ids (`{"4711": …}`) must not grow the memory without end."""


def spelled(name: str) -> str:
    """A key as names are matched: snake_case for camelCase (`payerEmail` is `payer_email`), `_` for
    a hyphen, dot or space, composed (NFC) and case-folded, in any script."""
    snake = _CAMEL_HUMP.sub("_", unicodedata.normalize("NFC", name))
    return unicodedata.normalize("NFC", _SEPARATORS.sub("_", snake.casefold()))


def parse_personal_keys(raw: str) -> frozenset[str]:
    """`AUDIT_PERSONAL_KEYS`: extra names of personal data, comma-separated (`vorname, 名前`).

    Raises:
        ValueError: it names none.
    """
    names = frozenset(spelled(part.strip()) for part in raw.split(",") if part.strip())
    if not names:
        raise ValueError("names no key: list key names separated by commas, e.g. vorname,telefon,名前")
    return names


def use_personal_keys(names: str | Iterable[str]) -> None:
    """Make `looks_personal` also recognise `names` (`AUDIT_PERSONAL_KEYS`, parsed or as its text) in
    this process; an empty one forgets those given before.

    The library's `init()` and the dashboard's `create_app()` call it with the setting they read, so
    that the tester masks, lint flags and the audit search treats as personal data the same keys.
    """
    global _extra_names
    if isinstance(names, str):
        names = names.split(",")
    spelt = sorted({spelled(name.strip()) for name in names if name.strip()})
    _extra_names = re.compile("|".join(map(_extra_name_pattern, spelt))) if spelt else None
    looks_personal.cache_clear()


def _extra_name_pattern(name: str) -> str:
    """Where a team's name of personal data is found in a key (both as `spelled` writes them).

    A name of `_ANYWHERE_FROM` letters or more is found anywhere in the key, as the English `phone`
    and `email` are: German and Dutch write compounds without a separator, so `telefon` must find
    `mobiltelefon` and `adresse` `lieferadresse`, and a missed key is stored in clear. A shorter one is
    a whole `_`-separated word of the key or the start of one, as inside a word it is mostly part of
    another: `ort` finds `wohn_ort` and `ortsteil` but leaves `sort_order` and `report_id` alone, `tel`
    finds `tel_mobile` (and `telemetry`) but not `hotel_id`. A name holding a letter of a script
    written without spaces between words (`_UNSPACED_SCRIPTS`) is found anywhere, as a word there has
    no mark where it starts (`名前` in `顧客名前`).
    """
    if len(name.replace("_", "")) >= _ANYWHERE_FROM or any(
        unicodedata.name(char, "").startswith(_UNSPACED_SCRIPTS) for char in name
    ):
        return re.escape(name)
    return f"(?:^|_){re.escape(name)}"


@functools.lru_cache(maxsize=_NAMES_REMEMBERED)
def looks_personal(name: str) -> bool:
    """Whether a property's name says it holds personal data (an email, a phone, a person's name, or
    one of the names `AUDIT_PERSONAL_KEYS` adds: `mobiltelefon` and `kunden_telefon` with `telefon`,
    `wohn_ort` but not `sort_order` with `ort`; see `_extra_name_pattern`).

    Lint asks it of every declared property, so that none is left unmarked; the tester asks it of
    off-schema properties, which no spec marks, so that they are masked all the same. A camelCase
    name is read as its snake_case spelling (`payerEmail`, `firstName`): lint reports the case too
    (EC006), but not instead of the personal data.

    Every send asks it of the keys of its free-form values, so answers are remembered per key (until
    `use_personal_keys` changes the names).
    """
    key = spelled(name)
    return _PERSONAL_NAME.search(key) is not None or (
        _extra_names is not None and _extra_names.search(key) is not None
    )


def mask_value(value: Any, key: bytes) -> str:
    """A keyed fingerprint of a personal value: not reversible, yet the same value masks the same.

    That lets a reviewer check "did we send this email?" by masking the email they have.
    """
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:16]
    return f"{MASK_PREFIX}{digest}"


def is_mask(value: Any) -> bool:
    """Whether `value` is a mask (`mask_value`'s form) rather than a value itself."""
    return isinstance(value, str) and _MASK.fullmatch(value) is not None


def masked_keys(values: Mapping[str, Any]) -> list[str]:
    """The paths of the values that are masks rather than the values themselves, at any depth."""
    return sorted({path for key, value in values.items() for path in _masks_in(value, key)})


def masked_in_message(payload: Mapping[str, Any]) -> list[str]:
    """The masks a stored message holds: its properties' (traits') paths, then the context's, as
    `context.ip`, so that a masked context value blocks a replay as a masked property does."""
    context = payload.get(CONTEXT_SECTION)
    in_context = masked_keys(context) if isinstance(context, Mapping) else []
    own = masked_keys(payload.get(personal_section(payload)) or {})
    return own + [f"{CONTEXT_SECTION}.{path}" for path in in_context]


def masked_originals(message: Mapping[str, Any], stored: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The top-level values of a message's section that its stored form masked (inside), as sent."""
    values, kept = message.get(section) or {}, stored.get(section) or {}
    return {key: value for key, value in values.items() if kept.get(key) != value}


def _masks_in(value: Any, path: str) -> Iterator[str]:
    if is_mask(value):
        yield path
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _masks_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            yield from _masks_in(item, path)


def _below(key: str, paths: Iterable[str]) -> tuple[bool, list[str]]:
    """Whether `key` is itself one of `paths`, and what is left of those that go on below it.

    Paths are matched by the keys' text rather than split at their dots, so that a key holding a dot
    (an off-schema `"contact.email"`) is found as well; an ambiguous path masks both readings.
    """
    whole = False
    below: list[str] = []
    for path in paths:
        for step in (key, ANY_KEY):
            if path == step:
                whole = True
            elif path.startswith(f"{step}."):
                below.append(path[len(step) + 1 :])
    return whole, below


def mask_paths(
    values: Mapping[str, Any], paths: Collection[str], mask: Callable[[Any], str]
) -> dict[str, Any]:
    """A copy of `values` with the value at each of `paths` replaced by `mask(value)`, at any depth.

    A list's items are each masked at the rest of the path. `values` itself is left as it is: the
    message is sent as built once the audit log has its masked copy.
    """
    masked = {}
    for key, value in values.items():
        whole, below = _below(key, paths)
        masked[key] = mask(value) if whole else _mask_within(value, below, mask) if below else value
    return masked


def _mask_within(value: Any, paths: list[str], mask: Callable[[Any], str]) -> Any:
    if isinstance(value, Mapping):
        return mask_paths(value, paths, mask)
    if isinstance(value, list):
        return [_mask_within(item, paths, mask) for item in value]
    return value


def reaches(key: str, paths: Collection[str]) -> bool:
    """Whether a top-level key is one of `paths` or holds a value that one of them names."""
    whole, below = _below(key, paths)
    return whole or bool(below)


def covers(paths: Collection[str], location: Sequence[str | int]) -> bool:
    """Whether a value's location (keys and list indices from the top, as pydantic's error `loc`) is
    at or below one of `paths`."""
    rest = list(paths)
    for step in location:
        if isinstance(step, int):
            continue
        whole, rest = _below(step, rest)
        if whole:
            return True
    return False


class SealError(Exception):
    """Sealed personal data cannot be opened with the configured keys."""


class PersonalDataCipher:
    """Seals and opens the original personal-data values of an entry.

    Args:
        setting: `AUDIT_ENCRYPTION_KEY`: one Fernet key, or several separated by commas (the first
            encrypts). Generate one with
            `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.

    Raises:
        ValueError: a key is not a Fernet key, naming the setting.
    """

    def __init__(self, setting: str) -> None:
        keys = [part.strip() for part in setting.split(",") if part.strip()]
        if not keys:
            raise ValueError("AUDIT_ENCRYPTION_KEY: holds no key")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError:
            raise ValueError(
                "AUDIT_ENCRYPTION_KEY: not Fernet keys (32 url-safe base64-encoded bytes each), "
                "separated by commas"
            ) from None

    @classmethod
    def from_setting(cls, setting: str | None) -> PersonalDataCipher | None:
        """A cipher for the setting, or None when it is unset or empty."""
        return cls(setting) if setting and setting.strip() else None

    def seal(self, values: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> str:
        """Encrypt personal-data values (JSON) into one token: the properties' (traits'), and the host
        context's when it has any.

        Without context values the token holds the values' object, as it did before the context was
        masked, so that entries written either way open alike; with them, a two-item array (an array
        cannot be confused with the object, whatever keys a property has).
        """
        sealed: Any = [dict(values), dict(context)] if context else dict(values)
        return self._fernet.encrypt(json.dumps(sealed, sort_keys=True).encode()).decode()

    def open(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Decrypt what `seal` produced: the properties' (traits') values and the context's.

        Raises:
            SealError: none of the configured keys opens it.
        """
        if not isinstance(token, str):
            # Only a hand-edited SQLite cell holds anything else (its columns take any type).
            raise SealError("what is stored is not a sealed token: it was changed after it was written")
        try:
            values: Any = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SealError("none of the AUDIT_ENCRYPTION_KEY keys opens it (was the key changed?)") from None
        if isinstance(values, list):
            return values[0], values[1]
        return values, {}


# As for HMAC in `analytics.chain`: cryptography's OpenSSL sets its cipher up on the first
# encryption, under a lock that a process forked during it (the audit writer sealing its first
# batch) would inherit held. The first encryption is made here, before the library starts a thread.
Fernet(Fernet.generate_key()).encrypt(b"")


def personal_section(payload: Mapping[str, Any]) -> str:
    """Where a message keeps its personal data: a track's `properties`, anything else's `traits`."""
    return "properties" if payload.get("type") == "track" else "traits"


def unmask(payload: Mapping[str, Any], sealed: str, cipher: PersonalDataCipher) -> dict[str, Any]:
    """A copy of a stored payload with the sealed original values put back in place of their masks.

    Replay uses it to re-send what was sent; the audit pages use it to show engineers what was sent.

    Raises:
        SealError: the configured keys do not open `sealed`.
    """
    message = copy.deepcopy(dict(payload))
    section = personal_section(message)
    values, context = cipher.open(sealed)
    message[section] = {**(message.get(section) or {}), **values}
    if context:
        message[CONTEXT_SECTION] = {**(message.get(CONTEXT_SECTION) or {}), **context}
    return message
