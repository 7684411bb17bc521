"""constructs -- one small construct per file; ``runfox_cdk.engine`` composes them.

(The package name shadows nothing: the CDK library is imported as the
top-level ``constructs`` everywhere, this one as ``runfox_cdk.constructs``.)
"""
