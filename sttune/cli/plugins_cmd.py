"""``sttune plugins list|show``: what is installed, from which package, and what it searches."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer

from sttune.cli import app
from sttune.cli.common import err, out, print_json, user_errors

plugins_app = typer.Typer(help="List and inspect installed plugins.", no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")


def _describe(kind: str, name: str) -> dict:
    from sttune import plugins
    from sttune.errors import PluginError
    from sttune.spaces import describe_space

    info = plugins.info(kind, name)
    row = {"name": name, "kind": kind, "distribution": info.distribution, "version": info.version,
           "target": info.target, "space": {}, "error": None}
    try:
        obj = plugins.load(kind, name)
        row["space"] = describe_space(obj) if kind != "dataset" else {}
        row["doc"] = (inspect.getdoc(obj) or "").split("\n\n")[0]
        row["params"] = _params(obj, kind)
    except PluginError as exc:
        row["error"] = exc.one_line()
    return row


def _params(obj: object, kind: str) -> dict[str, str]:
    skip = 1 if kind == "model" else 0  # models take the ModelSpec first
    params = list(inspect.signature(obj).parameters.values())[skip:]
    return {p.name: ("required" if p.default is p.empty else repr(p.default))
            for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


@plugins_app.command("list")
@user_errors
def list_plugins(
    json_output: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Every installed strategy, model and dataset plugin."""
    from rich.table import Table

    from sttune import plugins

    rows = [_describe(kind, name) for kind in plugins.GROUPS for name in sorted(plugins.discover(kind))]
    if json_output:
        print_json(rows)
        return
    table = Table(title="installed plugins")
    for col in ("name", "kind", "distribution", "search space"):
        table.add_column(col)
    for r in rows:
        space = r["error"] or ", ".join(sorted(r["space"])) or "-"
        table.add_row(r["name"], r["kind"], f"{r['distribution']} {r['version']}", space)
    out.print(table)


@plugins_app.command("show")
@user_errors
def show_plugin(name: Annotated[str, typer.Argument(help="Plugin name (any kind).")]) -> None:
    """One plugin: its package, params with defaults, and search space."""
    from sttune import plugins
    from sttune.errors import PluginError

    kinds = [k for k in plugins.GROUPS if name in plugins.discover(k)]
    if not kinds:
        names = sorted({n for k in plugins.GROUPS for n in plugins.discover(k)})
        raise PluginError(f"no plugin named '{name}'", f"installed: {', '.join(names)}")
    for kind in kinds:
        row = _describe(kind, name)
        out.print(f"[bold]{name}[/] ({kind}) from {row['distribution']} {row['version']} · {row['target']}")
        if row["error"]:
            err.print(f"error: {row['error']}")
            raise typer.Exit(2)
        if row.get("doc"):
            out.print(row["doc"], highlight=False)
        for param, default in row.get("params", {}).items():
            out.print(f"  param {param} = {default}", highlight=False)
        for param, rng in row["space"].items():
            out.print(f"  searches {param} in {rng}", highlight=False)
