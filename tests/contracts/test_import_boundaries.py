"""No service imports another service's package, and the libraries import none.

A service that reaches into another's modules ties their releases together
(one cannot change alone) and drags the other's dependencies into its
image; code two services need belongs in a library under ``libs/``. The
check reads every module's imports with ``ast`` (lazy imports inside
functions included), so it fails on the first import that crosses a line.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _service_packages() -> dict[str, Path]:
    """Each service's top-level package (from its ``continuum.services`` entry
    point) and its source tree."""
    packages = {}
    for pyproject in sorted(ROOT.glob("services/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        for module in project["entry-points"]["continuum.services"].values():
            packages[module.split(":")[0].split(".")[0]] = pyproject.parent / "src"
    return packages


SERVICES = _service_packages()
LIBRARIES = {
    path.parent.name: path.parent / "src" for path in sorted(ROOT.glob("libs/*/pyproject.toml"))
}


def _imports(tree: Path) -> list[tuple[Path, int, str]]:
    found = []
    for source in sorted(tree.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                found += [(source, node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((source, node.lineno, node.module))
    return found


def _crossings(tree: Path, forbidden: set[str]) -> list[str]:
    return [
        f"{source.relative_to(ROOT)}:{line} imports {module}"
        for source, line, module in _imports(tree)
        if module.split(".")[0] in forbidden
    ]


def test_every_service_is_found() -> None:
    assert set(SERVICES) >= {
        "continuum_gateway",
        "continuum_scheduler",
        "continuum_persona",
        "continuum_genome_registry",
        "continuum_academy",
    }


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_a_service_imports_no_other_service(package: str) -> None:
    others = set(SERVICES) - {package}
    assert _crossings(SERVICES[package], others) == []


@pytest.mark.parametrize("library", sorted(LIBRARIES))
def test_a_library_imports_no_service(library: str) -> None:
    assert _crossings(LIBRARIES[library], set(SERVICES)) == []


@pytest.mark.parametrize("package", ["continuum_gateway", "continuum_scheduler"])
def test_services_without_a_model_do_not_import_the_model_code(package: str) -> None:
    """The gateway and the scheduler do not install continuum-lm (torch)."""
    assert _crossings(SERVICES[package], {"continuum_lm", "torch", "transformers", "peft"}) == []


def test_the_core_library_does_not_import_the_model_library() -> None:
    assert _crossings(LIBRARIES["continuum"], {"continuum_lm"}) == []


def test_the_check_sees_a_crossing(tmp_path: Path) -> None:
    """The check itself: a lazy import inside a function is found."""
    module = tmp_path / "pkg" / "mod.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from continuum_persona.settings import X\n")
    found = [m for _, _, m in _imports(tmp_path)]
    assert found == ["continuum_persona.settings"]
