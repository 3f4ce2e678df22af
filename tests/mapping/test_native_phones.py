"""Phones: the native core decides exactly as ``tikstream.mapping.phones`` (``phonenumbers``) does.

Generated numbers across 30 regions (example numbers of every type with their last digits varied, lengths
changed), written in national, international, ``00``/``011``, E.164, digits-only and messy notations, read with
their own region, another one or none, under the ``valid`` and ``possible`` policies. Where the core decides
(it may leave a phone to Python: ``None``), its answer must be Python's, for valid and invalid numbers alike.
``TIKSTREAM_PHONE_N`` numbers (default 6,000; ``make bench`` runs 1,000,000 through bench/bench_exactness.py).
"""

from __future__ import annotations

import os
import random
import re

import phonenumbers
import pytest
import tikstream_native
from phonenumbers import PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

from tikstream.mapping.native import load_phones
from tikstream.mapping.phones import phone_e164

N = int(os.environ.get("TIKSTREAM_PHONE_N", "6000"))
REGIONS = ["US", "CA", "GB", "DE", "FR", "IT", "ES", "NL", "BR", "AR", "MX", "IN", "CN", "JP", "KR", "AU", "RU",
           "ZA", "NG", "EG", "SA", "AE", "TR", "ID", "SG", "IM", "JE", "SM", "BB", "CC"]
TYPES = [PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP,
         PhoneNumberType.PREMIUM_RATE, PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.UAN]
_SEPARATORS = [" ", "-", ".", "  ", "/", ""]


def _examples() -> list[tuple[str, int, str, str]]:
    """(region, country code, national significant number, national prefix) of each region's examples."""
    out = []
    for region in REGIONS:
        meta = PhoneMetadata.metadata_for_region(region)
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                nsn = phonenumbers.national_significant_number(number)
                out.append((region, number.country_code, nsn, meta.national_prefix or ""))
    return out


def _messy(rnd: random.Random, digits: str) -> str:
    out = []
    for i, d in enumerate(digits):
        if i and rnd.random() < 0.25:
            out.append(rnd.choice(_SEPARATORS))
        out.append(d)
    text = "".join(out)
    if len(text) > 4 and rnd.random() < 0.3:
        text = f"({text[:3]}) {text[3:]}"
    return text


def numbers(n: int, seed: int = 14) -> list[tuple[str, str | None]]:
    rnd = random.Random(seed)
    examples = _examples()
    out: list[tuple[str, str | None]] = []
    while len(out) < n:
        region, cc, nsn, trunk = rnd.choice(examples)
        keep = max(1, len(nsn) - rnd.choice([1, 2, 3, 4, 5]))
        nsn = nsn[:keep] + "".join(rnd.choice("0123456789") for _ in range(len(nsn) - keep))
        if rnd.random() < 0.15:
            nsn = nsn[:-1] if rnd.random() < 0.5 else nsn + rnd.choice("0123456789")
        form = rnd.randrange(9)
        text = [f"+{cc} {_messy(rnd, nsn)}", f"+{cc}{nsn}", f"00{cc} {_messy(rnd, nsn)}", f"011 {cc} {nsn}",
                f"{trunk}{_messy(rnd, nsn)}", f"{cc}{nsn}", _messy(rnd, nsn),
                "".join(rnd.choice("0123456789") for _ in range(rnd.randrange(1, 19))),
                f"+{''.join(rnd.choice('0123456789') for _ in range(rnd.randrange(1, 17)))}"][form]
        read_as = rnd.random()
        parse_region = region if read_as < 0.6 else None if read_as < 0.75 else rnd.choice(REGIONS)
        out.append((text, parse_region))
    return out


@pytest.mark.parametrize("policy", ["valid", "possible"])
def test_the_core_decides_phones_as_phonenumbers_does(policy: str) -> None:
    load_phones()
    disagreements, undecided, valid = [], [], 0
    for text, region in numbers(N):
        expected = phone_e164(text, region, policy)
        found = tikstream_native.phone_e164(text, region, policy)
        valid += bool(expected)
        if found is None:
            undecided.append(text)
        elif found != expected:
            disagreements.append((text, region, found, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, e.g. {disagreements[:10]}"
    assert valid > N // 4, "too few numbers that phonenumbers keeps: the test would say little"
    # the core leaves to Python only readings of one or two digits (phonenumbers' viability rules for those)
    short = [t for t in undecided if len(re.sub(r"\D", "", t).removeprefix("00")) < 3]
    assert short == undecided, f"the core left {set(undecided) - set(short)} to Python"


def test_regions_and_notations_are_covered() -> None:
    generated = numbers(3000)
    assert len({region for _, region in generated if region}) >= 20
    assert any(t.startswith("00") for t, _ in generated) and any(t.startswith("+") for t, _ in generated)
