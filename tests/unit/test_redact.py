"""Secret scrubbing before anything reaches disk or the network."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_intern_jupyter.traces import redact
from ml_intern_jupyter.traces.redact import REDACTED, scrub, scrub_text

HF = "hf_" + "a1B2c3D4e5" * 3 + "xyz"  # 33 chars after the prefix
SK_ANT = "sk-ant-api03-" + "Q" * 30
SK = "sk-proj-" + "x1Y2z3" * 7  # 42 chars after "sk-"
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
AKIA = "AKIAIOSFODNN7EXAMPLE"
ASIA = "ASIAY34FZKBOKMUTVV7A"


# ------------------------------------------------------------ token shapes


@pytest.mark.parametrize(
    "secret",
    [HF, SK_ANT, SK, GHP, GITHUB_PAT, AKIA, ASIA] + [f"gh{c}_" + "Z9" * 12 for c in "pousr"],
)
def test_known_token_shapes_are_redacted(secret: str) -> None:
    text = f"here is my key {secret} please use it"
    out = scrub_text(text)
    assert secret not in out
    assert out == f"here is my key {REDACTED} please use it"


@pytest.mark.parametrize(
    "benign",
    [
        "hf_" + "a" * 29,  # one short of an HF token
        "sk-short",
        "sk-" + "a" * 39,
        "sk-ant-short",
        "ghp_tooShort",
        "github_pat_short",
        "AKIA123",  # too short for an AWS key id
        "AKIAIOSFODNN7EXAMPLEX",  # too long: not a key id on its own
        "Bearer short",
        "tokenizer=bert",
        "max_tokens=100",
        "num_tokens: 5",
        "max_new_tokens = 512",
        "the secret of the model is data",
        "password reset link",
        "use hf_hub_download to fetch the file",
        "model.safetensors is 4.2GB; AutoTokenizer.from_pretrained('bert-base')",
        "",
    ],
)
def test_benign_text_is_untouched(benign: str) -> None:
    assert scrub_text(benign) == benign


def test_hf_token_with_thirty_chars_is_redacted() -> None:
    token = "hf_" + "b" * 30
    assert scrub_text(token) == REDACTED


def test_several_secrets_in_one_string() -> None:
    out = scrub_text(f"{HF} and {GHP} and {AKIA}")
    assert out == f"{REDACTED} and {REDACTED} and {REDACTED}"


def test_sk_ant_key_is_redacted_whole() -> None:
    out = scrub_text(f"key={SK_ANT}")
    assert "sk-ant" not in out and "QQQ" not in out


# ------------------------------------------------------------------ bearer


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_bearer_tokens(scheme: str) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.payload_part.sig-nature"
    out = scrub_text(f"Authorization: {scheme} {token}")
    assert token not in out
    assert out.endswith(f"Bearer {REDACTED}")


# --------------------------------------------------------------- NAME=value


@pytest.mark.parametrize(
    "name",
    [
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "HUGGINGFACEHUB_API_TOKEN",
        "OPENAI_API_KEY",
        "WANDB_API_KEY",
        "CLIENT_SECRET",
        "DB_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DJANGO_SECRET_KEY",
    ],
)
@pytest.mark.parametrize("sep", ["=", ": ", " = ", ":"])
def test_named_assignments_keep_the_name(name: str, sep: str) -> None:
    out = scrub_text(f"export {name}{sep}s3cr3tvalue123 && run")
    assert "s3cr3tvalue123" not in out
    assert out == f"export {name}{sep}{REDACTED} && run"


def test_quoted_values_keep_their_quotes() -> None:
    assert scrub_text("API_KEY='abc123'") == f"API_KEY='{REDACTED}'"
    assert scrub_text('API_KEY="abc123"') == f'API_KEY="{REDACTED}"'


def test_quoted_values_with_spaces_are_redacted_whole() -> None:
    out = scrub_text('DB_PASSWORD="correct horse battery staple" next')
    assert "horse" not in out and "staple" not in out
    assert out == f'DB_PASSWORD="{REDACTED}" next'
    out = scrub_text("MY_SECRET='two words'")
    assert out == f"MY_SECRET='{REDACTED}'"


def test_json_style_names_are_covered() -> None:
    text = '{"env": {"WANDB_API_KEY": "0123456789abcdef", "EPOCHS": "3"}}'
    out = scrub_text(text)
    assert "0123456789abcdef" not in out
    assert out == f'{{"env": {{"WANDB_API_KEY": "{REDACTED}", "EPOCHS": "3"}}}}'


def test_python_environ_assignment_is_covered() -> None:
    out = scrub_text('os.environ["OPENAI_API_KEY"] = "not-a-known-shape"')
    assert "not-a-known-shape" not in out
    assert out == f'os.environ["OPENAI_API_KEY"] = "{REDACTED}"'


def test_assignment_does_not_reach_into_the_next_line() -> None:
    assert scrub_text("HF_TOKEN=\nhello") == "HF_TOKEN=\nhello"


def test_scrub_is_idempotent() -> None:
    once = scrub_text(f"HF_TOKEN={HF} Authorization: Bearer {'x' * 30} {AKIA}")
    assert scrub_text(once) == once
    assert HF not in once and AKIA not in once


# -------------------------------------------------------------- structures


def test_recursion_over_dicts_lists_tuples() -> None:
    value = {
        "role": "tool",
        "content": f"token is {HF}",
        "calls": [{"arguments": f'{{"key": "{SK}"}}'}, ("plain", f"aws {AKIA}")],
        "n": 3,
        "flag": None,
    }
    out = scrub(value)
    assert out == {
        "role": "tool",
        "content": f"token is {REDACTED}",
        "calls": [{"arguments": f'{{"key": "{REDACTED}"}}'}, ("plain", f"aws {REDACTED}")],
        "n": 3,
        "flag": None,
    }
    assert isinstance(out["calls"][1], tuple)


def test_dict_entries_named_like_secrets_are_redacted() -> None:
    value = {"secrets": {"HF_TOKEN": "short-but-secret", "OTHER": "visible"}, "max_tokens": 5}
    out = scrub(value)
    assert out == {"secrets": {"HF_TOKEN": REDACTED, "OTHER": "visible"}, "max_tokens": 5}


def test_dict_entries_with_non_string_values_recurse() -> None:
    value = {"api_token": {"inner": HF}, "TOKEN": 5, "password": ""}
    assert scrub(value) == {"api_token": {"inner": REDACTED}, "TOKEN": 5, "password": ""}


def test_input_is_never_mutated() -> None:
    value = {"a": [f"x {HF}", {"b": (GHP,)}], "HF_TOKEN": "abc"}
    before = copy.deepcopy(value)
    out = scrub(value)
    assert value == before
    assert out is not value
    assert out["a"] is not value["a"]
    assert out["a"][1] is not value["a"][1]


def test_non_string_leaves_are_returned_as_is() -> None:
    obj = object()
    assert scrub(obj) is obj
    assert scrub(3.5) == 3.5
    assert scrub(None) is None
    assert scrub(b"hf_bytes") == b"hf_bytes"


def test_lower_case_names_need_a_quoted_value() -> None:
    # ML code names many things "*_token"; only a quoted literal looks like a secret.
    code = "tokenizer.pad_token = tokenizer.eos_token\nmax_new_tokens=512"
    assert scrub_text(code) == code
    assert scrub_text('password = "hunter22"') == f'password = "{REDACTED}"'
    assert scrub_text("hf_token: 'abc def'") == f"hf_token: '{REDACTED}'"


def test_scrub_leaves_keys_alone_unless_asked() -> None:
    token = "hf_" + "a1B2" * 9
    value = {token: {"HF_TOKEN": "x"}, "k": (token,)}
    assert scrub(value) == {token: {"HF_TOKEN": REDACTED}, "k": (REDACTED,)}
    assert scrub(value, keys=True) == {REDACTED: {"HF_TOKEN": REDACTED}, "k": (REDACTED,)}


# ------------------------------------------- the fast search, against re.sub


def _plain_scrub_text(text: str) -> str:
    """What `scrub_text` promises, the obvious way: each pattern's `re.sub`, in order."""
    text = redact._UPPER_ASSIGNMENT.sub(redact._redact_assignment, text)
    text = redact._ANY_CASE_ASSIGNMENT.sub(redact._redact_assignment, text)
    text = redact._BEARER.sub("Bearer " + REDACTED, text)
    for pattern in (
        redact._HF,
        redact._SK_ANT,
        redact._SK,
        redact._GH,
        redact._GITHUB_PAT,
        redact._AWS,
    ):
        text = pattern.sub(REDACTED, text)
    return text


