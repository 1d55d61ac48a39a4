"""A binding never stores a credential, however it is spelt: header names with look-alike letters, values of every
common credential shape, and URLs (the endpoint and any URL in the config) with userinfo or secret query values.
Each refusal is a 400 naming the field, never echoing the value, and stores nothing."""

from __future__ import annotations

import json

import pytest

from bindings_app.models import ProviderBinding

from .conftest import URL

pytestmark = pytest.mark.django_db

# Made-up values of each shape (none is a live credential).
AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GOOGLE_KEY = "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
VALUES = {
    "basic": "Basic dXNlcjpwYXNzd29yZA==",
    "bearer": "Bearer q8Zt2kLm9Xr4Vb7N",
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "hugging face": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "aws secret key": AWS_SECRET_KEY,
    "google": GOOGLE_KEY,
    "private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "jwt": JWT,
    "high entropy": "Zx9vQ2mT7pL4rW8kN3bY6cH1dF5gJ0sA",
}
HEADER_NAMES = ["X-API-Token", "X-Auth-Token", "Ocp-Apim-Subscription-Key", "Cookie", "Set-Cookie", "api_k\u0435y"]
URLS = {
    "userinfo": "https://user:pass@api.example.com/v1",
    "api_key parameter": "https://api.example.com/v1?api_key=abc123",
    "google key parameter": f"https://generativelanguage.example.com/v1beta?key={GOOGLE_KEY}",
    "token parameter": "https://api.example.com/v1?token=abc123",
    "sas signature": "https://store.example.net/c/w?sv=2024-05-04&sig=abc%2Bdef",
    "key in a neutral parameter": f"https://api.example.com/v1?q={GOOGLE_KEY}",
}


def errors(response) -> list[dict]:
    return response.json()["errors"]


def assert_refused(response, path: str, secret: str) -> None:
    assert response.status_code == 400, response.json()
    assert path in [e["path"] for e in errors(response)], errors(response)
    assert "secret_in_config" in {e["code"] for e in errors(response)}
    assert secret not in json.dumps(response.json()), "the answer echoes the secret"
    assert not ProviderBinding.objects.exists()


@pytest.mark.parametrize("name", HEADER_NAMES)
def test_a_header_named_for_a_credential_is_refused_whatever_its_spelling(api, llama, binding_body, name):
    response = api.post(URL, binding_body(config={"headers": {name: "opaque-value"}}), format="json")

    assert_refused(response, f"/config/headers/{name}", "opaque-value")


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_a_credential_value_is_refused_under_a_harmless_name(api, llama, binding_body, value):
    response = api.post(URL, binding_body(config={"headers": {"X-Trace": value}}), format="json")

    assert_refused(response, "/config/headers/X-Trace", value)


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
def test_an_endpoint_url_carrying_a_credential_is_refused(api, llama, binding_body, url):
    response = api.post(URL, binding_body(endpoint_url=url), format="json")

    assert_refused(response, "/endpoint_url", url)
    for part in ("pass@", "abc123", GOOGLE_KEY, "abc%2Bdef"):
        assert part not in json.dumps(response.json())


@pytest.mark.parametrize("url", URLS.values(), ids=URLS.keys())
def test_a_url_inside_the_config_is_checked_as_the_endpoint_is(api, llama, binding_body, url):
    response = api.post(URL, binding_body(config={"headers": {"X-Upstream": url}}), format="json")

    assert_refused(response, "/config/headers/X-Upstream", url)


@pytest.mark.parametrize("reference", ["env:sk_live_4eC39HqLyjWDarjtT1zdp7dc", f"vault:{AWS_SECRET_KEY}"])
def test_a_secret_reference_that_carries_the_secret_itself_is_refused(api, llama, binding_body, reference):
    response = api.post(URL, binding_body(config={"api_key_secret": reference}), format="json")

    assert response.status_code == 400
    assert [(e["path"], e["code"]) for e in errors(response)] == [
        ("/config/api_key_secret", "secret_reference_required")
    ]
    assert reference not in json.dumps(response.json())


