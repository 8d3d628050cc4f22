from django.core.management.base import BaseCommand

from etl.services import listings_rematch


class Command(BaseCommand):
    help = (
        "Run identity again over every stored listing with the current rules and move those it places on "
        "another coin, their quotes with them. Listings an operator confirmed or re-pointed are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print what would move; change nothing")

    def handle(self, *args, dry_run: bool, **options):
        moves = listings_rematch(dry_run=dry_run)
        for move in moves:
            self.stdout.write(str(move))
        verb = "would move" if dry_run else "moved"
        self.stdout.write(f"{len(moves)} listing(s) {verb}")
