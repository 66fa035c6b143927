"""The `augment` command."""

from __future__ import annotations

import argparse

import augment


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="augment", description=augment.__doc__)
    parser.add_argument("--version", action="version", version=f"augment {augment.__version__}")
    parser.parse_args(argv)
    parser.print_help()


if __name__ == "__main__":
    main()
