"""``sttune plugins list|show|check|new``: what is installed, whether it keeps the contract, new ones."""

from __future__ import annotations

import inspect
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sttune.cli.common import out, pip_program, print_error, print_json, program, user_errors
from sttune.outcome.jsonout import envelope

plugins_app = typer.Typer(help="List, inspect, check and create plugins.", no_args_is_help=True)


def _describe(kind: str, name: str) -> dict:
    from sttune.cli.space_preview import describe_space
    from sttune.errors import PluginError
    from sttune.registry import discovery as plugins

    info = plugins.discover(kind)[name]  # a name two distributions register: its error below, in place
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

    from sttune.registry import discovery as plugins

    rows = [_listed(kind, name) for kind in plugins.GROUPS for name in sorted(plugins.discover(kind))]
    if json_output:
        print_json(envelope("plugins list", plugins=rows))
        return
    table = Table(title="installed plugins")
    for col in ("name", "kind", "distribution", "entry point", "description"):
        table.add_column(col)
    described: set[str] = set()
    for r in rows:  # a distribution's description once, at its first plugin
        text = r["error"] or ("" if r["distribution"] in described else r["description"]) or "-"
        described.add(r["distribution"])
        table.add_row(r["name"], r["kind"], f"{r['distribution']} {r['version']}", r["target"], text)
    out.print(table)
    out.print("`sttune plugins show NAME` imports a plugin and prints its params and search space", highlight=False)


def _listed(kind: str, name: str) -> dict:
    """A plugin as its entry point declares it: listing imports no plugin (a slow or broken
    one costs nothing here; `show` and `check` import)."""
    from sttune.errors import PluginError
    from sttune.registry import discovery as plugins

    found = plugins.discover(kind)[name]
    row = {"name": name, "kind": kind, "distribution": found.distribution, "version": found.version,
           "target": found.target, "description": found.summary, "error": None}
    try:
        plugins.info(kind, name)  # a name two distributions register: its error, in place
    except PluginError as exc:
        row["error"] = exc.one_line()
    return row


@plugins_app.command("show")
@user_errors
def show_plugin(name: Annotated[str, typer.Argument(help="Plugin name (any kind).")]) -> None:
    """One plugin: its package, params with defaults, and search space."""
    from sttune.errors import PluginError
    from sttune.registry import discovery as plugins

    kinds = [k for k in plugins.GROUPS if name in plugins.discover(k)]
    if not kinds:
        names = sorted({n for k in plugins.GROUPS for n in plugins.discover(k)})
        raise PluginError(f"no plugin named '{name}'", f"installed: {', '.join(names)}")
    for kind in kinds:
        row = _describe(kind, name)
        out.print(f"[bold]{name}[/] ({kind}) from {row['distribution']} {row['version']} · {row['target']}")
        if row["error"]:
            print_error(row["error"])  # one line on a pipe, whatever its length
            raise typer.Exit(2)
        if row.get("doc"):
            out.print(row["doc"], highlight=False)
        for param, default in row.get("params", {}).items():
            out.print(f"  param {param} = {default}", highlight=False)
        for param, rng in row["space"].items():
            out.print(f"  searches {param} in {rng}", highlight=False)


_MARKS = {"pass": "[green]✓ pass[/]", "fail": "[red]✗ fail[/]", "skip": "[yellow]– skip[/]"}


class Kind(StrEnum):
    """The plugin kinds (sttune.registry.discovery.GROUPS), as choices on the command line."""

    strategy = "strategy"
    model = "model"
    dataset = "dataset"


def _kinds_of(name: str, kind: str | None) -> list[str]:
    from sttune.errors import PluginError
    from sttune.registry import discovery as plugins

    wanted = [kind] if kind else list(plugins.GROUPS)
    if kind is not None and kind not in plugins.GROUPS:
        raise PluginError(f"unknown plugin kind '{kind}'", f"use one of {', '.join(plugins.GROUPS)}")
    kinds = [k for k in wanted if name in plugins.discover(k)]
    if not kinds:
        names = sorted({n for k in wanted for n in plugins.discover(k)})
        raise PluginError(f"no {kind or 'plugin'} named '{name}'", f"installed: {', '.join(names)}")
    return kinds


def check_params(kind: str, name: str, params: dict[str, Any]) -> None:
    """``params`` must fit the plugin's signature (models take their ModelSpec first)."""
    from sttune.registry import discovery as plugins
    from sttune.registry.build import bind_params

    bind_params(plugins.load(kind, name), params, f"{kind} '{name}'", 1 if kind == "model" else 0)


def _parse_params(text: str | None) -> dict[str, Any]:
    from sttune.errors import SttuneError

    if text is None:
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SttuneError(f"--params is not valid JSON: {exc}", """e.g. --params '{"path": "data.csv"}'""") from None
    if not isinstance(params, dict):
        raise SttuneError("--params must be a JSON object", """e.g. --params '{"path": "data.csv"}'""")
    return params


@plugins_app.command("check")
@user_errors
def check_plugin(
    name: Annotated[str, typer.Argument(help="Plugin name (any kind).")],
    kind: Annotated[Kind | None, typer.Option("--kind", help="Which kind, when a name has several.")] = None,
    params: Annotated[str | None, typer.Option("--params", help="Constructor / loader params as a JSON object.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run sttune's plugin contract on an installed plugin; exit 1 if any check fails."""
    from rich.table import Table

    from sttune.testing import run_contract

    given = _parse_params(params)
    kinds = _kinds_of(name, None if kind is None else kind.value)
    for k in kinds if given else []:  # a misspelt param: one line (exit 2), not a table of failed checks
        check_params(k, name, given)
    results = {k: run_contract(k, name, given) for k in kinds}
    failed = sum(r.status == "fail" for rows in results.values() for r in rows)
    if json_output:
        print_json(envelope("plugins check", name=name, checks={k: [r.to_dict() for r in rows] for k, rows in results.items()}))
    for k, rows in ({} if json_output else results).items():
        table = Table(title=f"contract of {k} '{name}'")
        for col in ("check", "result", "detail"):
            table.add_column(col)
        for r in rows:
            table.add_row(r.check, _MARKS[r.status], r.detail or "-")
        out.print(table)
        counts = {s: sum(r.status == s for r in rows) for s in _MARKS}
        out.print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped", highlight=False)
        for r in rows:  # each failure once more as one unwrapped line: what to fix, greppable in a log
            if r.status == "fail":
                out.print(f"✗ {r.check}: {r.detail}", soft_wrap=True, markup=False, highlight=False)
    if failed:
        raise typer.Exit(1)


@plugins_app.command("new")
@user_errors
def new_plugin(
    name: Annotated[str, typer.Argument(help="Plugin name: ASCII letters, digits and single underscores (a letter first), also the entry-point name.")],
    kind: Annotated[Kind, typer.Option("--kind", help="What the plugin is.")],
    directory: Annotated[Path | None, typer.Option("--dir", help="Target folder (default: ./sttune-NAME).")] = None,
) -> None:
    """Write a plugin package skeleton that installs and passes the contract as generated."""
    from sttune.cli.scaffold import write_skeleton

    target, files = write_skeleton(name, kind.value, directory)
    out.print(f"wrote {kind.value} plugin '{name}' in {target}:", highlight=False)
    for path in files:
        out.print(f"  {path.relative_to(target)}", highlight=False)
    out.print(f"next: {pip_program()} install -e {target} && {program()} plugins check {name} && pytest {target}",
              highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
