"""Does a name or a value hold a credential? One answer for every place that must never store one (a binding's
config and endpoint, any URL in it).

Values go through Yelp's detect-secrets plugins, called in-process (``analyze_string`` only: never ``verify``,
which would call the provider, and no baseline files), plus the few shapes its 1.5 release does not know
(authorization schemes such as ``Basic``/``Bearer``, Hugging Face and Google API keys, ``sk-`` keys) and its
Shannon-entropy measure for long random-looking strings. URLs are taken apart: userinfo is refused, each query
parameter is judged by its name and its value, each path segment by its value.

Names are compared after normalising look-alikes: NFKC, case folding, then Unicode's confusables (UTS #39, as
shipped by ``confusable_homoglyphs``) map each non-ASCII character to an ASCII look-alike of its class where it has
one (Cyrillic ``е`` -> ``e``), and everything but ``a-z0-9`` is dropped (separators, zero-width characters). So
``X-API-Token``, ``x_api_token`` and ``api_kеy`` with a Cyrillic ``е`` are the same name to the rules below.

Answers say what was found, never the value found.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from confusable_homoglyphs.confusables import confusables_data
from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string
from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.cloudant import CloudantDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.softlayer import SoftlayerDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

# Every detect-secrets detector of a credential's own shape. Left out: IPPublicDetector (an address is not a
# secret) and KeywordDetector (it reads source lines, ``password = "..."``; names are judged below instead).
DETECTORS = (
    ArtifactoryDetector(),
    AWSKeyDetector(),
    AzureStorageKeyDetector(),
    BasicAuthDetector(),
    CloudantDetector(),
    DiscordBotTokenDetector(),
    GitHubTokenDetector(),
    GitLabTokenDetector(),
    IbmCloudIamDetector(),
    IbmCosHmacDetector(),
    JwtTokenDetector(),
    MailchimpDetector(),
    NpmDetector(),
    OpenAIDetector(),
    PrivateKeyDetector(),
    PypiTokenDetector(),
    SendGridDetector(),
    SlackDetector(),
    SoftlayerDetector(),
    SquareOAuthDetector(),
    StripeDetector(),
    TelegramBotTokenDetector(),
    TwilioKeyDetector(),
)

# Shapes detect-secrets 1.5 does not know. Searched (not anchored) in a value of at most MAX_SCANNED characters;
# each pattern is linear (no nested repetition).
SHAPES = (
    (
        # An Authorization header's value (RFC 9110 credentials: a scheme, then a token68 or parameters).
        re.compile(
            r"(?:\A|[\s:=,;\"'])(?:Basic|Bearer|Digest|Token|Negotiate|NTLM|ApiKey|SharedKey|SharedKeyLite"
            r"|AWS4-HMAC-SHA256|HOBA)\s+[A-Za-z0-9._~+/=-]{8,}",
            re.I,
        ),
        "credentials for an HTTP authorization scheme",
    ),
    (re.compile(r"\b(?:sk|rk)[-_](?:live|test|proj|ant|svcacct)?[-_]?[A-Za-z0-9_-]{16,}"), "an API key (sk-...)"),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}"), "a Hugging Face token"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), "a Google API key"),
    (re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}"), "a Google OAuth access token"),
    (re.compile(r"\b(?:ghp|gho|ghs|ghu|ghr|github_pat|glpat|xox[abpr])[-_][A-Za-z0-9_-]{8,}"), "an access token"),
    (re.compile(r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY"), "a private key"),
)

# detect-secrets' entropy measure and its default limits, on runs of the encoding's characters at least this long
# (shorter runs are ids and words: a region, a model name, a date).
BASE64 = Base64HighEntropyString()
HEX = HexHighEntropyString()
BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")
PATH_WORD = re.compile(r"[a-z][a-z-]{3,}")
DIGEST_LABEL = re.compile(r"(?:sha(?:1|224|256|384|512)|blake2[bs]?|blake3|md5)[:=]\Z", re.I)
# Values and names are bounded by their schemas; these bound the scan whatever a caller passes.
MAX_SCANNED = 16_384
MAX_NAME = 4096

# Credential names, on the normalised name (see ``normalised_name``). ``max_tokens``, ``tokenizer`` and
# ``token_limit`` are settings; ``x_api_token``, ``auth_token`` and ``ocp_apim_subscription_key`` are credentials.
CREDENTIAL_NAME = re.compile(
    r".*(?:"
    r"token(?!s|iz|limit|count|budget|type|url|endpoint)"
    r"|(?:api|access|secret|private|subscription|session|auth|signing|encryption|master|functions?|account|client"
    r"|license|service|shared|consumer|app|developer|ingest|admin|storage|sas)key"
    r"|password|passwd|passphrase|credential|authorization|authentication|cookie|secret|signature|sessionid"
    r")"
    r".*|(?:x|proxy)?auth|apikey|key|sig|pwd|pass|sas|code"
)

SEPARATORS = re.compile(r"[^a-z0-9]+")

# Identifiers that look random but are public by design: OpenAI's organization and project ids, sent in the clear on
# every call (the OpenAI-Organization and OpenAI-Project headers). Exempt only in their exact shape and under a name
# that says what they are (normalised, as names are), so the prefix alone does not let a key through elsewhere.
PUBLIC_IDENTIFIERS = (
    ("organization", re.compile(r"org-[A-Za-z0-9]{24}")),
    ("project", re.compile(r"proj_[A-Za-z0-9]{24}")),
)


@lru_cache(maxsize=4096)  # bounded: a hostile client could send every code point
def _ascii_look_alike(character: str) -> str:
    """The ASCII member of ``character``'s confusables class (UTS #39), or the character itself."""
    if character.isascii():
        return character
    for glyph in confusables_data.get(character, ()):
        candidate = unicodedata.normalize("NFKC", glyph["c"]).casefold()
        if len(candidate) == 1 and candidate.isascii() and candidate.isalnum():
            return candidate
    return character


