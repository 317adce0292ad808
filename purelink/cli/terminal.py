"""Questions and answers on a terminal, for `purelink el-agent`: prompts with completion as you
type (prompt_toolkit, else readline), hidden input for keys, and plain lines when stdin is not a
terminal (so answers can be piped in). `back` and `quit` at any question raise `Back` / `Quit`.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any


class Back(Exception):
    """The user typed `back`."""


class Quit(Exception):
    """The user typed `quit`, or input ended."""


class Terminal:
    """Questions and answers on a terminal (or on piped lines when there is none)."""

    def __init__(self, stdin=None, stdout=None) -> None:
        self.stdin, self.out = stdin or sys.stdin, stdout or sys.stdout
        self.tty = self.stdin.isatty() and self.out.isatty()

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _line(self, prompt: str) -> str:
        if self.tty:
            try:
                return input(prompt)
            except EOFError:
                raise Quit from None
        self.out.write(prompt)
        self.out.flush()
        line = self.stdin.readline()
        if not line:
            raise Quit
        return line.rstrip("\n")

    def ask(self, prompt: str, default: Any = None, choices: list[str] | None = None, completer=None) -> str:
        hint = f" ({'/'.join(choices)})" if choices else ""
        shown = "" if default in (None, "") else f" [{default}]"
        text = f"{prompt}{hint}{shown}: "
        while True:
            answer = (self._complete(text, completer) if completer else self._line(text)).strip()
            if answer.lower() == "back":
                raise Back
            if answer.lower() in ("quit", "exit"):
                raise Quit
            if answer.lower() in ("help", "?") and not any(c.startswith(answer.lower()) for c in choices or []):
                enter = "" if default in (None, "") else f" (Enter alone: {default})"
                among = f" One of: {', '.join(choices)}." if choices else ""
                self.say(f"  Type your answer and press Enter{enter}.{among} At any question, `back` returns to the "
                         "stage before and `quit` stops here (`purelink el-agent --resume` goes on from this stage).")
                continue
            answer = answer or ("" if default is None else str(default))
            if not choices or answer in choices:
                return answer
            found = [c for c in choices if c.startswith(answer.lower())]
            if len(found) == 1:
                return found[0]
            self.say(f"  please answer one of: {', '.join(choices)}")

    def yes(self, prompt: str, default: bool = True) -> bool:
        while True:
            answer = self.ask(prompt + (" [Y/n]" if default else " [y/N]")).lower()
            if answer in ("", "y", "yes", "n", "no"):
                return answer in ("y", "yes") or (default and not answer)
            self.say("  please answer y or n")

    def secret(self, prompt: str) -> str:
        if not self.tty:
            return self._line(prompt)
        try:
            return getpass.getpass(prompt)
        except EOFError:
            raise Quit from None

    def _complete(self, prompt: str, suggest) -> str:
        """A prompt that completes from `suggest(text) -> [Suggestion]` while typing."""
        if not self.tty:
            return self._line(prompt)
        try:
            from prompt_toolkit import prompt as pt_prompt
            from prompt_toolkit.completion import Completer, Completion
        except ImportError:
            return self._readline(prompt, suggest)

        class Sources(Completer):
            def get_completions(self, document, complete_event):
                text = document.text_before_cursor
                for s in suggest(text):
                    yield Completion(s.title, start_position=-len(text), display=s.label)

        try:
            return pt_prompt(prompt, completer=Sources(), complete_while_typing=True)
        except EOFError:
            raise Quit from None
        except KeyboardInterrupt:
            raise Quit from None

    def _readline(self, prompt: str, suggest) -> str:
        try:
            import readline
        except ImportError:
            return self._line(prompt)
        matches: list[str] = []

        def complete(text: str, state: int) -> str | None:
            if state == 0:
                matches[:] = [s.title for s in suggest(text)]
            return matches[state] if state < len(matches) else None

        readline.set_completer(complete)
        readline.parse_and_bind("tab: complete")
        try:
            return self._line(prompt)
        finally:
            readline.set_completer(None)
