"""The ``sttune`` command line. Start-up imports no torch: ``sttune --help`` stays fast."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer import _click
from typer.core import TyperGroup

from sttune.cli import export_cmd, plugins_cmd, report_cmd, search_cmd, train_cmd, worker_cmd
from sttune.cli.common import print_error


class OneLineUsageErrors(TyperGroup):
    """A bad option or argument is one line too (``error: <what>. <how to fix>``, exit 2),
    like every other user error, instead of a framed box that wraps at the terminal's width."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _click.exceptions.NoArgsIsHelpError as exc:  # `sttune` alone: the help page, as asked
            exc.show()
            sys.exit(exc.exit_code)
        except _click.exceptions.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "sttune"
            print_error(f"{exc.format_message().rstrip('.')}. see '{where} --help'")
            sys.exit(exc.exit_code)
        except _click.exceptions.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            sys.stderr.write("Aborted!\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="sttune",
    cls=OneLineUsageErrors,
    help="Tune data-efficient training strategies for spatio-temporal forecasting.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"sttune {version('sttune')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Tune data-efficient training strategies for spatio-temporal forecasting."""


# each command module defines its commands; they are put on the app here, in this order
for _commands in (export_cmd, plugins_cmd, report_cmd, search_cmd, train_cmd, worker_cmd):
    _commands.register(app)

# an example at the foot of each command's --help (the commands whose docstring has none)
EXAMPLES = {
    "train": "sttune train recipes/quickstart.yaml --epochs 2",
    "worker": "sttune worker recipe.yaml --storage postgresql://user:pw@db/sttune --worker-index 3",
    "list": "sttune plugins list --json",
    "show": "sttune plugins show st_prune",
    "check": "sttune plugins check st_prune",
    "new": "sttune plugins new my_prune --kind strategy",
}


def _add_examples(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        name = info.name or (info.callback.__name__ if info.callback else "")
        if name in EXAMPLES and info.epilog is None:
            info.epilog = f"Example: [bold]{EXAMPLES[name]}[/]"
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _add_examples(group.typer_instance)


_add_examples(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
