"""Make untrusted text (model output, file content) safe to show: nothing that hides or spoofs.

``clean`` removes what a reader cannot see but a terminal or a browser acts on: ANSI escape
sequences (colours, cursor moves, OSC 8 hyperlinks, window titles), C0 and C1 control
characters, and invisible Unicode format characters — the bidirectional embeddings,
overrides, isolates and marks of "Trojan Source" (U+202A to U+202E, U+2066 to U+2069, U+200E,
U+200F, U+061C), the zero-width space and word joiner, the BOM, the soft hyphen,
interlinear annotations and the tag characters that smuggle hidden text. It keeps newline and
tab (code and outputs need them), turns CR, CRLF and the Unicode line and paragraph
separators into a newline, keeps ZWJ and ZWNJ (emoji sequences and Persian or Indic words
need them), and replaces lone surrogates (which cannot be encoded) with U+FFFD.
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), string commands that must be terminated (OSC, DCS, SOS, PM, APC:
# an unterminated one loses only its ESC below), any other two- or three-byte escape, and the
# 8-bit forms of CSI and of the string commands.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]{0,4096}(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]{0,4096}(?:\x07|\x1b\\|\x9c)"
)
_LINE_BREAK = re.compile("\r\n|[\r\u2028\u2029]")
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
# Unicode category Cf (format) as of Unicode 15.1, except ZWNJ and ZWJ (U+200C, U+200D).
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
_INVISIBLE = re.compile(f"[{_CONTROL}{_FORMAT}]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """``text`` without escape sequences, control or invisible format characters (see above)."""
    text = _ANSI.sub("", text)
    text = _LINE_BREAK.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    return _SURROGATE.sub("\ufffd", text)
