"""kernel.rules.secrets on its own: credential names whatever their letters, and ordinary names left alone."""

from __future__ import annotations

import pytest

from kernel.rules.secrets import credential_in_value, names_a_credential, normalised_name


@pytest.mark.parametrize(
    "name",
    [
        "api_k\u0435y",  # Cyrillic e (UTS #39 confusable)
        "passw\u03bfrd",  # Greek omicron
        "\uff21\uff30\uff29\uff3f\uff2b\uff25\uff39",  # fullwidth API_KEY (NFKC)
        "api\u200bkey",  # a zero-width space between the words
        "X-API-Token",
        "x_auth_token",
        "Ocp-Apim-Subscription-Key",
        "Set-Cookie",
        "Proxy-Authorization",
        "client_secret",
    ],
)
def test_credential_names_are_recognised_through_look_alikes_and_separators(name):
    assert names_a_credential(name)


@pytest.mark.parametrize(
    "name",
    ["max_tokens", "max_output_tokens", "tokenizer", "Idempotency-Key", "X-Request-Id", "anthropic-beta", "author"],
)
def test_settings_that_merely_mention_tokens_or_keys_are_not_credentials(name):
    assert not names_a_credential(name)


def test_the_normalised_name_is_ascii_lowercase_alphanumerics():
    assert normalised_name("API_K\u0415Y") == "apikey"


@pytest.mark.parametrize(
    "value",
    ["https://api.example.com/v1?api-version=2024-06-01", "eu-west-1", "meta-llama/Llama-3.1-70B-Instruct", ""],
)
def test_ordinary_values_hold_no_credential(value):
    assert credential_in_value(value) is None
