"""`python -m purelink.el_agent` is `purelink el-agent` (the command lives in `purelink.cli.el_agent`)."""

if __name__ == "__main__":
    import sys

    from purelink.cli import module_main

    sys.exit(module_main("el-agent"))