_FRAGMENTS = [
    *("token", "TOKEN", "Token", "tokenizer", "pad_token", "HF_TOKEN", "api_key", "API_KEY"),
    *("secret", "SECRET_KEY", "SECRET_ACCESS_KEY", "password", "PassWord", "ACCESS_KEY_ID"),
    *("=", ": ", '"]=', "']: ", "'", '"', " = ", "\t:", "]", "\n", " ", "-", ".", "/", "_"),
    *('"a value"', "'xyz'", "val123", "[x]", "x", "9", "é", "ß"),
    *("\u0130", "\u0131", "\u017f", "\u212a", "\ud800", "TO\u212aEN", "SECRET\u0130"),
    *("Bearer ", "bearer\t", "BEARER  ", "Authorization: Bearer ", "eyJ" + "a" * 24),
    *(HF, "hf_" + "Q" * 29, "xhf_" + "Q" * 30, SK_ANT, SK, "sk-x-sk-" + "b" * 45, GHP),
    *("ghs_" + "k" * 20, GITHUB_PAT, AKIA, ASIA, AKIA + "X", "akia" + "A" * 16),
]


@settings(max_examples=4000, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=3), max_size=14))
def test_scrub_text_is_each_pattern_applied_in_turn(parts: list[str]) -> None:
    text = "".join(parts)
    assert scrub_text(text) == _plain_scrub_text(text)


def test_the_search_only_runs_patterns_where_their_literal_is() -> None:
    # Each of these has one pattern's literal, and the patterns give the same result.
    for text in ("x = HF_TOKEN", "tokenizer(text)", "see the bearer", "hf_short", "sk-"):
        assert scrub_text(text) == _plain_scrub_text(text) == text
    assert redact._kinds("tokenizer(tokens) and passwords") == frozenset()
    assert redact._kinds('api_key="x" and hf_x') == {"assignment", "hf"}
