"""Every public name is documented: the stub of the Rust core (what editors and the API
reference show) and the Python modules."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
import uring_rs

STUB = Path(uring_rs.__file__).parent / "_native.pyi"
# Dunders whose meaning is fixed by Python; the class docstring covers the constructor.
UNDOCUMENTED_DUNDERS = {"__new__", "__eq__", "__hash__", "__init__"}


def _has_docstring(body: list[ast.stmt]) -> bool:
    first = body[0] if body else None
    return (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
        and bool(first.value.value.strip())
    )


def stub_names_without_docstrings() -> list[str]:
    tree = ast.parse(STUB.read_text())
    missing = [] if _has_docstring(tree.body) else ["<module>"]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            if not _has_docstring(node.body):
                missing.append(node.name)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            if not _has_docstring(node.body):
                missing.append(node.name)
            for i, member in enumerate(node.body):
                if isinstance(member, ast.FunctionDef):
                    if member.name in UNDOCUMENTED_DUNDERS:
                        continue
                    if not _has_docstring(member.body):
                        missing.append(f"{node.name}.{member.name}")
                elif (
                    isinstance(member, ast.AnnAssign)
                    and isinstance(member.target, ast.Name)
                    # An attribute's docstring is the string right after it.
                    and not _has_docstring(node.body[i + 1 : i + 2])
                ):
                    missing.append(f"{node.name}.{member.target.id}")
    return missing


def test_every_public_name_of_the_stub_has_a_docstring() -> None:
    assert stub_names_without_docstrings() == []


def test_the_stub_documents_every_public_name_of_the_native_module() -> None:
    # A name exported at runtime but missing from the stub would be undocumented too.
    tree = ast.parse(STUB.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))} | {
        n.target.id
        for n in tree.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }
    assert set(uring_rs._native.__all__) <= stubbed


def python_names_without_docstrings(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    missing = [] if inspect.getdoc(module) else ["<module>"]
    names = getattr(module, "__all__", None) or [
        n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
    ]
    for name in names:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue
        if getattr(obj, "__module__", "").split(".")[0] != "uring_rs":
            continue  # re-exported from elsewhere (typing, ...)
        if getattr(uring_rs._native, name, None) is obj:
            continue  # the Rust core's: see the stub tests and the runtime test below
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr not in {
                    "__enter__",
                    "__exit__",
                    "__aenter__",
                    "__aexit__",
                    "__iter__",
                    "__next__",
                    "__aiter__",
                    "__anext__",
                }:
                    continue
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if (callable(value) or isinstance(value, property)) and not (
                    value.__doc__ or ""
                ).strip():
                    missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize(
    "module_name",
    ["uring_rs", "uring_rs._errors", "uring_rs.ops", "uring_rs.files", "uring_rs.__main__"],
)
def test_every_public_python_name_has_a_docstring(module_name: str) -> None:
    assert python_names_without_docstrings(module_name) == []


def test_every_public_name_of_aio_has_a_docstring() -> None:
    assert python_names_without_docstrings("uring_rs.aio") == []


def native_names_without_runtime_docstrings() -> list[str]:
    """What ``help()`` shows only a signature for: Rust objects without a doc comment."""
    native = uring_rs._native
    missing = []
    for name in native.__all__:
        obj = getattr(native, name)
        if isinstance(obj, int):
            continue
        doc = (obj.__doc__ or "").strip()
        if not doc or doc.startswith(f"{name}("):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_") or not (callable(value) or inspect.isdatadescriptor(value)):
                    continue
                doc = (getattr(value, "__doc__", None) or "").strip()
                if not doc or doc.startswith(f"{attr}("):
                    missing.append(f"{name}.{attr}")
    return missing


def test_every_native_object_has_a_runtime_docstring() -> None:
    assert native_names_without_runtime_docstrings() == []
