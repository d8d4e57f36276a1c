"""Split a whole G-code text into lines, commands and numeric words at once, as arrays.

One compiled pass over the text's UTF-8 bytes reads the lines `gcode.words.split_line` would
read plainly; any line it is not certain to read the same way is marked DEFER for split_line.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gcode.jit import numba

# what a line is, per line (int8)
BLANK = 0  # nothing, or a comment with no text
COMMENT = 1  # a comment with text, no command
COMMAND = 2  # a command (`command`), its words in `values`/`mask`
DEFER = 3  # read it with gcode.words.split_line (quotes, parentheses, checksums, odd text)

# the words the reader acts on, in this order in `values` and as bits of `mask`
LETTERS = "XYZEFSTR"
# a command as one number: letter index × COMMAND_SPAN + its whole number
COMMAND_LETTERS = "GMT"
COMMAND_SPAN = 100_000

_MAX_EXACT = 2**53  # below this, digits / 10**k is the correctly rounded decimal (as float())
_POWERS_OF_TEN = np.array([10.0**k for k in range(23)])  # exact in binary64 up to 10**22


def command_code(command: str) -> int:
    """`G1` → its code; -1 for a command this scheme cannot number (`G29.1`, `G-1`)."""
    letter, digits = command[:1], command[1:]
    if letter in COMMAND_LETTERS and digits.isascii() and digits.isdigit():
        number = int(digits)
        if number < COMMAND_SPAN:
            return COMMAND_LETTERS.index(letter) * COMMAND_SPAN + number
    return -1


@numba.njit(cache=True, nogil=True)
def _line_bounds(
    text: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end byte of each line, split where `str.splitlines` splits: \\n, \\r, \\r\\n,
    \\v, \\f, \\x1c-\\x1e, U+0085, U+2028, U+2029; a break at the end opens no new line."""
    n = text.shape[0]
    count = 0
    for pass_ in range(2):
        if pass_ == 1:
            starts = np.empty(count, np.int64)
            ends = np.empty(count, np.int64)
        count = 0
        start = 0
        i = 0
        while i < n:
            b = text[i]
            width = 0
            if b == 10 or b == 11 or b == 12 or b == 28 or b == 29 or b == 30:
                width = 1
            elif b == 13:
                width = 2 if i + 1 < n and text[i + 1] == 10 else 1
            elif b == 0xC2 and i + 1 < n and text[i + 1] == 0x85:
                width = 2
            elif (
                b == 0xE2
                and i + 2 < n
                and text[i + 1] == 0x80
                and (text[i + 2] == 0xA8 or text[i + 2] == 0xA9)
            ):
                width = 3
            if width:
                if pass_ == 1:
                    starts[count] = start
                    ends[count] = i
                count += 1
                i += width
                start = i
            else:
                i += 1
        if start < n:
            if pass_ == 1:
                starts[count] = start
                ends[count] = n
            count += 1
    return starts, ends


@numba.njit(cache=True, inline="always")
def _blank(b: int) -> bool:
    return b == 32 or b == 9


@numba.njit(cache=True, inline="always")
def _upper(b: int) -> int:
    return b - 32 if 97 <= b <= 122 else b


@numba.njit(cache=True, inline="always")
def _is_letter(b: int) -> bool:
    return 65 <= b <= 90 or 97 <= b <= 122


