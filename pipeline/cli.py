"""The ``kansenkaart`` command line: one subcommand per job.

Thin on purpose: parse options, call one stage function, print a summary. Exit codes:
0 ok, 2 bad input or usage (message on stderr, no traceback), 1 internal error.
Heavy modules are imported inside the commands so ``kansenkaart --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pipeline.errors import KansenkaartError

app = typer.Typer(
    name="kansenkaart",
    help="Kansenkaart Flexwonen: find where temporary homes can be realised quickly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage the users of the service.", no_args_is_help=True)
app.add_typer(users_app, name="users")
registers_app = typer.Typer(
    help="The match's registries: sites on offer and batches of relocatable homes.",
    no_args_is_help=True,
)
app.add_typer(registers_app, name="registers")
db_app = typer.Typer(help="The service database (KANSENKAART_DATABASE).", no_args_is_help=True)
app.add_typer(db_app, name="db")

console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn user errors into a clear message and exit code 2 (never a traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KansenkaartError as exc:
            console.print(
                f"[bold red]error:[/] {escape(str(exc))}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted; nothing was written[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


SourcesOpt = Annotated[
    Path,
    typer.Option("--sources", "-s", help="The sources.yaml that says where each input is."),
]


@app.command()
@friendly_errors
def sample(
    preset: Annotated[
        str, typer.Option(help="demo (seconds) or province (Zuid-Holland size).")
    ] = "demo",
    out: Annotated[
        Path, typer.Option(help="Output folder (created; must be empty or a previous sample).")
    ] = Path("data/raw/demo"),
    seed: Annotated[int, typer.Option(help="Random seed; same seed = same files.")] = 42,
) -> None:
    """Generate a synthetic province in the real published formats, with its sources.yaml."""
    from pipeline.sample import run_sample_command

    run_sample_command(out, preset=preset, seed=seed, console=console)


@app.command()
@friendly_errors
def check(sources: SourcesOpt = Path("data/raw/sources.yaml")) -> None:
    """Validate the inputs only; exit 2 with every problem listed when something is wrong."""
    from pipeline.catalog import run_check_command

    run_check_command(sources, console=console)


@app.command()
@friendly_errors
def scan(
    sources: SourcesOpt = Path("data/raw/sources.yaml"),
    gemeente: Annotated[
        list[str] | None,
        typer.Option(
            "--gemeente", "-g", help="Only these municipality codes (GM0599); repeatable."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Scan configuration YAML (default: the shipped one).")
    ] = None,
    out: Annotated[Path, typer.Option(help="The result GeoPackage.")] = Path(
        "data/processed/kansenkaart.gpkg"
    ),
    scenario: Annotated[
        str | None,
        typer.Option(help="A named preset of weights and rules from the config's 'scenarios'."),
    ] = None,
) -> None:
    """Score plots and buildings for the three opportunity types and write the result GeoPackage."""
    from pipeline.scan_command import run_scan_command

    run_scan_command(
        sources,
        gemeenten=gemeente or None,
        config_path=config,
        out=out,
        console=console,
        scenario=scenario,
    )


@app.command()
@friendly_errors
def fetch(
    gemeente: Annotated[
        str, typer.Option("--gemeente", "-g", help="The municipality's CBS code, e.g. GM0599.")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the files and sources.yaml (created).")],
    config: Annotated[
        Path | None,
        typer.Option(help="Service URLs and collections (default: the shipped fetch.yaml)."),
    ] = None,
) -> None:
    """Download one municipality's BAG, parcels and boundary from PDOK's OGC API Features."""
    from pipeline.fetch import run_fetch_command

    run_fetch_command(gemeente, out, config_path=config, console=console)


@app.command()
@friendly_errors
def diff(
    old: Annotated[Path, typer.Argument(help="The older result GeoPackage.")],
    new: Annotated[Path, typer.Argument(help="The newer result GeoPackage.")],
    out: Annotated[
        Path | None,
        typer.Option(help="GeoPackage with the layer 'verschillen' (default: NEW_diff.gpkg)."),
    ] = None,
    gemeente: Annotated[
        list[str] | None,
        typer.Option("--gemeente", "-g", help="Only these municipality codes; repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows shown on the terminal.")] = 40,
) -> None:
    """Sites that appeared, disappeared or changed tier between two runs, and the criteria why."""
    from pipeline.analysis_commands import run_diff_command

    run_diff_command(old, new, out=out, gemeenten=gemeente or None, limit=limit, console=console)


@app.command()
@friendly_errors
def report(
    gemeente: Annotated[
        str, typer.Option("--gemeente", "-g", help="The municipality, e.g. GM0599.")
    ],
    result: Annotated[Path, typer.Option(help="The result GeoPackage.")] = Path(
        "data/processed/kansenkaart.gpkg"
    ),
    out: Annotated[
        Path | None,
        typer.Option(help="The HTML file (default: rapport_GMxxxx.html next to the result)."),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write the PDF.")] = True,
    top: Annotated[int, typer.Option(help="Best sites listed per type.")] = 10,
) -> None:
    """A confidential report of one municipality: one self-contained HTML file and a PDF."""
    from pipeline.analysis_commands import run_report_command

    run_report_command(result, gemeente=gemeente, out=out, pdf=pdf, top=top, console=console)


@app.command()
@friendly_errors
def sensitivity(
    result: Annotated[Path, typer.Option(help="The result GeoPackage (updated in place).")] = Path(
        "data/processed/kansenkaart.gpkg"
    ),
    draws: Annotated[int, typer.Option(help="Random weight sets.")] = 100,
    spread: Annotated[float, typer.Option(help="Each weight × U(1 − spread, 1 + spread).")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed; same seed = same draws.")] = 42,
    gemeente: Annotated[
        list[str] | None,
        typer.Option("--gemeente", "-g", help="Only these municipality codes; repeatable."),
    ] = None,
    write: Annotated[
        bool, typer.Option("--write/--dry-run", help="Store 'stabiliteit' in the result.")
    ] = True,
) -> None:
    """How often each site keeps its tier when the weights move (seeded random draws)."""
    from pipeline.analysis_commands import run_sensitivity_command

    run_sensitivity_command(
        result,
        draws=draws,
        spread=spread,
        seed=seed,
        gemeenten=gemeente or None,
        write=write,
        console=console,
    )


@app.command()
@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the api and the web map (settings from KANSENKAART_* environment variables)."""
    from api.cli import run_serve_command

    run_serve_command(host=host, port=port, console=console)


