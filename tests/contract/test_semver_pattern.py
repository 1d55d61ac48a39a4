"""The OpenAPI `version` patterns describe exactly the versions the server parses: semver.org's grammar with every
number (MAJOR, MINOR, PATCH, a numeric prerelease identifier) at most 2^31-1, which the server refuses past."""

from __future__ import annotations

import re

import pytest

from kernel.api.views import SEMVER_PATTERN, VERSION_REF_PATTERN
from kernel.rules.semver import MAX_COMPONENT, InvalidVersion, parse_version

TOP, PAST = str(MAX_COMPONENT), str(MAX_COMPONENT + 1)
CASES = [
    "0.0.0",
    "1.2.3",
    f"{TOP}.{TOP}.{TOP}",
    f"{PAST}.0.0",
    f"0.{PAST}.0",
    f"0.0.{PAST}",
    "9999999999.0.0",
    f"1.0.0-{TOP}",
    f"1.0.0-{PAST}",
    f"1.0.0-rc.{PAST}",
    f"1.0.0-rc.{TOP}",
    f"1.0.0-{PAST}a",
    f"1.0.0-a.{PAST}.b",
    "1.0.0-0",
    "1.0.0-01",
    "01.0.0",
    "1.0.0+01",
    f"1.0.0+{PAST}",
    "1.0.0-rc.1+build.5",
    "1.0",
    "1.0.0-",
    "1.0.0+",
    "1.0.0-rc..1",
    "2147483647.2147483647.2147483647-2147483647+2147483648",
    "1999999999.0.0",
    "2147483639.0.0",
    "2147483650.0.0",
    "3000000000.0.0",
]


def server_accepts(text: str) -> bool:
    try:
        parse_version(text)
    except InvalidVersion:
        return False
    return True


@pytest.mark.parametrize("text", CASES)
def test_the_semver_pattern_matches_what_the_server_parses(text):
    assert bool(re.search(SEMVER_PATTERN, text)) == server_accepts(text)
    assert bool(re.search(VERSION_REF_PATTERN, text)) == server_accepts(text)


def test_every_number_up_to_the_bound_matches_and_none_past_it():
    for number in (
        0,
        9,
        10,
        99,
        123456789,
        999999999,
        1000000000,
        1999999999,
        2000000000,
        2099999999,
        2100000000,
        2139999999,
        2140000000,
        2146999999,
        2147399999,
        2147479999,
        2147482999,
        2147483599,
        2147483639,
        MAX_COMPONENT,
    ):
        for text in (f"{number}.0.0", f"0.{number}.0", f"0.0.{number}", f"1.0.0-{number}", f"1.0.0-a.{number}"):
            assert re.search(SEMVER_PATTERN, text), text
    for number in (
        MAX_COMPONENT + 1,
        2147483650,
        2147483700,
        2147490000,
        2148000000,
        2150000000,
        2200000000,
        3000000000,
        10000000000,
    ):
        for text in (f"{number}.0.0", f"0.{number}.0", f"0.0.{number}", f"1.0.0-{number}", f"1.0.0-a.{number}"):
            assert not re.search(SEMVER_PATTERN, text), text
            assert not server_accepts(text), text
