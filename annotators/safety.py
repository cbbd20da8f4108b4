"""PII detection and redaction: emails, phone numbers, IP addresses, payment cards and IBANs.

Precision first: a candidate a regex finds must also pass a check before it counts. Cards pass Luhn and an
issuer prefix, IBANs their country's length and the ISO 7064 mod-97 check, IPv6 addresses Python's parser,
phone numbers a digit count and a shape (international ``+CC`` form, North American ``(555) 123-4567``,
European trunk-prefix ``0…`` groups, or any digits after a ``Tel:``/``Phone:`` cue) that dates, years, prices,
ISBNs and version numbers do not have. Spans found earlier in `KINDS` order win over overlapping later ones
(an IBAN's digits are not also a phone number).

Redaction replaces each span with a placeholder (``<EMAIL>``, ``<PHONE>``, ...) and records in meta only the
kinds and counts, never the values.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotators.base import META, NOTES, TEXT, Annotator

KINDS = ("email", "iban", "card", "ipv6", "ipv4", "phone")
PLACEHOLDERS = {kind: f"<{kind.upper()}>" for kind in KINDS} | {"ipv4": "<IP>", "ipv6": "<IP>"}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![\w-])")
# "logo@2x.png" is a file name, not an address
_FILE_TLDS = frozenset(
    ["png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "css", "js", "json", "pdf", "mp4", "webm"]
)

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
# SWIFT's registry lengths for the countries most often seen; others are accepted at 15-34 characters
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GI": 23,
    "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "KW": 30, "KZ": 20,
    "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "ME": 22, "MK": 19, "MT": 31, "MU": 30,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29,
}  # fmt: skip

# 13-19 digits, ungrouped or in groups of 4 (Amex 4-6-5) separated by one space or hyphen
_CARD = re.compile(
    r"(?<![\d.,-])(?:\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?|\d{4}[ -]\d{6}[ -]\d{5})(?![\d.,-]\d)"
)
# issuer prefixes and the lengths their numbers have: Visa, Mastercard, Amex, Discover, JCB, Diners
_CARD_BRANDS = (
    (re.compile(r"4"), (13, 16, 19)),
    (re.compile(r"5[1-5]|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)"), (16,)),
    (re.compile(r"3[47]"), (15,)),
    (re.compile(r"6(?:011|5|4[4-9])"), (16, 17, 18, 19)),
    (re.compile(r"35(?:2[89]|[3-8]\d)"), (16, 17, 18, 19)),
    (re.compile(r"3(?:0[0-5]|[689])"), (14, 15, 16, 17, 18, 19)),
)

_IPV4 = re.compile(
    r"(?<![\w.:-])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w-]|\.\d)"
)
# "version 1.2.3.4", "v10.0.0.1": dotted versions look like addresses
_VERSION_CUE = re.compile(r"\b(?:v|version|ver\.?|release|build|rev\.?|firmware|update)\s*$", re.IGNORECASE)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")

_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?![\w])")
_PHONE_NANP = re.compile(
    r"(?<![\w.+-])(?:\+?1[ .-])?(?:\(\d{3}\) ?|\d{3}([ .-]))\d{3}(?(1)\1|[ .-])\d{4}(?![\w]|[.-]\d)"
)
_PHONE_TRUNK = re.compile(
    r"(?<![\w.+/-])(?<!\d )0\d{1,4}(?:[ /-]\d{2,4}){2,4}(?![\w]|[./-]\d| \d)"
    r"|(?<![\w.+/-])(?<!\d )0\d(?:[ .]\d\d){4}(?![\w]|\.\d| \d)"
)
_PHONE_CUE = re.compile(
    r"(?:\b(?:tel|phone|telephone|fax|mobile|mob|cell|telefon|téléphone|tél|móvil|teléfono|telefono)\.?\s*(?:no\.?|number)?\s*[:.]?\s*)"
    r"(\+?\(?\d[\d ()/.-]{5,22}\d)",
    re.IGNORECASE,
)
_DATE = re.compile(r"^(?:\d{4}[-/. ]\d{1,2}[-/. ]\d{1,2}|\d{1,2}[-/. ]\d{1,2}[-/. ]\d{2,4})$")


@dataclass(frozen=True, slots=True)
class Span:
    kind: str
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    expected = _IBAN_LENGTHS.get(iban[:2])
    if (expected is not None and len(iban) != expected) or not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _card_ok(candidate: str) -> bool:
    digits = _digits(candidate)
    if not any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _CARD_BRANDS):
        return False
    return len(set(digits)) > 1 and luhn_ok(digits)


def _ipv6_ok(candidate: str) -> bool:
    if "::" not in candidate and candidate.count(":") != 7:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    groups = [g for g in candidate.split(":") if g]
    # "a::b" in code and "::" alone parse as addresses; real ones have at least 3 groups or a long group
    return len(groups) >= 3 or any(len(g) == 4 for g in groups)


def _phone_ok(candidate: str) -> bool:
    digits = _digits(candidate)
    return 7 <= len(digits) <= 15 and not _DATE.match(candidate.strip()) and len(set(digits)) > 2


def _snap(text: str, lo: int, hi: int) -> tuple[int, int]:
    """Widen [lo, hi) to whitespace (or the text's ends), so look-arounds see what they would in the full text."""
    lo, hi = max(0, lo), min(len(text), hi)
    while lo > 0 and not text[lo - 1].isspace():
        lo -= 1
    while hi < len(text) and not text[hi].isspace():
        hi += 1
    return lo, hi


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _digit_windows(text: str) -> list[tuple[int, int]]:
    """Stretches around clusters of at least 4 digits (every pattern but email needs that many), with room for
    a ``Tel:`` cue or an IBAN's letters; the regexes then scan a few hundred characters instead of the page."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    digits = np.flatnonzero((cps - 48) < 10)  # unsigned: code points below "0" wrap around
    if digits.size < 4:
        return []
    breaks = np.flatnonzero(np.diff(digits) > 8)
    firsts = np.r_[digits[0], digits[breaks + 1]]
    lasts = np.r_[digits[breaks], digits[-1]]
    sizes = np.diff(np.r_[0, breaks + 1, digits.size])
    return _merge(
        [_snap(text, int(a) - 40, int(b) + 12) for a, b, k in zip(firsts, lasts, sizes, strict=True) if k >= 4]
    )


def find_pii(text: str) -> list[Span]:
    """Every PII span, in text order; each character belongs to at most one span."""
    found: list[Span] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int) -> None:
        if any(start < e and s < end for s, e in taken):
            return
        taken.append((start, end))
        found.append(Span(kind, start, end))

    def scan(pattern: re.Pattern, windows: list[tuple[int, int]], group: int = 0):
        for lo, hi in windows:
            for m in pattern.finditer(text, lo, hi):
                yield m.group(group), m.start(group), m.end(group)

    at = text.find("@")
    if at >= 0:
        windows = []
        while at >= 0:
            windows.append(_snap(text, at - 1, at + 2))
            at = text.find("@", at + 1)
        for value, start, end in scan(_EMAIL, _merge(windows)):
            if value.rsplit(".", 1)[-1].lower() not in _FILE_TLDS:
                add("email", start, end)
    windows = _digit_windows(text)
    if not windows:
        return sorted(found, key=lambda s: s.start)
    for value, start, end in scan(_IBAN, windows):
        if iban_ok(value):
            add("iban", start, end)
    for value, start, end in scan(_CARD, windows):
        if _card_ok(value):
            add("card", start, end)
    for value, start, end in scan(_IPV6, windows):
        if _ipv6_ok(value):
            add("ipv6", start, end)
    for _value, start, end in scan(_IPV4, windows):
        if not _VERSION_CUE.search(text[max(0, start - 12) : start]):
            add("ipv4", start, end)
    for value, start, end in scan(_PHONE_CUE, windows, group=1):
        if _phone_ok(value):
            add("phone", start, end)
    for pattern in (_PHONE_INTL, _PHONE_NANP, _PHONE_TRUNK):
        for value, start, end in scan(pattern, windows):
            if _phone_ok(value):
                add("phone", start, end)
    return sorted(found, key=lambda s: s.start)


def redact(text: str, spans: list[Span]) -> str:
    """``text`` with every span replaced by its kind's placeholder."""
    out, pos = [], 0
    for span in sorted(spans, key=lambda s: s.start):
        out.append(text[pos : span.start])
        out.append(PLACEHOLDERS[span.kind])
        pos = span.end
    out.append(text[pos:])
    return "".join(out)


def _counts(spans: list[Span]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for span in spans:
        counts[span.kind] = counts.get(span.kind, 0) + 1
    return counts


class PiiAnnotator(Annotator):
    """Writes ``pii`` (sorted kinds, comma-separated, "" when none) and ``pii.<kind>`` counts in meta.

    With ``redact``, `label` also gives the text with placeholders and the meta entry ``pii_redacted``
    (``email:2,phone:1``); the label stage writes it back after the other heads have read the original.
    """

    name = "pii"
    version = "regex-1"
    columns = ("pii",)

    def __init__(self, kinds: tuple[str, ...] | list[str] = KINDS, redact: bool = False):
        super().__init__()
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown PII kinds {unknown}; choose from {', '.join(KINDS)}")
        self.kinds = frozenset(kinds)
        self.redact = redact

    def spans(self, text: str) -> list[Span]:
        return [s for s in find_pii(text) if s.kind in self.kinds]

    def label(self, text: str) -> tuple[str, dict[str, str], str]:
        """(``pii`` value, meta entries, text): one scan; the text comes back redacted when ``redact`` is on."""
        spans = self.spans(text)
        if not spans:
            return "", {}, text
        counts = _counts(spans)
        meta = {f"pii.{kind}": str(n) for kind, n in sorted(counts.items())}
        if self.redact:
            meta["pii_redacted"] = ",".join(f"{kind}:{n}" for kind, n in sorted(counts.items()))
            text = redact(text, spans)
        return ",".join(sorted(counts)), meta, text

    def annotate(self, texts: list[str]) -> dict[str, list[Any]]:
        """``pii`` and its meta counts; with ``redact``, the redacted text (None: unchanged) and its note."""
        kinds, metas, rewritten, notes = [], [], [], []
        for text in texts:
            kind, meta, redacted = self.label(text)
            kinds.append(kind)
            metas.append(meta)
            changed = redacted is not text
            rewritten.append(redacted if changed else None)
            notes.append(["pii_redacted"] if changed else [])
        return {"pii": kinds, META: metas, TEXT: rewritten, NOTES: notes}
