"""What a source file imports, read from its syntax tree (nothing is run): for the tests that
hold the project's layers apart."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT_CALLS = {"import_module", "__import__", "import_string", "find_spec", "get_model"}


def _package_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] != "__init__" else parts[:-1]


def imported_names(source: str, path: Path) -> set[str]:
    """Every module the source could import, anywhere in it (function bodies included):
    `import x`, `from x import y` (relative ones resolved), calls of importlib.import_module,
    __import__, import_string, find_spec or apps.get_model (also under another name) with a
    string, "app.Model" strings such as lazy ForeignKeys, and `getattr(m, "import_module")`."""
    tree = ast.parse(source)
    callers = set(IMPORT_CALLS)
    for node in ast.walk(tree):  # names the import functions are bound to: `as im`, `im = ...`
        if isinstance(node, ast.ImportFrom | ast.Import):
            for alias in node.names:
                if alias.name.split(".")[-1] in IMPORT_CALLS or alias.name == "importlib":
                    callers.add(alias.asname or alias.name)
        elif isinstance(node, ast.Assign):
            value = node.value
            bound = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", "")
            if bound in callers:
                callers.update(t.id for t in node.targets if isinstance(t, ast.Name))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path)
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}".lstrip(".") for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in callers:
                for arg in node.args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        names.add(arg.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            parts = node.value.split(".")
            if len(parts) > 1 and all(part.isidentifier() for part in parts):
                names.add(node.value)  # "feeds.models", "accounts.Company"
            elif node.value in IMPORT_CALLS:
                names.add(f"<dynamic import through getattr: {node.value}>")
    return names


def offenders(folders: list[str], forbidden: set[str]) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in imported_names(path.read_text(encoding="utf-8"), path):
                if name.split(".")[0] in forbidden or name.startswith("<dynamic"):
                    found.append(f"{path.relative_to(ROOT)}: {name}")
    return found
