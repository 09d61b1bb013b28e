"""The ``sttune`` command line. Start-up imports no torch: ``sttune --help`` stays fast."""

from __future__ import annotations

import typer

from sttune.cli import export_cmd, plugins_cmd, report_cmd, search_cmd, train_cmd, worker_cmd

app = typer.Typer(
    name="sttune",
    help="Tune data-efficient training strategies for spatio-temporal forecasting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from sttune import __version__

        typer.echo(f"sttune {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Tune data-efficient training strategies for spatio-temporal forecasting."""


# each command module defines its commands; they are put on the app here, in this order
for _commands in (export_cmd, plugins_cmd, report_cmd, search_cmd, train_cmd, worker_cmd):
    _commands.register(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
