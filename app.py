#!/usr/bin/env python3
"""app.py -- the CDK entry point (``cdk.json`` runs it); everything lives in ``runfox_cdk.app``."""

from runfox_cdk.app import main

if __name__ == "__main__":
    main()
