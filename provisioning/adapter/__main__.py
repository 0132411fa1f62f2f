"""``python -m provisioning.adapter --config /etc/blazon-adapter/adapter.toml``"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from provisioning.adapter.config import ConfigError, config_load
from provisioning.adapter.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provisioning.adapter",
        description="Blazon resource adapter: pull provisioning entries, execute them, report.",
    )
    parser.add_argument("--config", required=True, help="the TOML configuration file")
    parser.add_argument("--once", action="store_true", help="run one round and exit")
    parser.add_argument("--iterations", type=int, default=None, help="run this many rounds and exit")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = config_load(args.config)
        runtime = Runtime(config)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"blazon-adapter: {exc}", file=sys.stderr)
        return 2

    def _stop(signum: int, frame: object) -> None:
        logging.getLogger("blazon.adapter").info("signal %s: stopping after this step", signum)
        runtime.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        runtime.run(iterations=1 if args.once else args.iterations)
    finally:
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
