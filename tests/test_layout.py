"""The layout keeps the architecture: layers import downwards only, no module cycles, faces on top,
`summarizers/` and `cache/` free of `cockpit`, and everything headless importable without textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cockpit", "summarizers", "cache", "themes")
# Lower numbers are lower layers; a module imports its own package or a lower layer.
LAYERS = (
    (0, ("cache",)),
    (1, ("summarizers", "themes")),
    (2, ("cockpit.paths", "cockpit.core")),
    (3, ("cockpit.spend",)),
    (4, ("cockpit.service",)),
    (5, ("cockpit.jobs", "cockpit.twin")),
    (6, ("cockpit.scenarios",)),
    (7, ("cockpit.faces.cli", "cockpit.faces.mcp", "cockpit.faces.tui")),
    (8, ("cockpit.__main__",)),
)
# The CLI is how a user starts the other two faces: it may import them, inside the command that starts them.
LAUNCHES = {("cockpit.faces.cli", "cockpit.faces.tui.app"), ("cockpit.faces.cli", "cockpit.faces.mcp")}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(module imported, at the top level of the file) for every first-party import, lazy ones too."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as the top level
        if isinstance(node, ast.If):
            top |= {id(n) for n in node.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]
        for name in names:
            while name not in known and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in known:
                found.append((name, id(node) in top))
    return found


def layer_of(module: str) -> tuple[int, str]:
    for level, prefixes in LAYERS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                return level, prefix
    return -1, module  # a package's __init__ (cockpit itself): no code


GRAPH = {name: imports(path, set(modules())) for name, path in modules().items()}


def test_layers_import_downwards_and_faces_only_launch_each_other():
    wrong = []
    for module, targets in GRAPH.items():
        mine, my_group = layer_of(module)
        for target, at_top in targets:
            theirs, their_group = layer_of(target)
            if target == module or theirs == -1 or their_group == my_group:
                continue
            if (module, target) in LAUNCHES and not at_top:
                continue
            if theirs >= mine:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_import_cycles_between_modules():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target, _ in GRAPH[node]:
            if target == node:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in GRAPH:
        if node not in index:
            visit(node)
    assert cycles == []


def test_summarizers_and_cache_know_nothing_of_cockpit():
    wrong = [f"{m} -> {t}" for m, targets in GRAPH.items() if m.split(".")[0] in ("summarizers", "cache")
             for t, _ in targets if t.startswith("cockpit")]
    assert wrong == []


def test_headless_faces_and_the_core_run_without_textual(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "mod.py").write_text('"""A module."""\n\ndef f():\n    return 1\n')
    script = f"""
import importlib, importlib.abc, sys
class NoTextual(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "textual" or name.startswith("textual."):
            raise ImportError("textual is not to be imported here")
sys.meta_path.insert(0, NoTextual())
for name in {sorted(m for m in GRAPH if layer_of(m)[0] in (0, 1, 2, 3, 4, 5, 6) and m != "themes")!r}:
    importlib.import_module(name)
import cockpit.faces.mcp
from click.testing import CliRunner
from cockpit.faces.cli import main
result = CliRunner().invoke(main, ["summarize", {str(tmp_path / "repo")!r}, "-q"])
assert result.exit_code == 0, result.output
result = CliRunner().invoke(main, ["context", "the module", "--repo", {str(tmp_path / "repo")!r}, "-q"])
assert result.exit_code == 0 and "mod.py" in result.output, result.output
assert "textual" not in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_short_commands_load_only_what_they_use(tmp_path):
    """`cockpit` itself loads no numerical, UI, LLM or MCP stack; `context` adds only what it needs."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "mod.py").write_text('"""A module."""\n\ndef f():\n    return 1\n')
    heavy = ["scipy", "numpy", "textual", "anthropic", "mcp", "sqlite_utils", "tree_sitter", "tiktoken", "rich"]
    script = f"""
import sys
import cockpit.faces.cli
print(sorted(m for m in {heavy!r} if m in sys.modules))
from click.testing import CliRunner
from cockpit.faces.cli import main
root = {str(tmp_path / "repo")!r}
assert CliRunner().invoke(main, ["summarize", root, "-q"]).exit_code == 0
for name in {heavy!r}:
    sys.modules.pop(name, None)
result = CliRunner().invoke(main, ["context", "the module", "--repo", root, "-q"])
assert result.exit_code == 0, result.output
print(sorted(m for m in ["scipy", "textual", "anthropic", "mcp", "sqlite_utils"] if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["[]", "[]"]


def test_the_command_line_offers_the_pyramid_s_levels():
    from cockpit.core.pyramid import LEVELS
    from cockpit.faces import cli

    assert cli.LEVELS == LEVELS
