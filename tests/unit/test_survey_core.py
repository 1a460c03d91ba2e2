"""R17 in the core: a caller whose agent hung up first is asked for a score when the
queue's survey is on (the call ends as before: handled, the agent in wrap-up); a
caller who hung up first, a queue without the survey and a dial-out (a callback, a
return visit) are not; the survey's end becomes the notice the record keeps."""

from __future__ import annotations

from acd import AgentConfig, Engine, QueueConfig
from acd import codec
from acd import commands as c
from acd import events as e
from acd.model import Intake


def engine(survey: bool = True) -> Engine:
    cfg = QueueConfig("q", wrap_up_s=30.0, announce_agent_id=False, survey=survey, survey_timeout_s=6.0)
    eng = Engine([cfg], [AgentConfig("a1", "PJSIP/a1", ("q",))], Intake(default_queue="q"))
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    return eng


def connected(eng: Engine, call_id: str = "k1") -> None:
    eng.handle(e.CallArrived(call_id, "q", "13800000001", 1.0, kind="fault"))
    eng.handle(e.OfferAnswered(call_id, "a1", 2.0))


def of(kind: type, out: list[c.Command]) -> list[c.Command]:
    return [cmd for cmd in out if isinstance(cmd, kind)]


def test_R17_the_agent_hangs_up_first_the_caller_is_surveyed_and_the_call_ends_handled() -> None:
    eng = engine()
    connected(eng)
    out = eng.handle(e.AgentHungUp("k1", "a1", 40.0))
    assert of(c.StartSurvey, out) == [c.StartSurvey("k1", "q", "a1", "fault", 6.0)]
    assert of(c.HangUpCaller, out) == []  # the caller stays on the line
    (ended,) = of(c.CallEnded, out)
    assert (ended.outcome, ended.agent_id, ended.ended_by, ended.talked_s) == ("handled", "a1", "agent", 38.0)
    assert eng.calls() == [] and eng.agent("a1").state == "wrap-up"


def test_R17_no_survey_when_the_queue_has_none_or_the_caller_hung_up_first() -> None:
    off = engine(survey=False)
    connected(off)
    out = off.handle(e.AgentHungUp("k1", "a1", 40.0))
    assert of(c.StartSurvey, out) == [] and of(c.HangUpCaller, out) == [c.HangUpCaller("k1", "agent-hung-up")]
    on = engine()
    connected(on)
    out = on.handle(e.CallerHungUp("k1", 40.0))
    assert of(c.StartSurvey, out) == [] and of(c.CallEnded, out)[0].ended_by == "caller"  # type: ignore[attr-defined]
    assert on.handle(e.AgentHungUp("k1", "a1", 41.0)) == []  # the call is over: nothing more


def test_R17_no_survey_after_a_return_visit_or_a_callback_dial_out() -> None:
    eng = engine()
    eng.handle(e.OutboundQueued("rv-WO-1-1", "q", "13800000009", 1.0))
    eng.handle(e.OfferAnswered("rv-WO-1-1", "a1", 2.0))
    eng.handle(e.CustomerAnswered("rv-WO-1-1", 3.0))
    out = eng.handle(e.AgentHungUp("rv-WO-1-1", "a1", 30.0))
    assert of(c.StartSurvey, out) == [] and of(c.HangUpCaller, out) != []
    assert of(c.CallEnded, out)[0].outcome == "handled"  # type: ignore[attr-defined]


def test_R17_an_offer_the_agent_rejects_is_no_survey() -> None:
    eng = engine()
    eng.handle(e.CallArrived("k1", "q", "13800000001", 1.0))
    out = eng.handle(e.AgentHungUp("k1", "a1", 2.0))  # rejected while ringing
    assert of(c.StartSurvey, out) == [] and eng.calls()[0].state == "waiting"


def test_R17_the_survey_end_is_the_notice_the_record_keeps_a_bad_score_is_no_response() -> None:
    eng = engine()
    assert eng.handle(e.SurveyEnded("k1", "q", "a1", "fault", 4, 50.0)) == [
        c.SurveyAnswered("k1", "q", "a1", "fault", 4, 50.0)]
    assert eng.handle(e.SurveyEnded("k2", "q", "a1", "", None, 51.0)) == [
        c.SurveyAnswered("k2", "q", "a1", "", None, 51.0)]
    assert eng.handle(e.SurveyEnded("k3", "q", "a1", "", 9, 52.0)) == [
        c.SurveyAnswered("k3", "q", "a1", "", None, 52.0)]


def test_R17_the_survey_travels_in_the_journal_and_between_nodes() -> None:
    for message in (c.StartSurvey("k1", "q", "a1", "fault", 6.0), c.SurveyAnswered("k1", "q", "a1", "", None, 1.0),
                    e.SurveyEnded("k1", "q", "a1", "fault", 5, 2.0)):
        data = codec.encode(message)
        back = codec.decode_event(data) if isinstance(message, e.SurveyEnded) else codec.decode_command(data)
        assert back == message
