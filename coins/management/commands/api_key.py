import argparse
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from core.api_keys import api_key_create, api_key_revoke, api_keys_list


class Command(BaseCommand):
    help = "Create, revoke or list the API keys that read the API (sent as `Authorization: Api-Key <key>`)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="make a key and print it (it is shown only this once)")
        create.add_argument("name", help="whose key it is, e.g. the client's name")
        create.add_argument("--expires", type=_utc_date, help="the last day it works (YYYY-MM-DD, UTC)")
        revoke = actions.add_parser("revoke", help="revoke a key for good, by its prefix (the part before the dot)")
        revoke.add_argument("prefix")
        actions.add_parser("list", help="every key: prefix, name, created, expiry, revoked")

    def handle(self, *args, action: str, **options):
        if action == "create":
            try:
                api_key, key = api_key_create(name=options["name"], expiry_date=options["expires"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stderr.write(f"API key {api_key.prefix} for {api_key.name!r}; store it now, it is not shown again:")
            self.stdout.write(key)
        elif action == "revoke":
            try:
                api_key = api_key_revoke(prefix=options["prefix"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"revoked API key {api_key.prefix} ({api_key.name!r})")
        else:
            for api_key in api_keys_list():
                expiry = api_key.expiry_date.isoformat() if api_key.expiry_date else "never"
                state = "revoked" if api_key.revoked else ("expired" if api_key.has_expired else "active")
                self.stdout.write(
                    f"{api_key.prefix}  {state:<8} expires {expiry}  {api_key.created:%Y-%m-%d}  {api_key.name}"
                )


def _utc_date(value: str) -> datetime:
    """The end of that day, UTC."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from exc
    return day.replace(hour=23, minute=59, second=59, tzinfo=UTC)
