"""mkdocs hook: the API reference may not silently lose a public name.

Under ``mkdocs build --strict`` every warning fails the build, so this hook warns when

- a module rendered with ``::: module`` exports (``__all__``) a class or function without a
  docstring, or has no module docstring;
- a package of ``clip2nerf`` that declares a public API (``__all__`` in its ``__init__``) is
  rendered on no page.

mkdocstrings itself would render an undocumented name as a bare signature and say nothing.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re

log = logging.getLogger("mkdocs.plugins.clip2nerf_check_api")

DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.MULTILINE)
# Packages with an __all__ that are deliberately not in the reference (internal plumbing).
NOT_PUBLIC = {"clip2nerf.cli", "clip2nerf.utils"}

_rendered: set[str] = set()


def undocumented(module_name: str) -> list[str]:
    """The problems of one rendered module: missing docstrings of what it exports."""
    module = importlib.import_module(module_name)
    problems = [] if inspect.getdoc(module) else [f"{module_name} has no module docstring"]
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if obj is None:
            problems.append(f"{module_name}.__all__ names {name!r}, which it does not define")
        elif (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            problems.append(f"{module_name}.{name} is exported but has no docstring")
    return problems


def public_packages() -> list[str]:
    """Every clip2nerf (sub)package or module whose ``__init__`` declares ``__all__``."""
    import clip2nerf

    found = ["clip2nerf"]
    for info in pkgutil.iter_modules(clip2nerf.__path__, "clip2nerf."):
        if info.ispkg and info.name not in NOT_PUBLIC:
            if hasattr(importlib.import_module(info.name), "__all__"):
                found.append(info.name)
    return found


def on_page_markdown(markdown, page, config, files):
    for module_name in DIRECTIVE.findall(markdown):
        _rendered.add(module_name)
        for problem in undocumented(module_name):
            log.warning("%s: %s", page.file.src_path, problem)
    return markdown


def on_post_build(config):
    missing = [p for p in public_packages() if p not in _rendered]
    if missing:
        log.warning("public packages with no API reference page: %s", ", ".join(missing))
