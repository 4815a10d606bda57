"""Render a host's intended configuration from Jinja2 templates chosen by platform and role.

A templates directory holds ``<platform>/<role>.j2`` and ``<platform>/default.j2`` (the
Nornir platform, e.g. ``cisco_iosxe/spine.j2``); the first that exists is used, and it may
``{% include %}`` or ``{% extends %}`` any other file of the directory. Undefined variables
are errors (``StrictUndefined``): a template never renders half a config silently.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from nornir.core.inventory import Host

from nornflow.config.exceptions import TemplateError


def template_candidates(platform: str | None, role: str | None) -> list[str]:
    names = [f"{platform}/{role}.j2"] if role else []
    return [*names, f"{platform}/default.j2"]


def host_context(host: Host) -> dict[str, Any]:
    """What a template sees: ``host`` (name, hostname, platform, groups, data) and the data merged."""
    data = dict(host.items())  # host data, then its groups', then the defaults'
    return {
        "host": {
            "name": host.name, "hostname": host.hostname, "platform": host.platform,
            "groups": [g.name for g in host.groups], "data": data, **data,
        },
        **data,
    }


def _template_line(exc: BaseException, directory: Path) -> tuple[str | None, int | None]:
    """The template file and line a render error came from (Jinja keeps them in the traceback)."""
    found: tuple[str | None, int | None] = (None, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path.suffix == ".j2" or directory in path.parents:
            try:
                found = (str(path.relative_to(directory)), frame.lineno)
            except ValueError:
                found = (str(path), frame.lineno)
    return found


class Renderer:
    """Templates from one directory, rendered per host."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser().resolve()
        if not self.directory.is_dir():
            raise TemplateError(f"templates directory {self.directory} does not exist")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.directory)), undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False,  # noqa: S701 - device config, not HTML
        )

    def template_for(self, host: Host) -> str:
        candidates = template_candidates(host.platform, host.get("role"))
        for name in candidates:
            if (self.directory / name).is_file():
                return name
        raise TemplateError(
            f"no template for host {host.name!r} (platform {host.platform}, role {host.get('role')}): "
            f"looked for {', '.join(candidates)} in {self.directory}"
        )

    def sources(self, host: Host) -> set[str]:
        """Every template file ``host``'s intended config depends on, by name relative to the directory.

        The candidates up to the one used (adding ``<platform>/<role>.j2`` changes what a host that
        used ``default.j2`` renders) and everything the used one includes, extends or imports, at any
        depth. A reference computed at render time cannot be followed: then the host depends on ``*``
        (every template). A host with no template depends on its candidates.
        """
        candidates = template_candidates(host.platform, host.get("role"))
        used = next((n for n in candidates if (self.directory / n).is_file()), None)
        if used is None:
            return set(candidates)
        found = set(candidates[:candidates.index(used) + 1])
        todo = [used]
        while todo:
            name = todo.pop()
            try:
                source = (self.directory / name).read_text(encoding="utf-8")
                referenced = list(jinja2.meta.find_referenced_templates(self.env.parse(source)))
            except (OSError, jinja2.TemplateSyntaxError):
                continue  # a missing include or a broken file fails the render itself, naming it
            for child in referenced:
                if child is None:
                    found.add("*")
                elif child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def hosts_using(self, hosts: Iterable[Host], changed: Iterable[str]) -> list[str]:
        """Names of the hosts whose intended config depends on any of the ``changed`` template files."""
        wanted = {Path(name).as_posix().removeprefix("./") for name in changed}
        return [host.name for host in hosts if (uses := self.sources(host)) & wanted or ("*" in uses and wanted)]

    def render(self, host: Host) -> str:
        """The intended configuration of ``host``; :class:`TemplateError` names template, line and host."""
        name = self.template_for(host)
        try:
            text = self.env.get_template(name).render(**host_context(host))
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or name}:{exc.lineno}"
            raise TemplateError(f"template {_short(where, self.directory)} does not parse: {exc.message} "
                                f"(rendering host {host.name!r})") from None
        except jinja2.TemplateError as exc:
            file, line = _template_line(exc, self.directory)
            where = f"{file or name}:{line}" if line else (file or name)
            raise TemplateError(f"template {where} failed for host {host.name!r}: {exc} "
                                f"(add the value to the host's inventory data or guard it in the template)"
                                ) from None
        return "\n".join(ln.rstrip() for ln in text.splitlines() if ln.strip()) + "\n"


def _short(where: str, directory: Path) -> str:
    prefix = str(directory) + "/"
    return where[len(prefix):] if where.startswith(prefix) else where
