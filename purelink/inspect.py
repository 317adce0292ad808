"""`python -m purelink.inspect` is `purelink inspect` (the command lives in `purelink.cli.inspect`)."""

if __name__ == "__main__":
    import sys

    from purelink.cli import module_main

    sys.exit(module_main("inspect"))
