import pytest

from annotators.safety import PiiAnnotator, find_pii, iban_ok, luhn_ok


def kinds(text):
    return [(s.kind, text[s.start : s.end]) for s in find_pii(text)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("write to john.doe+news@example.co.uk today", "email", "john.doe+news@example.co.uk"),
        ("call +44 20 7946 0958 now", "phone", "+44 20 7946 0958"),
        ("call +1 (415) 555-2671", "phone", "+1 (415) 555-2671"),
        ("office (555) 123-4567.", "phone", "(555) 123-4567"),
        ("office 555-123-4567", "phone", "555-123-4567"),
        ("appelez le 01 23 45 67 89", "phone", "01 23 45 67 89"),
        ("Tel: 030 1234567", "phone", "030 1234567"),
        ("host 192.168.1.20 is down", "ipv4", "192.168.1.20"),
        ("host 2001:db8:85a3::8a2e:370:7334 is up", "ipv6", "2001:db8:85a3::8a2e:370:7334"),
        ("link-local fe80::1ff:fe23:4567:890a", "ipv6", "fe80::1ff:fe23:4567:890a"),
        ("card 4111 1111 1111 1111 exp", "card", "4111 1111 1111 1111"),
        ("amex 378282246310005", "card", "378282246310005"),
        ("mc 5555-5555-5555-4444", "card", "5555-5555-5555-4444"),
        ("IBAN DE89 3704 0044 0532 0130 00", "iban", "DE89 3704 0044 0532 0130 00"),
        ("IBAN GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
    ],
)
def test_positives(text, kind, value):
    assert kinds(text) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "Version 1.2.3.4 was released, then v10.0.0.1 and build 2.0.0.15",
        "Python 3.11.4 and numpy 2.1.0",
        "on 2023-01-15, 15.01.2023, 01/15/2023 and 2019-2020",
        "between 1990-1995-2000 and in 1999 2000 2001",
        "price $1,234.56 or 12 345,00 € or 1.000.000 people",
        "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2 and 9783161484100",
        "order 4111 1111 1111 1112 and random 1234567890123456",
        "IBAN DE89 3704 0044 0532 0130 01 and GB82WEST12345698765433",
        "at 12:30:45, std::vector, a::b and MAC 00:1A:2B:3C:4D:5E",
        "logo@2x.png and icon@3x.jpg",
        "pi 3.14159265358979 and coordinates 48.8566, 2.3522",
        "pages 100-200, tracking 1Z999AA10123456784",
    ],
)
def test_negatives(text):
    assert kinds(text) == []


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130 01")
    assert not iban_ok("DE89 3704 0044 0532 0130")  # German IBANs have 22 characters


def test_annotator_lists_kinds_and_counts_in_meta():
    ann = PiiAnnotator()
    out = ann.annotate(["mail a@example.com or b@example.org, call 555-123-4567", "nothing here", ""])
    assert out["pii"] == ["email,phone", "", ""]
    assert out["meta"][0] == {"pii.email": "2", "pii.phone": "1"} and out["meta"][1] == {}


def test_redaction_replaces_spans_and_records_kinds_not_values():
    text = "Mail john@example.com, card 4111 1111 1111 1111, host 10.0.0.7."
    kind, meta, redacted = PiiAnnotator(redact=True).label(text)
    assert redacted == "Mail <EMAIL>, card <CARD>, host <IP>."
    assert kind == "card,email,ipv4"
    assert meta["pii_redacted"] == "card:1,email:1,ipv4:1"
    assert not any("john" in v or "4111" in v for v in meta.values())
    # off by default; only the configured kinds
    assert PiiAnnotator().label(text)[2] == text
    assert PiiAnnotator(kinds=["email"], redact=True).label(text)[2].startswith("Mail <EMAIL>, card 4111")


def test_bad_input_does_not_crash():
    for text in ["", "\x00\x01" * 1000, "1" * 100_000, "@" * 1000, "Привет 你好 +7 495 123-45-67"]:
        find_pii(text)
    assert kinds("x " * 5_000_000 + "a@example.com") == [("email", "a@example.com")]
