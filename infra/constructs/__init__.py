"""constructs -- one small construct per file; ``infra.engine`` composes them.

(The package name shadows nothing: the CDK library is imported as the
top-level ``constructs`` everywhere, this one as ``infra.constructs``.)
"""
