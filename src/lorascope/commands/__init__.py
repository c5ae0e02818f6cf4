"""CLI commands that live outside cli.py; cli.py registers each on the Typer app."""
