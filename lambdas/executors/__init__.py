"""executors -- example executor Lambdas: a plain ``execute(op, inputs)`` each, wrapped by ``sqs_executor``."""
