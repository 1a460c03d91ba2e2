"""The emergency plan's reasons (R9) in words, in English and Chinese: what the plan saw,
rounded, and the thresholds that decided, e.g. "entered III: 4 waiting (entry at 3),
longest wait 42 s, answer rate 61 %". The core (``acd.plans``) gives the figures and
thresholds; this turns them into text for the ``/plan`` API, the plan webhook and the
audit log. The wallboard says the same in its page's language from ``reason_code``, the
figures and the thresholds (``wallboard.js``, through the pages' catalogues)."""

from __future__ import annotations

from types import MappingProxyType

from acd.plans import (
    CONFIRMED, ENDED_BY_HAND, ENTRY_MET, EXIT_MET, SET_BY_HAND, Conditions, ExitConditions, Figures, PlanChanged,
    PlanProposed,
)

_BY_HAND = MappingProxyType({
    CONFIRMED: ("proposal confirmed", "已確認建議"),
    SET_BY_HAND: ("set by hand", "手動設定"),
    ENDED_BY_HAND: ("ended by hand", "手動結束"),
})


def _n(x: float) -> str:
    """A threshold as written in the configuration: 3, 30, 2.5."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _pct(x: float | None) -> str:
    return "—" if x is None else str(round(x * 100))


Limit = tuple[str, str] | None  # a threshold in words (English, Chinese), when one is set


def _said(figures: list[tuple[str, str]], limits: list[Limit]) -> tuple[list[str], list[str]]:
    """Each figure in both languages, with its threshold in brackets where one is set."""
    en = [fig + (f" ({limit[0]})" if limit else "") for (fig, _), limit in zip(figures, limits)]
    zh = [fig + (f"（{limit[1]}）" if limit else "") for (_, fig), limit in zip(figures, limits)]
    return en, zh


def _figures(f: Figures) -> list[tuple[str, str]]:
    return [(f"{f.waiting} waiting", f"等待 {f.waiting} 通"),
            (f"longest wait {round(f.longest_wait_s)} s", f"最長等待 {round(f.longest_wait_s)} 秒"),
            (f"answer rate {_pct(f.answer_rate)}" + (" %" if f.answer_rate is not None else ""),
             f"接通率 {_pct(f.answer_rate)}" + ("%" if f.answer_rate is not None else ""))]


def _entry(f: Figures, t: Conditions) -> tuple[list[str], list[str]]:
    figures, limits = _figures(f), [
        None if t.waiting_at_least is None else (f"entry at {t.waiting_at_least}", f"門檻 {t.waiting_at_least}"),
        None if t.longest_wait_at_least_s is None else (f"entry at {_n(t.longest_wait_at_least_s)} s",
                                                        f"門檻 {_n(t.longest_wait_at_least_s)} 秒"),
        None if t.answer_rate_below is None else (f"entry below {_pct(t.answer_rate_below)} %",
                                                  f"門檻 低於 {_pct(t.answer_rate_below)}%")]
    if f.overflows or t.overflows_at_least is not None:
        figures.append((f"{f.overflows} overflowed", f"溢出 {f.overflows} 通"))
        limits.append(None if t.overflows_at_least is None else (f"entry at {t.overflows_at_least}",
                                                                 f"門檻 {t.overflows_at_least}"))
    return _said(figures, limits)


def _exit(f: Figures, t: ExitConditions) -> tuple[list[str], list[str]]:
    return _said(_figures(f), [
        None if t.waiting_at_most is None else (f"exit at {t.waiting_at_most} or fewer", f"解除 ≤ {t.waiting_at_most}"),
        None if t.longest_wait_at_most_s is None else (f"exit at {_n(t.longest_wait_at_most_s)} s or less",
                                                       f"解除 ≤ {_n(t.longest_wait_at_most_s)} 秒"),
        None if t.answer_rate_at_least is None else (f"exit at {_pct(t.answer_rate_at_least)} % or more",
                                                     f"解除 ≥ {_pct(t.answer_rate_at_least)}%")])


def words(change: PlanChanged | PlanProposed) -> tuple[str, str]:
    """(English, Chinese) for a plan change or proposal."""
    if change.reason in _BY_HAND:
        return _BY_HAND[change.reason]
    f, t = change.figures, change.thresholds
    if change.reason == ENTRY_MET and f is not None and isinstance(t, Conditions):
        verb = ("proposed", "建議") if isinstance(change, PlanProposed) else ("entered", "進入")
        en, zh = _entry(f, t)
        return f"{verb[0]} {change.level}: " + ", ".join(en), f"{verb[1]} {change.level}：" + "，".join(zh)
    if change.reason == EXIT_MET and f is not None and isinstance(t, ExitConditions) \
            and isinstance(change, PlanChanged):
        en, zh = _exit(f, t)
        return f"left {change.previous}: " + ", ".join(en), f"解除 {change.previous}：" + "，".join(zh)
    return change.reason, change.reason
