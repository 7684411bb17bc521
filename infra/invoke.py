"""invoke.py -- ``python -m infra.invoke``: see ``runfox_cdk.invoke``."""

from runfox_cdk.invoke import main

if __name__ == "__main__":
    main()
