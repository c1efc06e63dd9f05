"""The one rule for names people give things: models, aliases, users, experiments, artifacts.

A name ends up as a folder name, a URL path segment, an audit target, a log line and
a shell argument, so every kind of name follows the same rule, checked by
:meth:`NameRule.check` where the name enters (a public function, a command, a route):

- it is a ``str`` and the *whole* string matches (a trailing newline is not "the end");
- every character is printable ASCII from the kind's character set: no control
  characters (NUL, tab, CR, LF), no spaces at either end;
- it has a bounded length;
- split on ``/`` (only artifact names and experiments may contain one) it has no
  empty, ``.`` or ``..`` part, so it never names a parent folder or an absolute path.

Unicode is refused, not normalised. Normalising (NFC/NFKC) would store a name other
than the one typed, and still lets through what makes Unicode names dangerous here:
look-alike letters (a Cyrillic ``а`` in ``аdmin``), bidirectional overrides
(U+202E) that make a name read backwards in a terminal, line and paragraph separators
(U+2028/U+2029) that split log lines, and lone surrogates that cannot be encoded at
all. Free text (descriptions, run names, tag values) is not a name and keeps Unicode.

Examples
--------
>>> MODEL_NAME.check("churn")
'churn'
>>> MODEL_NAME.problem("churn\\n")
"it has the control character '\\\\n' (U+000A) at position 6"
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from modelcycle.core._errors import ValidationError

_SHOWN = 60  # longest repr of a refused name put in a message


@dataclass(frozen=True, slots=True)
class NameRule:
    """How one kind of name is spelled.

    Parameters
    ----------
    kind:
        What the name names, as messages say it (``"model name"``).
    segment:
        Regular expression one ``/``-separated part (or the whole name) must fully match.
    characters:
        The character class (regex body) of every allowed character, for messages
        that point at the first one outside it.
    max_length:
        Longest name, in characters.
    expected:
        The rule in words, ending every message.
    paths:
        Whether ``/`` separates parts (artifact names and experiments).
    """

    kind: str
    segment: str
    characters: str
    max_length: int
    expected: str
    paths: bool = False
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _outside: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.segment, re.ASCII))
        separator = "/" if self.paths else ""
        outside = re.compile(f"[^{self.characters}{separator}]", re.ASCII)
        object.__setattr__(self, "_outside", outside)

    @property
    def pattern(self) -> str:
        """The rule as one anchored regular expression (e.g. for an OpenAPI path pattern)."""
        if self.paths:
            return f"^{self.segment}(?:/{self.segment})*$"
        return f"^{self.segment}$"

    def check(self, value: object) -> str:
        """Return ``value`` if it is a valid name of this kind.

        Raises
        ------
        ValidationError
            The value is not a string or breaks the rule; the message names the kind,
            the value (its ``repr``, shortened when long), what is wrong and the rule.
        """
        reason = self.problem(value)
        if reason is not None:
            shown = _shown(value)
            raise ValidationError(
                f"{self.kind} {shown} is not valid: {reason}; expected {self.expected}",
                details={"kind": self.kind, "value": shown, "rule": self.expected},
            )
        assert isinstance(value, str)
        return value

    def is_valid(self, value: object) -> bool:
        """Whether ``value`` is a valid name of this kind."""
        return self.problem(value) is None

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value`` (``None`` when it is a valid name)."""
        if not isinstance(value, str):
            return f"expected a string, got {type(value).__name__}"
        if not value:
            return "it is empty"
        if len(value) > self.max_length:
            return f"it is {len(value):,} characters long, more than {self.max_length:,}"
        bad = self._outside.search(value)
        if bad is not None:
            return f"it has {_describe(bad.group())} at position {bad.start() + 1}"
        parts = value.split("/") if self.paths else [value]
        for part in parts:
            if part in ("", ".", ".."):
                return _path_problem(part)
            if part != part.strip(" "):
                return f"its part {part!r} starts or ends with a space"
            if not self._compiled.fullmatch(part):
                return (
                    f"its part {part!r} does not follow the rule"
                    if self.paths
                    else ("it does not follow the rule")
                )
        return None


def _path_problem(part: str) -> str:
    if part == "":
        return "it has an empty part (a leading, trailing or doubled '/')"
    return f"it has a {part!r} part (names never point at a folder or its parent)"


def _shown(value: object) -> str:
    if isinstance(value, str) and len(value) > _SHOWN:
        return f"{value[:_SHOWN]!r}... ({len(value):,} characters)"
    return repr(value)


def _describe(character: str) -> str:
    code = f"U+{ord(character):04X}"
    if 0xD800 <= ord(character) <= 0xDFFF:
        return f"the lone surrogate {character!r} ({code}, not valid Unicode)"
    category = unicodedata.category(character)
    if category.startswith("C") or category in ("Zl", "Zp"):
        return f"the control character {character!r} ({code})"
    if ord(character) > 0x7F:
        return f"the non-ASCII character {character!r} ({code}; names are ASCII)"
    return f"the character {character!r}"


#: A registered model's name: a letter, then up to 99 letters, digits, ``_``, ``.`` or ``-``
#: (safe as a folder name and in a URL path).
MODEL_NAME = NameRule(
    kind="model name",
    segment=r"[A-Za-z][A-Za-z0-9_.-]{0,99}",
    characters="A-Za-z0-9_.-",
    max_length=100,
    expected="a letter, then up to 99 letters, digits, '_', '.' or '-'",
)

#: An alias of a model version (``champion``, ``challenger``).
ALIAS = NameRule(
    kind="alias",
    segment=r"[A-Za-z][A-Za-z0-9_-]{0,49}",
    characters="A-Za-z0-9_-",
    max_length=50,
    expected="a letter, then up to 49 letters, digits, '_' or '-' (e.g. 'champion')",
)

#: A user of the workspace (an e-mail address works).
USER_NAME = NameRule(
    kind="user name",
    segment=r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}",
    characters="A-Za-z0-9._@-",
    max_length=100,
    expected="a letter or digit, then up to 99 letters, digits, '.', '_', '@' or '-'",
)

#: An experiment: words with spaces inside, grouped with ``/`` (``team/churn``).
EXPERIMENT_NAME = NameRule(
    kind="experiment name",
    segment=r"[A-Za-z0-9_.:-](?:[A-Za-z0-9_.: -]*[A-Za-z0-9_.:-])?",
    characters="A-Za-z0-9_.: -",
    max_length=250,
    expected="up to 250 letters, digits, spaces (not at either end) and '_ - . : /', "
    "without empty, '.' or '..' parts between '/'",
    paths=True,
)

#: An artifact of a run: a relative path (``model/model.txt``), never leaving its run.
ARTIFACT_NAME = NameRule(
    kind="artifact name",
    segment=r"[A-Za-z0-9_.,=+@~()-](?:[A-Za-z0-9_.,=+@~() -]*[A-Za-z0-9_.,=+@~()-])?",
    characters="A-Za-z0-9_.,=+@~() -",
    max_length=1000,
    expected="a relative path like 'model/model.txt' of up to 1,000 characters: letters, "
    "digits, spaces (not at either end of a part) and '_ - . , = + @ ~ ( )', without "
    "empty, '.' or '..' parts",
    paths=True,
)