@numba.njit(cache=True, nogil=True)
def _scan_lines(
    text: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    slot_of_letter: npt.NDArray[np.int64],
    powers_of_ten: npt.NDArray[np.float64],
) -> tuple[
    npt.NDArray[np.int8],
    npt.NDArray[np.bool_],
    npt.NDArray[np.int32],
    npt.NDArray[np.int32],
    npt.NDArray[np.float64],
]:
    lines = starts.shape[0]
    kind = np.zeros(lines, np.int8)
    commented = np.zeros(lines, np.bool_)
    command = np.full(lines, -1, np.int32)
    mask = np.zeros(lines, np.int32)
    values = np.zeros((lines, 8), np.float64)
    for line in range(lines):
        s, e = starts[line], ends[line]
        code_end = e
        for j in range(s, e):
            if text[j] == 59:  # ';'
                code_end = j
                break
        odd = False
        for j in range(code_end + 1, e):
            b = text[j]
            if b >= 127 or (b < 32 and b != 9):
                odd = True  # unicode or control characters: let str.strip() judge
            elif not _blank(b):
                commented[line] = True
        if odd:
            kind[line] = DEFER
            continue
        # words: letter, blanks, [+-] digits [. digits] | [+-] . digits
        i = s
        words = 0
        seen = 0  # bits of the letters A-Z given so far (after the command)
        state = COMMAND  # until something tells otherwise
        while True:
            while i < code_end and _blank(text[i]):
                i += 1
            if i >= code_end:
                break
            letter = text[i]
            if not _is_letter(letter):
                state = DEFER
                break
            letter = _upper(letter)
            i += 1
            while i < code_end and _blank(text[i]):
                i += 1
            negative = False
            signed = False
            if i < code_end and (text[i] == 43 or text[i] == 45):
                negative = text[i] == 45
                signed = True
                i += 1
            digits = 0
            mantissa = 0
            fraction_digits = 0
            point = False
            too_long = False
            while i < code_end:
                b = text[i]
                if 48 <= b <= 57:
                    digits += 1
                    if mantissa >= _MAX_EXACT // 10:
                        too_long = True
                    else:
                        mantissa = mantissa * 10 + (b - 48)
                    if point:
                        fraction_digits += 1
                elif b == 46 and not point:
                    point = True
                else:
                    break
                i += 1
            if digits == 0 or too_long or fraction_digits > 22:
                state = DEFER
                break
            if i < code_end and not (_blank(text[i]) or _is_letter(text[i])):
                state = DEFER  # "1.2.3", "1-2": split_line names the unreadable text
                break
            value = float(mantissa)
            if fraction_digits:
                value = value / powers_of_ten[fraction_digits]
            if negative:
                value = -value
            if words == 0 and letter == 78:  # 'N': a line number, not a word
                words = -1  # the next word is the command
                continue
            if words <= 0:
                index = 0 if letter == 71 else 1 if letter == 77 else 2 if letter == 84 else -1
                if index < 0 or signed or (point and letter != 71):
                    state = DEFER
                    break
                whole = mantissa
                for _ in range(fraction_digits):
                    if whole % 10:
                        whole = -1
                        break
                    whole //= 10
                if whole < 0 or whole >= COMMAND_SPAN:
                    state = DEFER  # G29.1 and the like: split_line names them
                    break
                command[line] = index * COMMAND_SPAN + whole
                words = 1
                continue
            bit = 1 << (letter - 65)
            if seen & bit:
                state = DEFER
                break
            seen |= bit
            slot = slot_of_letter[letter - 65]
            if slot >= 0:
                mask[line] |= 1 << slot
                values[line, slot] = value
            words += 1
        if state == DEFER:
            kind[line] = DEFER
            command[line] = -1
            mask[line] = 0
        elif words == 0:
            kind[line] = COMMENT if commented[line] else BLANK
        elif words < 0:
            kind[line] = DEFER  # a line number alone: split_line refuses it
            command[line] = -1
        else:
            kind[line] = COMMAND
    return kind, commented, command, mask, values


def _slot_of_letter() -> npt.NDArray[np.int64]:
    slots = np.full(26, -1, np.int64)
    for slot, letter in enumerate(LETTERS):
        slots[ord(letter) - 65] = slot
    return slots


_SLOTS = _slot_of_letter()
_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines breaks but \n


class Scanned:
    """Per line (n,): what it is (`kind`), whether its comment has text, its command code
    (-1 for none), which of LETTERS it gives (`mask` bits) and their values (n, 8) in mm,
    units of E, mm/min or as written."""

    def __init__(self, text: str) -> None:
        data = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
        self.data = data
        if any(mark in text for mark in _OTHER_BREAKS):
            self.starts, self.ends = _line_bounds(data)
        else:  # newlines alone, found by NumPy at memory speed
            self.ends = np.flatnonzero(data == 10)
            if len(data) and data[-1] != 10:
                self.ends = np.append(self.ends, len(data))
            self.starts = np.concatenate([[0], self.ends + 1])[: len(self.ends)].astype(np.int64)
        self.kind, self.commented, self.command, self.mask, self.values = _scan_lines(
            data, self.starts, self.ends, _SLOTS, _POWERS_OF_TEN
        )

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def line_text(self, index: int) -> str:
        """Line `index` (0-based) as text."""
        raw = self.data[self.starts[index] : self.ends[index]].tobytes()
        return raw.decode("utf-8", "surrogatepass")
