"""Where MLflow lives: registry URIs and UI links, as pure functions."""

from __future__ import annotations

from prompt_review.tracking import Tracking, registry_uri_for


def test_the_registry_is_the_tracking_store_except_on_databricks() -> None:
    assert registry_uri_for("http://mlflow:5000", {}) == "http://mlflow:5000"
    assert registry_uri_for("sqlite:///x.db", {}) == "sqlite:///x.db"
    assert registry_uri_for("databricks", {}) == "databricks-uc"
    assert registry_uri_for("databricks://profile", {}) == "databricks-uc"
    assert registry_uri_for("databricks", {"MLFLOW_REGISTRY_URI": "databricks"}) == "databricks"


def test_links_use_the_routes_of_the_pinned_ui() -> None:
    tracking = Tracking(
        uri="http://mlflow:5000",
        display_uri="http://mlflow:5000",
        ui_url="http://mlflow:5000/",
        experiment_id="7",
        experiment_name="qa",
        embedded=False,
        client=None,
    )
    base = "http://mlflow:5000/#/experiments/7"
    assert tracking.link("prompt", "capital", "3") == f"{base}/prompts/capital?promptVersion=3"
    assert tracking.link("run", "abc") == f"{base}/runs/abc"
    assert tracking.link("model", "m-1") == f"{base}/models/m-1"
    assert tracking.link("trace", "tr-1") == f"{base}/traces/tr-1"
    assert tracking.link("evaluation", "abc") == f"{base}/evaluation-runs?selectedRunUuid=abc"
    assert tracking.link("unknown", "x") is None
    local = Tracking(
        uri="sqlite:///x",
        display_uri="sqlite:///x",
        ui_url=None,
        experiment_id="1",
        experiment_name="qa",
        embedded=True,
        client=None,
    )
    assert local.link("run", "abc") is None