def test_a_patch_cannot_slip_a_credential_into_the_endpoint(api, make_binding):
    binding = make_binding()

    response = api.patch(f"{URL}/{binding.pk}", {"endpoint_url": URLS["userinfo"]}, format="json")

    assert response.status_code == 400 and [e["path"] for e in errors(response)] == ["/endpoint_url"]
    binding.refresh_from_db()
    assert binding.endpoint_url == "https://api.example.com/v1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"provider_model_id": "meta-llama/Llama-3.1-70B-Instruct"},
        {"provider_model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0", "provider": "bedrock"},
        {"provider_model_id": "gpt-4o-2024-08-06", "region": "europe-west4"},
        {"provider_model_id": "projects/my-project-123/locations/us-central1/endpoints/1234567890123456789"},
        {"provider_model_id": "accounts/fireworks/models/llama-v3p1-405b-instruct"},
        {
            "provider": "self_hosted",
            "config": {"runtime": "vllm", "gpu_type": "nvidia-a100-80gb"},
            "provider_model_id": "ghcr.io/org/vllm@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
        {
            "provider": "azure_openai",
            "endpoint_url": "https://my-resource.openai.azure.com/openai/deployments/gpt4o/chat/completions"
            "?api-version=2024-06-01",
            "config": {"deployment_name": "gpt4o", "api_version": "2024-06-01", "api_key_secret": "env:AZURE_KEY"},
        },
        {
            "provider": "bedrock",
            "config": {
                "api_key_secret": "aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/bedrock-AbCdEf",
                "role_arn": "arn:aws:iam::123456789012:role/bedrock-invoke",
            },
        },
        {
            "provider": "vertex_ai",
            "endpoint_url": "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/"
            "us-central1/publishers/google/models/gemini-1.5-pro:generateContent",
            "config": {"project_id": "my-project", "location": "us-central1"},
        },
        {
            "config": {
                "max_tokens": 4096,
                "headers": {"X-Team": "ml", "X-Request-Id": "123e4567-e89b-12d3-a456-426614174000", "Accept": "*/*"},
                "organization": "org-research",
            }
        },
        {
            # OpenAI's organization and project ids look random but are sent in the clear on every call.
            "config": {
                "organization": "org-kq8h2fQ9wXyZ3mNpL7tR4sVb",
                "project": "proj_Xk3j9LmQ2pR7sT1vW4yZ6bN8",
                "headers": {
                    "OpenAI-Organization": "org-kq8h2fQ9wXyZ3mNpL7tR4sVb",
                    "OpenAI-Project": "proj_Xk3j9LmQ2pR7sT1vW4yZ6bN8",
                },
            }
        },
    ],
)
def test_ordinary_settings_are_not_mistaken_for_credentials(api, llama, binding_body, overrides):
    response = api.post(URL, binding_body(**overrides), format="json")

    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    "config",
    [
        {"api_key_secret": "vault:kv/openai#key", "headers": {"X-Trace": "org-kq8h2fQ9wXyZ3mNpL7tR4sVb"}},
        {"api_key_secret": "vault:kv/openai#key", "organization": "proj_Xk3j9LmQ2pR7sT1vW4yZ6bN8"},
        {"api_key_secret": "vault:kv/openai#key", "organization": "org-Zx9vQ2mT7pL4rW8kN3bY6cH1dF5gJ0sA"},
    ],
)
def test_a_public_id_shape_does_not_launder_a_random_string_under_another_name(api, llama, binding_body, config):
    response = api.post(URL, binding_body(config=config), format="json")

    assert response.status_code == 400, response.json()


def test_a_huge_config_is_refused_without_scanning_all_of_it(api, llama, binding_body):
    config = {"capabilities": [f"cap-{i}" for i in range(50_000)]}

    response = api.post(URL, binding_body(config=config), format="json")

    assert response.status_code == 400
    assert {"path": "/config", "code": "too_many_values"} in [
        {"path": e["path"], "code": e["code"]} for e in errors(response)
    ]