@app.command()
@friendly_errors
def publish(
    result: Annotated[Path, typer.Argument(help="The result GeoPackage of `kansenkaart scan`.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="PostgreSQL database with PostGIS, e.g. postgresql://kansenkaart@db:5432/kansenkaart "
            "(keep the password in PGPASSWORD or ~/.pgpass).",
        ),
    ],
) -> None:
    """Load a result into PostGIS and make it the one the services serve (one transaction)."""
    from api.cli import run_publish_command

    run_publish_command(result, to=to, console=console)


@app.command()
@friendly_errors
def match(
    registers: Annotated[
        Path | None,
        typer.Option(help="Folder with aanbod.* and partijen.* (and registers.yaml)."),
    ] = None,
    aanbod: Annotated[
        Path | None, typer.Option(help="Sites on offer (GeoPackage, GeoJSON or CSV).")
    ] = None,
    partijen: Annotated[
        Path | None, typer.Option(help="Batches of relocatable homes (GeoPackage, GeoJSON or CSV).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Match configuration YAML (default: the shipped one).")
    ] = None,
    gemeente: Annotated[
        list[str] | None,
        typer.Option("--gemeente", "-g", help="Only chains touching these municipalities."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the plan as JSON (the api's answer).")
    ] = None,
) -> None:
    """Plan batches of relocatable homes along chains of sites on offer ("treintjes")."""
    from pipeline.match.command import run_match_command

    run_match_command(
        registers=registers,
        aanbod=aanbod,
        partijen=partijen,
        config_path=config,
        gemeenten=gemeente,
        json_out=json_out,
        console=console,
    )


@registers_app.command("sample")
@friendly_errors
def registers_sample(
    result: Annotated[Path, typer.Option(help="The result GeoPackage of a scanned sample.")],
    out: Annotated[
        Path, typer.Option(help="Folder for aanbod.gpkg, partijen.gpkg, registers.yaml.")
    ],
    seed: Annotated[int, typer.Option(help="Random seed; same seed = same registries.")] = 42,
    offers: Annotated[
        int | None, typer.Option(help="Sites on offer (default 40; 500 for a province).")
    ] = None,
    batches: Annotated[
        int | None, typer.Option(help="Batches (default 12; 200 for a province).")
    ] = None,
) -> None:
    """Write plausible registries for a synthetic province from its scan's temporary sites."""
    from pipeline.match.command import run_registers_sample_command

    run_registers_sample_command(
        result=result, out=out, seed=seed, n_offers=offers, n_batches=batches, console=console
    )


@db_app.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Create or migrate the service database to the newest schema (safe to repeat)."""
    from api.cli import run_db_upgrade_command

    run_db_upgrade_command(console=console)


@db_app.command("revision")
@friendly_errors
def db_revision(
    message: Annotated[str, typer.Argument(help="What the migration does, e.g. 'site statuses'.")],
) -> None:
    """For developers: write a new migration from the table definitions (api/README.md)."""
    from api.cli import run_db_revision_command

    run_db_revision_command(message, console=console)


@registers_app.command("load")
@friendly_errors
def registers_load(
    registers: Annotated[
        Path | None,
        typer.Option(help="Folder with aanbod.* and partijen.* (e.g. from registers sample)."),
    ] = None,
    aanbod: Annotated[
        Path | None, typer.Option(help="Sites on offer (GeoPackage, GeoJSON or CSV).")
    ] = None,
    partijen: Annotated[
        Path | None, typer.Option(help="Batches of relocatable homes (GeoPackage, GeoJSON or CSV).")
    ] = None,
) -> None:
    """Replace the registries in the service database (KANSENKAART_DATABASE) with these files."""
    from api.cli import run_registers_load_command

    run_registers_load_command(
        registers=registers, aanbod=aanbod, partijen=partijen, console=console
    )


@app.command("demo-serve", hidden=False)
@friendly_errors
def demo_serve(
    result: Annotated[Path, typer.Option(help="The result GeoPackage to serve.")] = Path(
        "data/processed/kansenkaart.gpkg"
    ),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Development mode: create demo accounts (printed) and serve the map on localhost."""
    from api.cli import run_demo_serve_command

    run_demo_serve_command(result=result, host=host, port=port, console=console)


@users_app.command("add")
@friendly_errors
def users_add(
    email: str,
    role: Annotated[str, typer.Option(help="beleidsmaker, provincie, analist or beheerder.")],
    gemeente: Annotated[
        list[str] | None, typer.Option("--gemeente", "-g", help="Municipality code; repeatable.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user (the password is read from stdin or prompted, never taken from the command line)."""
    from api.cli import users_add as _add

    _add(email, role=role, gemeenten=gemeente or [], password_stdin=password_stdin, console=console)


@users_app.command("list")
@friendly_errors
def users_list() -> None:
    """List the users."""
    from api.cli import users_list as _list

    _list(console=console)


@users_app.command("disable")
@friendly_errors
def users_disable(email: str) -> None:
    """Disable a user; their sessions and tokens stop working at once."""
    from api.cli import users_disable as _disable

    _disable(email, console=console)


@users_app.command("reset-password")
@friendly_errors
def users_reset_password(
    email: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password; the user's sessions are revoked."""
    from api.cli import users_reset_password as _reset

    _reset(email, password_stdin=password_stdin, console=console)


def main() -> None:
    """Console-script entry point; unexpected errors exit with code 1."""
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # pragma: no cover - last resort
        console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        console.print("This is a bug; please report it with the command you ran.")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
