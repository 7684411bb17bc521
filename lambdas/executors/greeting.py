"""greeting.py -- Executor Lambda for the greeting workflow (ops make_greeting and shout).

``execute`` is plain Python, testable without AWS; ``handler`` is the SQS
Lambda built by ``sqs_executor``, which reads jobs, runs ``execute`` through
``call_executor`` and sends each result to the results queue. The README's
"Write an executor" shows this file.
"""

from runfox_core.aws.executor import sqs_executor


def execute(op: str, inputs: dict) -> dict:
    if op == "make_greeting":
        return {"text": f"hello, {inputs['name']}"}
    if op == "shout":
        return {"text": inputs["text"].upper()}
    raise ValueError(f"unknown op {op!r}")


handler = sqs_executor(execute)
