"""The layers import only downwards: core ← db ← services ← defs/cli, and only defs/ and the
CLI import dagster. Read from the source, so an import hidden inside a function counts too."""

import ast
from pathlib import Path

import pytest

from pm_pipeline.core.detection import DEFERRED_NUMERICS

PACKAGE = Path(__file__).resolve().parents[1] / "pm_pipeline"
FORBIDDEN = {
    "core": (
        "dagster",
        "pm_pipeline.db",
        "pm_pipeline.services",
        "pm_pipeline.defs",
        "pm_pipeline.cli",
        "pm_pipeline.config",
        "sqlalchemy",
    ),
    "db": ("dagster", "pm_pipeline.services", "pm_pipeline.defs", "pm_pipeline.cli"),
    "services": ("dagster", "pm_pipeline.defs", "pm_pipeline.cli"),
    "config/settings.py": (
        "dagster",
        "pm_pipeline.db",
        "pm_pipeline.services",
        "pm_pipeline.defs",
        "pm_pipeline.cli",
    ),
    **dict.fromkeys(
        ("config/source_settings.py", "config/alert_settings.py", "config/setting_field.py"),
        (
            "dagster",
            "pm_pipeline.db",
            "pm_pipeline.services",
            "pm_pipeline.defs",
            "pm_pipeline.cli",
            "pm_pipeline.config.settings",
        ),
    ),
    "config/robots.py": (
        "dagster",
        "pm_pipeline.db",
        "pm_pipeline.services",
        "pm_pipeline.defs",
        "pm_pipeline.cli",
    ),
}


def imported_modules(path: Path, top_level_only: bool = False) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = [*tree.body, *_typing_only(tree)] if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def _typing_only(tree: ast.Module) -> list[ast.stmt]:
    """The statements of a module-level ``if TYPE_CHECKING:``: imports for the type checker
    alone (such as ``_typeshed``, which does not exist at run time), at the top of the file."""
    return [
        statement
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
    ]


def layer_files(layer: str) -> list[Path]:
    target = PACKAGE / layer
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    files = layer_files(layer)
    assert files, f"no files in layer {layer}"
    offences = [
        f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        for path in files
        for line, module in imported_modules(path)
        if any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN[layer])
    ]
    assert not offences, "\n".join(offences)


def test_only_defs_and_cli_import_dagster() -> None:
    allowed = ("defs", "cli", "definitions.py")
    offences = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in allowed
        for line, module in imported_modules(path)
        if module == "dagster" or module.startswith(("dagster.", "dagster_"))
    ]
    assert not offences, "dagster imported outside defs/ and cli/: " + ", ".join(offences)


def test_core_imports_sit_at_the_top_of_each_file() -> None:
    # An import of our own inside a function hides a cycle; core has none to hide. SciPy and
    # scikit-learn may wait for the function that needs them (core/detection's docstring),
    # and a retraining's forkserver preloads each of them (DEFERRED_NUMERICS).
    offences, deferred = [], set()
    for path in layer_files("core"):
        everywhere = imported_modules(path)
        top = imported_modules(path, top_level_only=True)
        inside = set(everywhere) - set(top)
        offences += [
            f"{path.relative_to(PACKAGE)}:{line}"
            for line, module in inside
            if module.split(".")[0] == "pm_pipeline"
        ]
        deferred |= {module for _, module in inside if module.split(".")[0] != "pm_pipeline"}
    assert not offences, "imports inside functions: " + ", ".join(sorted(offences))
    assert deferred == set(DEFERRED_NUMERICS)


def test_core_has_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in layer_files("core"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        graph[name.removesuffix(".__init__")] = {
            module for _, module in imported_modules(path) if module.startswith("pm_pipeline.core")
        }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join([*visiting, node])
        visiting.append(node)
        for target in graph.get(node, ()):
            visit(target)
        visiting.pop()
        done.add(node)

    for node in graph:
        visit(node)


def test_core_is_split_into_sub_packages() -> None:
    flat = [p.name for p in (PACKAGE / "core").glob("*.py") if p.name != "__init__.py"]
    packages = {p.name for p in (PACKAGE / "core").iterdir() if (p / "__init__.py").is_file()}
    assert {"parsing", "model", "detection", "evaluation", "views"} <= packages
    assert len(flat) <= 3, f"core/ should hold sub-packages, not modules: {flat}"
