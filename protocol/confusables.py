"""Names that people read: what is refused outright, and what is only flagged.

A business chooses its own display name, so the name is hostile input that a
customer will trust with their data. Two layers, deliberately different:

**Refused** (:func:`check_name`, used by the wire models): characters that
change how text *looks* without being visible themselves. Unicode general
categories ``Cc`` (controls), ``Cf`` (format: the bidi overrides and isolates
U+202A..U+202E and U+2066..U+2069, zero-width joiners and spaces, soft hyphen,
BOM), ``Cs`` (surrogates), ``Co`` (private use), ``Cn`` (unassigned), ``Zl``
and ``Zp`` (line and paragraph separators), and every space other than U+0020.
The name must also be NFC (one byte form per look) and carry no leading,
trailing or doubled spaces. Zero-width joiners are needed by some scripts
(Indic conjuncts, emoji sequences); we refuse them anyway in business names
and accept that cost.

**Flagged** (:func:`name_flags`, used for display): names that are legal but
look like something else. The check is narrow on purpose, and documented
rather than clever; it is not a full Unicode TR39 implementation:

* ``mixed_script``: letters from more than one script in one name (a Cyrillic
  ``а`` among Latin letters). Script is read from the character's Unicode name
  (``LATIN``, ``CYRILLIC``, ``GREEK``...); digits, punctuation, symbols and
  combining marks belong to no script here. Latin mixed with the CJK scripts
  (Han, Hiragana, Katakana, Hangul), which real names do, is not flagged.
* ``looks_latin``: a name written wholly in Cyrillic or Greek letters that all
  have a Latin look-alike (``Аррlе`` in Cyrillic).

:func:`skeleton` folds a name to a comparison key (NFKC, casefold, the
look-alike table below mapped to Latin, spaces and punctuation dropped), so the
vault can flag two businesses whose names look the same.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "NameFlag",
    "check_name",
    "check_text",
    "check_value",
    "name_flags",
    "skeleton",
    "visible",
]

#: Flags :func:`name_flags` may return (stable strings: the API and the UI show them).
NameFlag = str
MIXED_SCRIPT: NameFlag = "mixed_script"
LOOKS_LATIN: NameFlag = "looks_latin"

#: Categories no peer-supplied free text may contain (offers, purposes, reasons,
#: inbox subjects and bodies, error messages): controls (newline and tab are
#: allowed), format characters (bidi overrides and isolates, zero-width
#: characters, soft hyphen, BOM), lone surrogates, line and paragraph separators.
_REFUSED_IN_TEXT = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Names refuse more: private-use and unassigned code points too.
_REFUSED_CATEGORIES = _REFUSED_IN_TEXT | {"Co", "Cn"}
#: The bidi controls (LRE..RLO, LRI..PDI, LRM, RLM, ALM): they reorder what the
#: reader sees, so even a profile value may not carry them.
_BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
_TEXT_ALLOWED_CONTROLS = frozenset("\n\t")

#: Cyrillic and Greek letters (lower case; :func:`skeleton` casefolds first) that
#: render like a Latin letter in common fonts. Narrow by design: the letters that
#: homograph attacks on names actually use.
_LOOKALIKE = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j",
    "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ո": "n",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
}  # fmt: skip

_CJK = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL"})


def check_name(value: str) -> str:
    """Return ``value`` if it is an acceptable name; raise ``ValueError`` saying why not."""
    if unicodedata.normalize("NFC", value) != value:
        raise ValueError("a name must be in Unicode NFC form")
    for ch in value:
        cat = unicodedata.category(ch)
        if cat in _REFUSED_CATEGORIES:
            raise ValueError("a name may not contain control, format or bidi characters")
        if cat == "Zs" and ch != " ":
            raise ValueError("a name may only use the ordinary space")
    if value != value.strip(" ") or "  " in value:
        raise ValueError("a name has no leading, trailing or doubled spaces")
    return value


def check_text(value: str) -> str:
    """Return ``value`` if it is acceptable peer-supplied free text; raise ``ValueError``.

    Refused: :data:`_REFUSED_IN_TEXT` (Unicode categories Cc except newline and
    tab, Cf, Cs, Zl, Zp). Such text ends up in terminals and on the dashboard,
    where these characters hide or reorder what the owner reads (U+202E) or
    drive the terminal (ESC)."""
    for ch in value:
        if ch in _TEXT_ALLOWED_CONTROLS:
            continue
        if unicodedata.category(ch) in _REFUSED_IN_TEXT:
            raise ValueError(
                f"text may not contain control, format or bidi characters (U+{ord(ch):04X})"
            )
    return value


def check_value(value: str) -> str:
    """Return ``value`` if it is an acceptable profile field value; raise ``ValueError``.

    Looser than :func:`check_text`: the owner's own values may need zero-width
    joiners (Persian names use U+200C, emoji sequences U+200D), so of the format
    characters only the bidi controls are refused; controls other than newline
    and tab, surrogates and line/paragraph separators are refused as in text."""
    for ch in value:
        if ch in _TEXT_ALLOWED_CONTROLS:
            continue
        cat = unicodedata.category(ch)
        if ch in _BIDI_CONTROLS or (cat in _REFUSED_IN_TEXT and cat != "Cf"):
            raise ValueError(f"text may not contain control or bidi characters (U+{ord(ch):04X})")
    return value


def _shown(ch: str) -> str:
    if ch in _TEXT_ALLOWED_CONTROLS or unicodedata.category(ch) not in _REFUSED_IN_TEXT:
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def visible(value: str) -> str:
    """``value`` with every character :func:`check_text` refuses spelled out as an
    escape (``\\x1b``, ``\\u202e``), for display: the second wall behind the
    boundary check, for text stored before it or reaching a screen another way."""
    if all(map(str.isprintable, value)):
        return value
    return "".join(map(_shown, value))


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0].split("-", 1)[0]  # KATAKANA-HIRAGANA ... -> KATAKANA
    return first or None


def name_flags(value: str) -> tuple[NameFlag, ...]:
    """The look-alike flags of a (valid) name: ``mixed_script``, ``looks_latin``, or none."""
    scripts = {s for s in map(_script, value) if s is not None}
    flags: list[NameFlag] = []
    if len(scripts - _CJK) > 1:
        flags.append(MIXED_SCRIPT)
    if scripts and scripts <= {"CYRILLIC", "GREEK"}:
        letters = [ch for ch in value.casefold() if ch.isalpha()]
        if letters and all(ch in _LOOKALIKE for ch in letters):
            flags.append(LOOKS_LATIN)
    return tuple(flags)


def skeleton(value: str) -> str:
    """A comparison key: names with the same skeleton look alike to a reader."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    out = []
    for ch in folded:
        ch = _LOOKALIKE.get(ch, ch)
        if ch.isalnum():
            out.append(ch)
    return "".join(out)
