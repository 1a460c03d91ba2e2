"""R19: how the knowledge base's text is split into search terms, and how a found
article is checked and ranked (pure: no I/O, no clock; docs/knowledge.md says why).

Text is normalised first (Unicode NFKC, so full-width Ａ and １ are A and 1; then
case-folded). CJK text (Han, kana, Hangul) has no spaces between words and most
Chinese words have two characters, so a run of CJK characters is indexed as its
single characters and its overlapping pairs (bigrams): 「天然氣表漏氣」 gives 天, 然, …,
天然, 然氣, 氣表, 表漏, 漏氣. Latin letters and digits are indexed as whole words.

A query is split the same way, but a CJK run of two or more characters is asked for by
its bigrams only (a single character only where the run is one character long), and
every term is required. Pairs found anywhere in an article are not yet the phrase
(「漏氣表」 has the bigrams of neither order), so ``matches`` checks each piece of the
query (split at spaces) on the article's text itself."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_QUERY = 100  # characters of a query
MAX_QUERY_TERMS = 32  # distinct terms a query may ask for

_CJK = (
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han (Extension A, unified, compatibility)
    "\uac00-\ud7af"  # Hangul syllables
    "\U00020000-\U0003134f"  # Han (Extensions B to G)
)
# A CJK run, or a run of other letters and digits (a Latin word, a number).
_RUNS = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")


def normalize(text: str) -> str:
    """The text as it is compared: NFKC (full-width forms as the usual ones), case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _runs(text: str) -> Iterable[tuple[str, bool]]:
    """(run, is CJK) of the normalised ``text``."""
    for match in _RUNS.finditer(normalize(text)):
        cjk, word = match.groups()
        yield (cjk, True) if cjk else (word, False)


def terms(text: str) -> set[str]:
    """The terms an article's text is indexed by: CJK single characters and bigrams,
    Latin/digit words."""
    out: set[str] = set()
    for run, cjk in _runs(text):
        if cjk:
            out.update(run)
            out.update(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out.add(run)
    return out


def query_terms(query: str) -> set[str]:
    """The terms a query requires (all of them): a CJK run's bigrams (its character
    when it is one long), Latin/digit words."""
    out: set[str] = set()
    for run, cjk in _runs(query):
        if cjk and len(run) > 1:
            out.update(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out.add(run)
    return out


def pieces(query: str) -> list[str]:
    """The query's pieces (split at white space), normalised, each to be found as it is."""
    return [p for p in normalize(query).split() if p]


def matches(query: str, *texts: str) -> bool:
    """Whether every piece of ``query`` is in one of ``texts`` as written (the terms
    found by the index are pairs anywhere in the text: this drops those that are not
    the phrase)."""
    folded = [normalize(t) for t in texts]
    return all(any(p in t for t in folded) for p in pieces(query))


def rank(query: str, question: str, answer: str, tags: Iterable[str] = ()) -> tuple[int, int]:
    """How well an article answers ``query``: (occurrences of the pieces in the question
    and tags, occurrences in the answer); higher first, the newer first among equals."""
    head = normalize(" ".join([question, *tags]))
    body = normalize(answer)
    found = pieces(query)
    return sum(head.count(p) for p in found), sum(body.count(p) for p in found)
