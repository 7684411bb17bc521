"""The core must stay importable without the AWS SDK (Lambda layers and laptops alike)."""

import subprocess
import sys


def test_importing_runfox_core_does_not_import_boto3() -> None:
    # Given a fresh interpreter, When runfox_core and its backends are imported
    code = ("import sys, runfox_core, runfox_core.backend, runfox_core.driver; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # Then no AWS SDK module was loaded
    assert out.strip() == "[]"
