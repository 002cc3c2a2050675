"""The FactoryFloor service: the long-lived backend that windows attach to.

This package holds what the service keeps on behalf of everyone attached: its users and their
roles, and the audit log of who did what. It never imports Qt.
"""
