"""Check that persistent memory works on this machine: one line per check, exit 1 on a failure.

    python scripts/test_memory_setup.py                       # defaults: local embedder, local Qdrant
    python scripts/test_memory_setup.py --config team.yaml    # the memory section of a team config
    python scripts/test_memory_setup.py --qdrant-server localhost:6333

Checks: API keys, embedder, extraction LLM, Qdrant (local folder or server), and a full
record -> retrieve round trip in a throw-away collection.  ``massmem doctor`` runs the same
checks through :func:`massmem.memory.doctor.check_memory_setup`.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="team config file (or @examples/NAME) whose memory section to check")
    parser.add_argument("--qdrant-server", metavar="HOST:PORT", help="check a Qdrant server instead")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library log messages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(name)s: %(message)s")

    from massmem.config.schema import PersistentMemoryConfig, QdrantConfig
    from massmem.memory.doctor import check_memory_setup, checks_passed, format_checks

    if args.config:
        from massmem.config import load_config
        from massmem.errors import ConfigError

        try:
            pconfig = load_config(args.config).memory.persistent_memory
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
    else:
        pconfig = PersistentMemoryConfig(enabled=True)
    if args.qdrant_server:
        host, _, port = args.qdrant_server.partition(":")
        pconfig = pconfig.model_copy(
            update={"qdrant": QdrantConfig(mode="server", host=host, port=int(port or 6333))}
        )
    checks = check_memory_setup(pconfig)
    print(format_checks(checks))
    ok = checks_passed(checks)
    print("memory setup: OK" if ok else "memory setup: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
