"""Layered configuration: defaults < user file < environment < overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_intern_jupyter.config import Config, ModelPrice, load_config, user_config_path
from ml_intern_jupyter.errors import ConfigError

PACKAGED_MODEL = json.loads(
    (Path(__file__).resolve().parents[2] / "configs" / "default.json").read_text()
)["model_name"]


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@pytest.fixture
def missing(tmp_path: Path) -> Path:
    """A user-file path that does not exist (so no real home file is read)."""
    return tmp_path / "nope" / "config.json"


# ------------------------------------------------------------------ layering


def test_packaged_defaults_only(missing: Path) -> None:
    cfg = load_config(env={}, user_file=missing)
    assert cfg.model_name == PACKAGED_MODEL
    assert cfg.llm_attempts == 3
    assert cfg.retry_rate_limit_waits_s == [30, 60]
    assert cfg.retry_transient_waits_s == [5, 15, 30]
    assert cfg.reasoning_effort == "high"
    assert cfg.model_prices == {}
    assert cfg.research_model is None  # research uses the session's model
    assert cfg.research_max_iterations == 60


def test_research_model_from_the_environment(missing: Path) -> None:
    env = {"ML_INTERN_RESEARCH_MODEL": "vllm/small", "ML_INTERN_RESEARCH_MAX_ITERATIONS": "5"}
    cfg = load_config(env=env, user_file=missing)
    assert cfg.research_model == "vllm/small" and cfg.research_max_iterations == 5


def test_user_file_overrides_defaults(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"model_name": "vllm/mine", "max_iterations": 7})
    cfg = load_config(env={}, user_file=user)
    assert cfg.model_name == "vllm/mine"
    assert cfg.max_iterations == 7
    assert cfg.llm_attempts == 3  # untouched fields keep the default


def test_env_overrides_user_file(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"max_iterations": 7, "yolo_mode": False})
    env = {"ML_INTERN_MAX_ITERATIONS": "9", "ML_INTERN_YOLO_MODE": "true"}
    cfg = load_config(env=env, user_file=user)
    assert cfg.max_iterations == 9
    assert cfg.yolo_mode is True


def test_env_values_parse_as_json_or_fall_back_to_string(missing: Path) -> None:
    env = {
        "ML_INTERN_RETRY_TRANSIENT_WAITS_S": "[0.5, 1]",
        "ML_INTERN_MODEL_PRICES": '{"vllm/x": {"input_per_mtok": 1, "output_per_mtok": 2}}',
        "ML_INTERN_PERSONAL_TRACE_REPO_TEMPLATE": "{hf_user}/traces",
        "ML_INTERN_YOLO_BUDGET_USD": "null",
        "ML_INTERN_HOME": "/tmp/intern-home",
    }
    cfg = load_config(env=env, user_file=missing)
    assert cfg.retry_transient_waits_s == [0.5, 1.0]
    assert cfg.model_prices == {"vllm/x": ModelPrice(input_per_mtok=1, output_per_mtok=2)}
    assert cfg.personal_trace_repo_template == "{hf_user}/traces"
    assert cfg.yolo_budget_usd is None
    assert cfg.home == Path("/tmp/intern-home")
    assert cfg.resolved_home() == Path("/tmp/intern-home")


def test_ml_intern_model_alias(missing: Path) -> None:
    cfg = load_config(env={"ML_INTERN_MODEL": "ollama/llama3.1:8b"}, user_file=missing)
    assert cfg.model_name == "ollama/llama3.1:8b"


def test_model_alias_is_kept_as_a_string(missing: Path) -> None:
    # The alias is never JSON-parsed: a numeric-looking name stays a string.
    cfg = load_config(env={"ML_INTERN_MODEL": "org/123"}, user_file=missing)
    assert cfg.model_name == "org/123"


def test_unrelated_env_vars_are_ignored(missing: Path) -> None:
    env = {"ML_INTERN_ROUTER_BASE_URL": "http://x", "ML_INTERN_NOT_A_FIELD": "1", "HOME": "/h"}
    cfg = load_config(env=env, user_file=missing)
    assert cfg.model_name == PACKAGED_MODEL


def test_overrides_beat_env_and_file(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"model_name": "vllm/file"})
    cfg = load_config(
        {"model_name": "vllm/override"}, env={"ML_INTERN_MODEL": "vllm/env"}, user_file=user
    )
    assert cfg.model_name == "vllm/override"


def test_each_layer_in_one_go(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"max_iterations": 1, "llm_attempts": 1, "tool_timeout_s": 1})
    env = {"ML_INTERN_LLM_ATTEMPTS": "2", "ML_INTERN_TOOL_TIMEOUT_S": "2"}
    cfg = load_config({"tool_timeout_s": 3}, env=env, user_file=user)
    assert (cfg.max_iterations, cfg.llm_attempts, cfg.tool_timeout_s) == (1, 2, 3)
    assert cfg.continuation_nudges == 2  # from the packaged defaults


# ------------------------------------------------------------- user file path


def test_ml_intern_config_env_selects_the_user_file(tmp_path: Path) -> None:
    user = write(tmp_path / "via-env.json", {"model_name": "vllm/via-env"})
    env = {"ML_INTERN_CONFIG": str(user)}
    assert user_config_path(env) == user
    assert load_config(env=env).model_name == "vllm/via-env"


def test_default_user_path_is_under_dot_config() -> None:
    path = user_config_path({})
    assert path.parts[-3:] == (".config", "ml-intern-jupyter", "config.json")


def test_ml_intern_config_pointing_to_missing_file_is_an_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone.json"
    with pytest.raises(ConfigError) as info:
        load_config(env={"ML_INTERN_CONFIG": str(gone)})
    assert "ML_INTERN_CONFIG" in str(info.value)
    assert str(gone) in str(info.value)


def test_missing_default_user_file_is_fine(missing: Path) -> None:
    assert load_config(env={}, user_file=missing).model_name == PACKAGED_MODEL


def test_user_file_that_is_not_an_object(tmp_path: Path) -> None:
    user = write(tmp_path / "list.json", [1, 2])
    with pytest.raises(ConfigError, match="must contain a JSON object") as info:
        load_config(env={}, user_file=user)
    assert str(user) in str(info.value)


# ----------------------------------------------------------------- substitution


def test_var_substitution(tmp_path: Path) -> None:
    user = write(
        tmp_path / "c.json",
        {
            "model_name": "vllm/${MODEL_SUFFIX}",
            "personal_trace_repo_template": "${ORG:-acme}/${REPO:-runs}",
            "workdir": "${WORK}/sub",
        },
    )
    env = {"MODEL_SUFFIX": "qwen", "REPO": "traces", "WORK": "/data"}
    cfg = load_config(env=env, user_file=user)
    assert cfg.model_name == "vllm/qwen"
    assert cfg.personal_trace_repo_template == "acme/traces"  # default, then value
    assert cfg.workdir == Path("/data/sub")


def test_var_substitution_in_lists_and_nested_objects(tmp_path: Path) -> None:
    user = write(
        tmp_path / "c.json",
        {
            "model_prices": {"${M}": {"input_per_mtok": 1, "output_per_mtok": 1}},
            "retry_transient_waits_s": ["${W1}", "${W2:-0.5}"],
            "model_name": "${A}/${B:-b}",
        },
    )
    cfg = load_config(env={"A": "a", "M": "ignored-in-keys", "W1": "2"}, user_file=user)
    assert cfg.model_name == "a/b"
    assert cfg.retry_transient_waits_s == [2.0, 0.5]
    assert "${M}" in cfg.model_prices  # keys are not substituted, only values


def test_unset_var_without_default_becomes_empty(tmp_path: Path) -> None:
    user = write(
        tmp_path / "c.json", {"model_name": "vllm/m", "personal_trace_repo_template": "${NOPE}x"}
    )
    assert load_config(env={}, user_file=user).personal_trace_repo_template == "x"


def test_empty_var_uses_default(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"personal_trace_repo_template": "${EMPTY:-fallback}"})
    cfg = load_config(env={"EMPTY": ""}, user_file=user)
    assert cfg.personal_trace_repo_template == "fallback"


def test_substitution_to_empty_required_value_names_field_and_file(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"model_name": "${UNSET_MODEL}"})
    with pytest.raises(ConfigError) as info:
        load_config(env={}, user_file=user)
    assert "model_name" in str(info.value)
    assert str(user) in str(info.value)


# ---------------------------------------------------------------------- errors


def test_invalid_json_names_the_file_and_position(tmp_path: Path) -> None:
    user = write(tmp_path / "bad.json", '{"model_name": "x",\n  oops}')
    with pytest.raises(ConfigError) as info:
        load_config(env={}, user_file=user)
    message = str(info.value)
    assert str(user) in message
    assert "not valid JSON" in message
    assert "line 2" in message


def test_unknown_field_in_file_names_field_file_and_valid_fields(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"modle_name": "vllm/x"})
    with pytest.raises(ConfigError) as info:
        load_config(env={}, user_file=user)
    message = str(info.value)
    assert "Unknown config field 'modle_name'" in message
    assert str(user) in message
    assert "model_name" in message  # the list of valid fields


def test_invalid_value_in_file_names_field_and_file(tmp_path: Path) -> None:
    user = write(tmp_path / "c.json", {"llm_attempts": 0})
    with pytest.raises(ConfigError) as info:
        load_config(env={}, user_file=user)
    message = str(info.value)
    assert "'llm_attempts'" in message
    assert str(user) in message
    assert "got 0" in message


def test_invalid_nested_value_names_the_path(tmp_path: Path) -> None:
    user = write(
        tmp_path / "c.json",
        {"model_prices": {"vllm/x": {"input_per_mtok": -1, "output_per_mtok": 1}}},
    )
    with pytest.raises(ConfigError) as info:
        load_config(env={}, user_file=user)
    assert "model_prices.vllm/x.input_per_mtok" in str(info.value)
    assert str(user) in str(info.value)


def test_invalid_env_value_names_the_variable(missing: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"ML_INTERN_REASONING_EFFORT": "extreme"}, user_file=missing)
    message = str(info.value)
    assert "reasoning_effort" in message
    assert "environment variable ML_INTERN_REASONING_EFFORT" in message


def test_invalid_alias_env_value_names_the_alias(missing: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"ML_INTERN_MODEL": ""}, user_file=missing)
    assert "environment variable ML_INTERN_MODEL" in str(info.value)


def test_invalid_override_names_per_session_overrides(missing: Path) -> None:
    with pytest.raises(ConfigError, match="per-session overrides"):
        load_config({"compaction_threshold": 2}, env={}, user_file=missing)


def test_config_error_is_an_intern_error() -> None:
    from ml_intern_jupyter.errors import InternError

    assert issubclass(ConfigError, InternError)


# ----------------------------------------------------------------- the model


def test_config_direct_construction_and_validate_assignment() -> None:
    cfg = Config(model_name="vllm/test-model")
    assert cfg.llm_attempts == 3
    with pytest.raises(ValueError):
        cfg.llm_attempts = 0
    with pytest.raises(ValueError):
        Config(model_name="")
    with pytest.raises(ValueError):
        Config(model_name="x", surprise=1)


def test_with_overrides_returns_validated_copy() -> None:
    cfg = Config(model_name="vllm/a", max_iterations=5)
    new = cfg.with_overrides(model_name="vllm/b", yolo_mode=True)
    assert (new.model_name, new.yolo_mode, new.max_iterations) == ("vllm/b", True, 5)
    assert (cfg.model_name, cfg.yolo_mode) == ("vllm/a", False)  # original untouched


def test_with_overrides_keeps_nested_values() -> None:
    cfg = Config(
        model_name="vllm/a",
        model_prices={"vllm/a": ModelPrice(input_per_mtok=1, output_per_mtok=2)},
    )
    new = cfg.with_overrides(reasoning_effort="low")
    assert new.model_prices == cfg.model_prices
    assert new.reasoning_effort == "low"


def test_with_overrides_rejects_invalid_and_unknown() -> None:
    cfg = Config(model_name="vllm/a")
    with pytest.raises(ConfigError, match="'max_iterations' in per-session overrides"):
        cfg.with_overrides(max_iterations=-5)
    with pytest.raises(ConfigError, match="Unknown config field 'nonsense' in per-session"):
        cfg.with_overrides(nonsense=1)


def test_resolved_home_defaults_to_jupyter_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jdata"))
    cfg = Config(model_name="vllm/a")
    assert cfg.resolved_home() == tmp_path / "jdata" / "ml_intern_jupyter"


def test_resolved_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = Config(model_name="vllm/a", home=Path("~/h"))
    assert cfg.resolved_home() == tmp_path / "h"