def normalised_name(name: str) -> str:
    """``name`` as the rules compare it: NFKC, case folded, look-alikes mapped to ASCII, only ``a-z0-9`` kept."""
    folded = unicodedata.normalize("NFKC", name[:MAX_NAME]).casefold()
    skeleton = "".join(_ascii_look_alike(character) for character in folded).casefold()
    return SEPARATORS.sub("", skeleton)


def names_a_credential(name: str) -> bool:
    """Whether a key, header or query parameter called ``name`` would hold a credential itself."""
    return bool(CREDENTIAL_NAME.fullmatch(normalised_name(name)))


def public_identifier(name: str, value: str) -> bool:
    """Whether ``value``, held under ``name``, is an identifier published by design (``PUBLIC_IDENTIFIERS``)."""
    normalised = normalised_name(name)
    return any(normalised.endswith(label) and shape.fullmatch(value) for label, shape in PUBLIC_IDENTIFIERS)


def _random_looking(value: str) -> bool:
    for run in BASE64_RUN.findall(value):
        # A path ('projects/my-project/locations/us-central1/...') is judged segment by segment; a run with '/' and
        # no lowercase word between them (an AWS secret key) as a whole.
        parts = run.split("/") if any(PATH_WORD.fullmatch(part) for part in run.split("/")) else [run]
        for part in parts:
            if len(part) < 20 or is_sequential_string(part) or is_potential_uuid(part):
                continue
            if BASE64.calculate_shannon_entropy(part) > BASE64.entropy_limit:
                return True
    for match in HEX_RUN.finditer(value):
        if DIGEST_LABEL.search(value[max(0, match.start() - 8) : match.start()]):
            continue  # 'sha256:<hex>' is a content digest, published by design
        run = match.group()
        if not is_sequential_string(run) and HEX.calculate_shannon_entropy(run) > HEX.entropy_limit:
            return True
    return False


def credential_in_value(value: str) -> str | None:
    """What kind of credential ``value`` holds ("a Stripe Access Key", ...), or None. URLs are taken apart."""
    value = value[:MAX_SCANNED]
    if "://" in value:
        # Entropy is judged per query value and path segment: a whole URL is long and varied without a secret.
        return credential_in_url(value) or _credential_in_text(value, entropy=False)
    return _credential_in_text(value)


def _credential_in_text(value: str, *, entropy: bool = True) -> str | None:
    for pattern, what in SHAPES:
        if pattern.search(value):
            return what
    for detector in DETECTORS:
        if next(iter(detector.analyze_string(value)), None) is not None:
            return f"a credential ({detector.secret_type})"
    if entropy and _random_looking(value):
        return "a random-looking string (high entropy), as keys and tokens are"
    return None


def credential_in_url(url: str) -> str | None:
    """What credential ``url`` carries (userinfo, a credential-named query parameter, a credential in a query value
    or path segment), or None. A URL that does not parse is left to the URL validators."""
    url = url[:MAX_SCANNED]
    try:
        parts = urlsplit(url.strip())
        parameters = [
            parameter
            for query in (parts.query, parts.fragment)
            for parameter in parse_qsl(query, keep_blank_values=True, max_num_fields=256)
        ]
    except ValueError:  # not a URL, or more than 256 parameters: the URL validators say so
        return None
    if "@" in parts.netloc:
        return "credentials in the URL (user:password@)"
    for name, value in parameters:
        if names_a_credential(name):
            return f"a credential in the query parameter '{name[:64]}'"
        found = _credential_in_text(value)
        if found:
            return f"{found} in the query parameter '{name[:64]}'"
    for segment in parts.path.split("/"):
        found = _credential_in_text(segment)
        if found:
            return f"{found} in the URL's path"
    return None
