"""One MLflow pin set: what users install is what the tests run, the image ships and the team
server runs. Each pin is read from its file, so a bump that misses one fails here."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the 3.10 CI job
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def exact_pin(requirements: list[str], name: str, where: str) -> str:
    """The version of the one ``name==X`` among ``requirements``; fail on a range or none."""
    found = [Requirement(r) for r in requirements if Requirement(r).name.lower() == name]
    assert len(found) == 1, f"{where}: expected one {name} requirement, got {found}"
    (spec,) = list(found[0].specifier) or [None]
    assert spec is not None and spec.operator == "==", f"{where}: {found[0]} is not an exact pin"
    return spec.version


def pin_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def pins() -> dict[str, str]:
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    return {
        "pyproject.toml dependencies (mlflow-skinny)": exact_pin(
            project["dependencies"], "mlflow-skinny", "dependencies"
        ),
        "pyproject.toml [ui] (mlflow)": exact_pin(extras["ui"], "mlflow", "[ui]"),
        "pyproject.toml [test] (mlflow)": exact_pin(extras["test"], "mlflow", "[test]"),
        "docker/constraints.txt (mlflow-skinny)": exact_pin(
            pin_lines(ROOT / "docker" / "constraints.txt"), "mlflow-skinny", "constraints"
        ),
        "deploy/requirements.txt (mlflow)": exact_pin(
            pin_lines(ROOT / "deploy" / "requirements.txt"), "mlflow", "deploy"
        ),
    }


def test_every_file_pins_the_same_mlflow() -> None:
    found = pins()

    assert len(set(found.values())) == 1, f"MLflow pins drifted: {found}"


@pytest.mark.parametrize("package", ["mlflow-skinny", "mlflow", "mlflow-tracing"])
def test_the_installed_mlflow_is_the_pinned_one(package: str) -> None:
    """The suite must run the version users get: a stale venv or a loose pin fails here."""
    (pinned,) = set(pins().values())
    try:
        installed = version(package)
    except PackageNotFoundError:
        pytest.fail(f"{package} is not installed: pip install -e '.[test]' brings {pinned}")

    assert installed == pinned, (
        f"{package} {installed} is installed but the pins say {pinned}: reinstall with "
        "pip install -e '.[test]'"
    )
