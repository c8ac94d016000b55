"""Flask CLI commands (`flask --app wsgi <name>`): create-indexes, seed-demo, set-admin,
send-outbox, wallet-reconcile, expire-holds, migrate, export, import."""

import datetime as dt

import click

from halls import db, mail


def register(app):
    """Attach the commands to the app's CLI."""

    @app.cli.command("create-indexes")
    def create_indexes():
        """Create every index declared in halls.db (safe to repeat)."""
        db.create_indexes(db.database())
        click.echo(f"indexes ensured on {sum(len(m) for m in db.INDEXES.values())} definitions")

    @app.cli.command("seed-demo")
    def seed_demo():
        """Load the demo data: accounts, venues, six months of bookings (once)."""
        from halls import demo

        click.echo(demo.seed_if_empty())

    @app.cli.command("set-admin")
    @click.argument("email")
    @click.option("--revoke", is_flag=True, help="Take the administrator role away instead.")
    def set_admin(email, revoke):
        """Make the account with EMAIL an administrator (no endpoint can: it is a shell step)."""
        from halls.auth import service as auth
        from halls.errors import NotFound

        try:
            auth.set_admin(email, revoke=revoke)
        except NotFound as error:
            raise click.ClickException(f"No account has the email {email}.") from error
        click.echo(f"{email} is {'no longer' if revoke else 'now'} an administrator")

    @app.cli.command("send-outbox")
    @click.option("--limit", default=500, show_default=True, help="Most messages to try.")
    def send_outbox(limit):
        """Deliver queued mail and retry failed mail whose wait is over (run it from cron)."""
        if not app.config.get("SMTP_HOST"):
            waiting = db.outbox().count_documents({"status": {"$in": ["queued", "failed"]}})
            raise click.ClickException(
                f"SMTP_HOST is not set; {waiting} messages wait in the outbox."
            )
        counts = mail.send_outbox(limit)
        click.echo(f"sent {counts['sent']}, failed {counts['failed']}, gave up {counts['gave_up']}")

    @app.cli.command("wallet-reconcile")
    @click.option(
        "--older-than",
        type=click.IntRange(min=1),
        default=10,
        show_default=True,
        help="Minutes an entry must sit untouched (a live request may still own a younger one).",
    )
    def wallet_reconcile(older_than):
        """Finish or void wallet movements a crash left half-done, and pay the refunds of
        cheaper moves a crash cut off (run it from cron)."""
        from halls.bookings import maintenance
        from halls.wallet import service as wallet

        older_than = dt.timedelta(minutes=older_than)
        counts = wallet.reconcile(older_than=older_than)
        counts["move refunds"] = maintenance.repair_move_refunds(older_than=older_than)
        click.echo(", ".join(f"{name} {count}" for name, count in counts.items()))

    @app.cli.command("expire-holds")
    def expire_holds():
        """Expire pending bookings past their hold; complete those whose day is over; free the
        claims a crash left held with no booking needing them; delete the claims of dates over
        everywhere (run it from cron)."""
        from halls.bookings import claims, maintenance

        expired = maintenance.expire_holds()
        completed = maintenance.complete_bookings()
        freed = claims.sweep_orphans()
        deleted = claims.delete_past()
        click.echo(
            f"expired {expired}, completed {completed}, freed {freed} orphaned claims,"
            f" deleted {deleted} past claims"
        )

    @app.cli.command("migrate")
    def migrate():
        """Bring bookings stored in an older shape to today's (safe to repeat)."""
        from halls.bookings.migrate import CHANGES, migrate_bookings

        counts = migrate_bookings()
        changes = ", ".join(f"{counts[field]} {what}" for field, what in CHANGES.items())
        report = f"migrated {counts['migrated']} bookings: {changes}; {counts['left']} left"
        if counts["left"]:
            raise click.ClickException(f"{report} in an older shape that migrate cannot read")
        click.echo(report)

    @app.cli.command("export")
    @click.argument("directory", type=click.Path(file_okay=False))
    def export(directory):
        """Write every collection to DIRECTORY as Extended JSON Lines (a backup)."""
        from halls import backup

        counts = backup.export_all(directory)
        click.echo(_counts("exported", counts, directory))

    @app.cli.command("import")
    @click.argument("directory", type=click.Path(exists=True, file_okay=False))
    def import_(directory):
        """Restore an export from DIRECTORY into this database, which must be empty."""
        from halls import backup

        try:
            counts = backup.import_all(directory)
        except backup.BackupError as error:
            raise click.ClickException(str(error)) from error
        click.echo(_counts("imported", counts, directory))


def _counts(verb, counts, directory):
    total = sum(counts.values())
    return f"{verb} {total} documents in {len(counts)} collections ({directory})"
