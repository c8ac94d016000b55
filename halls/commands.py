"""Flask CLI commands: `flask --app wsgi create-indexes`, `seed-demo`."""

import click

from halls import db


def register(app):
    """Attach the commands to the app's CLI."""

    @app.cli.command("create-indexes")
    def create_indexes():
        """Create every index declared in halls.db (safe to repeat)."""
        db.create_indexes(db.database())
        click.echo(f"indexes ensured on {sum(len(m) for m in db.INDEXES.values())} definitions")

    @app.cli.command("seed-demo")
    def seed_demo():
        """Load the demo owner, customer and venues (skipped when they already exist)."""
        from halls import demo

        click.echo(demo.seed_if_empty())
