import threading

from django.core.management.base import BaseCommand, CommandError

from devtools.faults import FAULT_PARAMS, fault_spec_parse
from devtools.source_server import SourceServer


class Command(BaseCommand):
    help = "Serve made-up CoinPaprika and CoinCap APIs on this machine, faults optional, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8900, help="port (default 8900; 0 picks a free one)")
        parser.add_argument("--coins", type=int, default=2000, help="coins each API lists (default 2000)")
        parser.add_argument("--seed", type=int, default=7, help="random seed of the coin universe (default 7)")
        parser.add_argument("--api-key", default=None, help="the only CoinCap key accepted (default: any key)")
        parser.add_argument(
            "--fault",
            action="append",
            default=[],
            metavar="SOURCE:KIND[:k=v,...]",
            help=f"inject a fault (repeatable), e.g. coincap:status:code=503,times=2; kinds: {', '.join(FAULT_PARAMS)}",
        )

    def handle(
        self, *args, host: str, port: int, coins: int, seed: int, api_key: str | None, fault: list[str], **options
    ):
        if coins < 1:
            raise CommandError("--coins must be at least 1")
        server = SourceServer(host=host, port=port, coins=coins, seed=seed, api_key=api_key)
        try:
            for spec in fault:
                server.add_fault(fault_spec_parse(spec=spec))
        except ValueError as exc:
            raise CommandError(f"--fault {spec}: {exc}") from exc
        try:
            server.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write(f"COINPAPRIKA_BASE_URL={server.coinpaprika_url}")
        self.stdout.write(f"COINCAP_BASE_URL={server.coincap_url}")
        self.stdout.write("serving; Ctrl-C stops", self.style.NOTICE)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
