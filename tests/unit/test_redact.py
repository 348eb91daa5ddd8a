"""redact: no secret, URI credential or token shape survives into what the tool writes."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from prompt_review import redact

# Shapes only: none of these is a live credential. Built by concatenation so that secret
# scanners reading this file do not mistake them for leaked tokens.
GITHUB_PAT = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_FINE = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
GITHUB_SERVER = "ghs_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8"
OPENAI = "sk-proj-" + "abcDEF123456ghiJKL789012mnoPQR"
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9"


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    redact.install({})
    yield
    redact.install({})


@pytest.mark.robustness(
    area="secrets",
    case="secret environment variables (GitHub token, OPENAI_API_KEY, MLflow password and "
    "token, AWS and Databricks secrets, any *_TOKEN/*_SECRET/*_PASSWORD/*_KEY)",
    behaviour="their exact values (also percent-encoded) become *** in every message",
)
def test_exact_values_of_secret_variables_are_redacted() -> None:
    environ = {
        "INPUT_GITHUB_TOKEN": "plain-github-token-value",
        "OPENAI_API_KEY": "local-key-without-shape",
        "MLFLOW_TRACKING_PASSWORD": "p@ss word/42",
        "MLFLOW_TRACKING_TOKEN": "mlflow-token-0042",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
        "DATABRICKS_TOKEN": "databricks-token-9",
        "MY_SERVICE_SECRET": "service-secret-1234",
        "ACME_API_KEY": "acme-key-12345678",
        "HOME": "/home/runner",
        "TOKENIZERS_PARALLELISM": "false",
        "CACHE_KEY_PATH": "/tmp/cache-key-file",
    }
    values = redact.install(environ)

    assert set(values) == {
        "plain-github-token-value",
        "local-key-without-shape",
        "p@ss word/42",
        "mlflow-token-0042",
        "wJalrXUtnFEMI/K7MDENG",
        "databricks-token-9",
        "service-secret-1234",
        "acme-key-12345678",
    }
    message = " | ".join(
        [*values, "p%40ss%20word%2F42", "/home/runner", "false", "/tmp/cache-key-file"]
    )
    assert redact.text(message) == " | ".join(["***"] * 9 + ["/home/runner", "false"]) + (
        " | /tmp/cache-key-file"
    )


def test_short_values_are_not_masked_everywhere() -> None:
    """`OPENAI_API_KEY=EMPTY` (vLLM's convention) must not turn every "EMPTY" into ***."""
    assert redact.install({"OPENAI_API_KEY": "EMPTY", "GITHUB_TOKEN": "x"}) == ()
    assert redact.text("EMPTY response from x") == "EMPTY response from x"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("GITHUB_TOKEN", True),
        ("OPENAI_API_KEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("PGPASSWORD", True),
        ("GOOGLE_APPLICATION_CREDENTIALS_JSON", True),
        ("MYAPIKEY", False),
        ("MY_APIKEY", True),
        ("TOKENIZERS_PARALLELISM", True),  # a secret name; its value "false" is too short
        ("MONKEY_BUSINESS", False),
        ("KEYBOARD", False),
        ("SSH_KEY_PATH", False),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", False),
        ("PATH", False),
        ("PWD", False),
    ],
)
def test_which_variable_names_hold_secrets(name: str, *, secret: bool) -> None:
    assert redact.is_secret_name(name) is secret


@pytest.mark.robustness(
    area="secrets",
    case="credentials inside a URI (`https://user:password@host`) in an MLflow or gateway "
    "error, and secret query parameters (`?token=`, `&sig=`, `X-Amz-Signature`)",
    behaviour="userinfo and the parameter values become ***; host, path and other "
    "parameters stay readable",
)
def test_uri_userinfo_and_query_tokens_are_redacted() -> None:
    redact.install({"MLFLOW_TRACKING_URI": "https://alice:hunter2-longer@mlflow.example.com"})
    message = (
        "API request to https://alice:hunter2-longer@mlflow.example.com/api/2.0/mlflow/runs "
        "failed; see https://bob@host.example/x?a=1&access_token=abc123&sig=XYZ%3D&page=2 "
        "and s3://bucket/key?X-Amz-Signature=deadbeef&X-Amz-Date=2024 (password hunter2-longer)"
    )
    assert redact.text(message) == (
        "API request to https://***@mlflow.example.com/api/2.0/mlflow/runs "
        "failed; see https://***@host.example/x?a=1&access_token=***&sig=***&page=2 "
        "and s3://bucket/key?X-Amz-Signature=***&X-Amz-Date=2024 (password ***)"
    )


