"""The message contract: what workers read and send; bad messages name the bad field."""

from __future__ import annotations

import json

import pytest

from runfox_core import DispatchJob, MessageError, StepResult, messages


def test_job_and_result_messages_round_trip() -> None:
    job = DispatchJob("wf#e", "shout", {"text": "hi"}, 2, token="shout_fn", timeout_seconds=30)
    body = messages.encode(messages.job_message(job))
    assert json.loads(body) == {"kind": "job", "execution": "wf#e", "step": "shout", "token": "shout_fn",
                                "run_id": 2, "inputs": {"text": "hi"}, "timeout_seconds": 30}
    assert messages.decode(body) == job
    ok = StepResult("wf#e", "shout", 2, output={"text": "HI"})
    failed = StepResult("wf#e", "shout", 2, error={"type": "ValueError", "message": "no"})
    assert messages.decode(messages.encode(messages.result_message(ok))) == ok
    assert messages.decode(messages.encode(messages.result_message(failed))) == failed


def test_timer_messages_round_trip() -> None:
    deadline = messages.decode(messages.encode(messages.deadline_message("wf#e", "a", 1, 1800000000.5)))
    assert deadline == messages.DeadlineMessage("wf#e", "a", 1, 1800000000.5)
    assert messages.decode(messages.encode(messages.wake_message("wf#e"))) == messages.WakeMessage("wf#e")


@pytest.mark.parametrize("body, fragment", [
    ("not json", "not JSON"),
    ("[1]", "must be a JSON object"),
    ('{"kind": "nope"}', "'kind' must be one of"),
    ('{"kind": "result", "step": "a", "run_id": 0, "output": {}}', "missing field 'execution'"),
    ('{"kind": "result", "execution": "", "step": "a", "run_id": 0, "output": {}}', "'execution' is empty"),
    ('{"kind": "result", "execution": "e", "run_id": 0, "output": {}}', "missing field 'step'"),
    ('{"kind": "result", "execution": "e", "step": "a", "output": {}}', "missing field 'run_id'"),
    ('{"kind": "result", "execution": "e", "step": "a", "run_id": "0", "output": {}}', "'run_id' must be int"),
    ('{"kind": "result", "execution": "e", "step": "a", "run_id": true, "output": {}}', "'run_id' must be int"),
    ('{"kind": "result", "execution": "e", "step": "a", "run_id": 0}', "exactly one of 'output' or 'error'"),
    ('{"kind": "result", "execution": "e", "step": "a", "run_id": 0, "error": {"type": 1}}', "'error.type'"),
    ('{"kind": "job", "execution": "e", "step": "a", "run_id": 0, "token": "a", "inputs": []}', "'inputs' must be dict"),
    ('{"kind": "deadline", "execution": "e", "step": "a", "run_id": 0}', "missing field 'deadline'"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"kind": "result", "execution": "' + "e" * 3000 + '", "step": "a", "run_id": 0, "output": {}}',
     "'execution' is 3,000 characters; an execution key has at most 256"),
    ('{"kind": "wake", "execution": "' + "e" * 257 + '"}', "at most 256"),
    ('{"kind": "result", "execution": "e", "step": "' + "s" * 65 + '", "run_id": 0, "output": {}}',
     "'step' 's{65}' is not a step id"),
    ('{"kind": "deadline", "execution": "e", "step": "a b", "run_id": 0, "deadline": 1}', "is not a step id"),
    ('{"kind": "result", "execution": "e", "step": "a", "run_id": -1, "output": {}}', "'run_id' must be from 0"),
    ('{"kind": "result", "execution": "e", "step": "a", "run_id": 9007199254740992, "output": {}}',
     "'run_id' must be from 0 to 9007199254740991"),
])
def test_a_malformed_message_raises_message_error_naming_the_field(body: str, fragment: str) -> None:
    with pytest.raises(MessageError, match=fragment):
        messages.decode(body)


def test_a_result_whose_output_is_not_an_object_still_decodes_so_the_engine_can_fail_the_attempt() -> None:
    result = messages.decode('{"kind": "result", "execution": "e", "step": "a", "run_id": 0, "output": [1]}')
    assert isinstance(result, StepResult) and result.output == [1]
