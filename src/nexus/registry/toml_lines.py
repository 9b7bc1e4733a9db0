"""Where each table, key and array element of a TOML document starts.

`tomllib` returns values without positions, and a configuration error is only
useful with its line. This scanner walks the structure of a document that
`tomllib` has already accepted and records the 1-based line of every path,
e.g. ``("products", 2, "owner")`` or ``("producers", "job_sync")``. It does not
decode values, only skips over them.
"""

from __future__ import annotations

import json

Key = tuple[str | int, ...]

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(",]}\n#")


def key_lines(text: str) -> dict[Key, int]:
    """Map every path of a valid TOML document to the line it starts on."""
    return _Scanner(text).run()


def line_of(lines: dict[Key, int], path: Key) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return None


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: dict[Key, int] = {}
        # How many elements each array of tables has so far, so `[[products]]`
        # headers get indexes and `[products.x]` refers to the latest element.
        self.table_arrays: dict[Key, int] = {}

    def run(self) -> dict[Key, int]:
        table: Key = ()
        while True:
            self._skip(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            start = self.line
            if self.text.startswith("[[", self.pos):
                self._advance(2)
                table = self._resolve(self._key(), new_element=True)
                self._record_all(table, start)
                self._skip_past("]]")
            elif self.text.startswith("[", self.pos):
                self._advance(1)
                table = self._resolve(self._key(), new_element=False)
                self._record_all(table, start)
                self._skip_past("]")
            else:
                self._pair(table)

    def _pair(self, table: Key) -> None:
        start = self.line
        path = table + self._key()
        self._record_all(path, start)
        self._skip()
        if self.text.startswith("=", self.pos):
            self._advance(1)
        self._skip()
        self._value(path)

    def _resolve(self, key: Key, *, new_element: bool) -> Key:
        path: Key = ()
        for n, part in enumerate(key):
            path += (part,)
            if new_element and n == len(key) - 1:
                index = self.table_arrays.get(path, 0)
                self.table_arrays[path] = index + 1
                path += (index,)
            elif path in self.table_arrays:
                path += (self.table_arrays[path] - 1,)
        return path

    def _record_all(self, path: Key, line: int) -> None:
        for end in range(1, len(path) + 1):
            self.lines.setdefault(path[:end], line)

    def _value(self, path: Key) -> None:
        text = self.text
        if text.startswith('"""', self.pos) or text.startswith("'''", self.pos):
            self._multiline_string(text[self.pos])
        elif text.startswith('"', self.pos):
            self._basic_string()
        elif text.startswith("'", self.pos):
            end = text.find("'", self.pos + 1)
            self._advance((end if end >= 0 else len(text)) + 1 - self.pos)
        elif text.startswith("[", self.pos):
            self._array(path)
        elif text.startswith("{", self.pos):
            self._inline_table(path)
        else:
            while self.pos < len(text) and text[self.pos] not in _SCALAR_END:
                self._advance(1)

    def _array(self, path: Key) -> None:
        self._advance(1)
        index = 0
        while self.pos < len(self.text):
            self._skip(newlines=True)
            if self.text.startswith("]", self.pos):
                self._advance(1)
                return
            self._record_all((*path, index), self.line)
            self._value((*path, index))
            self._skip(newlines=True)
            if self.text.startswith(",", self.pos):
                self._advance(1)
            index += 1

    def _inline_table(self, path: Key) -> None:
        self._advance(1)
        while self.pos < len(self.text):
            self._skip(newlines=True)
            if self.text.startswith("}", self.pos):
                self._advance(1)
                return
            self._pair(path)
            self._skip(newlines=True)
            if self.text.startswith(",", self.pos):
                self._advance(1)

    def _basic_string(self) -> str:
        start = self.pos
        self._advance(1)
        while self.pos < len(self.text) and self.text[self.pos] not in '"\n':
            self._advance(2 if self.text[self.pos] == "\\" else 1)
        self._advance(1)
        raw = self.text[start : self.pos]
        try:
            decoded = json.loads(raw)
        except ValueError:
            # TOML escapes JSON lacks (\e, \U0001F600): the raw text is close enough for a key.
            return raw[1:-1]
        return decoded if isinstance(decoded, str) else raw[1:-1]

    def _multiline_string(self, quote: str) -> None:
        delimiter = quote * 3
        self._advance(3)
        while self.pos < len(self.text):
            if quote == '"' and self.text[self.pos] == "\\":
                self._advance(2)
            elif self.text.startswith(delimiter, self.pos):
                self._advance(3)
                # Up to two quotes may end the content right before the delimiter.
                for _ in range(2):
                    if self.text.startswith(quote, self.pos):
                        self._advance(1)
                return
            else:
                self._advance(1)

    def _key(self) -> Key:
        parts: list[str | int] = []
        while True:
            self._skip()
            if self.text.startswith('"', self.pos):
                parts.append(self._basic_string())
            elif self.text.startswith("'", self.pos):
                end = self.text.find("'", self.pos + 1)
                parts.append(self.text[self.pos + 1 : end])
                self._advance(end + 1 - self.pos)
            else:
                start = self.pos
                while self.pos < len(self.text) and self.text[self.pos] in _BARE:
                    self._advance(1)
                parts.append(self.text[start : self.pos])
            self._skip()
            if not self.text.startswith(".", self.pos):
                return tuple(parts)
            self._advance(1)

    def _skip(self, *, newlines: bool = False) -> None:
        """Skip spaces, tabs and comments (and line ends when `newlines`)."""
        skippable = " \t\r\n" if newlines else " \t\r"
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in skippable:
                self._advance(1)
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self._advance((end if end >= 0 else len(self.text)) - self.pos)
            else:
                return

    def _skip_past(self, token: str) -> None:
        self._skip()
        if self.text.startswith(token, self.pos):
            self._advance(len(token))

    def _advance(self, count: int) -> None:
        end = min(self.pos + count, len(self.text))
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end