def test_a_password_with_an_at_sign_is_redacted_whole() -> None:
    redact.install({})
    assert redact.text("postgresql://u:p%40ss@db:5432/x") == "postgresql://***@db:5432/x"
    assert redact.text("email me at someone@example.com") == "email me at someone@example.com"


@pytest.mark.robustness(
    area="secrets",
    case="well-known token shapes in a message, even when no variable holds them (GitHub "
    "ghp_/github_pat_/ghs_, OpenAI sk-..., AWS AKIA..., JWT, Bearer/Basic credentials, a PEM "
    "private key)",
    behaviour="each becomes ***; ordinary words, SHAs and numbers are left alone",
)
def test_well_known_token_shapes_are_redacted() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK\n-----END RSA PRIVATE KEY-----"
    message = "\n".join(
        [
            f"classic {GITHUB_PAT}, fine-grained {GITHUB_FINE}, actions {GITHUB_SERVER}",
            f"openai {OPENAI} and aws {AWS_ID}, jwt {JWT}",
            "Authorization: Bearer abc.def-ghi_jkl~123",
            "Authorization: token 0123456789abcdef0123",
            "Basic dXNlcjpwYXNzd29yZDEyMzQ=",
            pem,
            "commit 3f786850e387550fdab836ed7e6dc881de23001b, Basic authentication, sk-learn",
        ]
    )
    assert redact.text(message) == "\n".join(
        [
            "classic ***, fine-grained ***, actions ***",
            "openai *** and aws ***, jwt ***",
            "Authorization: Bearer ***",
            "Authorization: token ***",
            "Basic ***",
            "***",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b, Basic authentication, sk-learn",
        ]
    )


def test_redaction_is_idempotent_and_leaves_clean_text_alone() -> None:
    redact.install({"OPENAI_API_KEY": OPENAI})
    once = redact.text(f"key {OPENAI} at https://u:pw-long-enough@h/")
    assert redact.text(once) == once == "key *** at https://***@h/"
    clean = "3 prompts: 1 regression (capital: exact_match -0.50, p=0.031)"
    assert redact.text(clean) == clean
    assert redact.text("") == ""


def test_mapping_and_data_redact_every_string_and_keep_the_shape() -> None:
    redact.install({"OPENAI_API_KEY": "the-openai-key-1"})
    tags = {"branch": f"fix-{GITHUB_PAT}", "prompt_version": "3", "n": 3}
    assert redact.mapping(tags) == {"branch": "fix-***", "prompt_version": "3", "n": 3}
    report = {
        "summary": "error: the-openai-key-1 refused",
        "prompts": [{"error": "https://u:secret-pass@h/x", "scores": (1.0, None)}],
        "ok": True,
    }
    assert redact.data(report) == {
        "summary": "error: *** refused",
        "prompts": [{"error": "https://***@h/x", "scores": (1.0, None)}],
        "ok": True,
    }


def test_install_replaces_what_was_learned_before() -> None:
    redact.install({"OPENAI_API_KEY": "first-secret-value"})
    redact.install({"OPENAI_API_KEY": "second-secret-value"})
    assert redact.secrets() == ("second-secret-value",)
    assert redact.text("first-secret-value second-secret-value") == "first-secret-value ***"


def test_a_longer_secret_is_replaced_before_one_it_contains() -> None:
    redact.install({"A_TOKEN": "abcdefgh", "B_TOKEN": "abcdefgh-and-more"})
    assert redact.text("abcdefgh-and-more / abcdefgh") == "*** / ***"


def test_stream_redacts_every_write_and_unwrapped_reaches_the_raw_stream() -> None:
    redact.install({"OPENAI_API_KEY": "stream-secret-123"})
    raw = io.StringIO()
    stream = redact.Stream(raw)

    print("leak: stream-secret-123", file=stream)
    redact.unwrapped(redact.Stream(stream)).write("::add-mask::stream-secret-123\n")
    stream.flush()

    assert raw.getvalue() == "leak: ***\n::add-mask::stream-secret-123\n"
    assert redact.unwrapped(raw) is raw
    assert stream.encoding == "utf-8"
