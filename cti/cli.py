"""``cti``: the command line. The one place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from cti import config as config_mod
from cti.app import serve
from cti.errors import AsteriskUnreachable, ConfigError, CtiError
from cti.masking import MaskingFilter

EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_ERROR = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cti", description="Contact-center engine on Asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the engine")
    run.add_argument("--config", required=True, help="TOML configuration file")
    run.add_argument("--http-port", type=int, help="override http.port")
    run.add_argument("--log-level", help="override log_level")
    args = parser.parse_args(argv)

    overrides: dict[tuple[str, str], Any] = {}
    if args.http_port is not None:
        overrides[("http", "port")] = args.http_port
    if args.log_level is not None:
        overrides[("", "log_level")] = args.log_level
    try:
        cfg = config_mod.load(args.config, overrides=overrides)
        _setup_logging(cfg.log_level)
        asyncio.run(serve(cfg))
    except ConfigError as exc:
        print(f"cti: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AsteriskUnreachable as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except CtiError as exc:
        print(f"cti: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 0
    return 0


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
