#!/usr/bin/env python3
"""app.py -- the CDK entry point (``cdk.json`` runs it); everything lives in ``infra.app``."""

from infra.app import main

if __name__ == "__main__":
    main()
