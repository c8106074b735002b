"""Reporting: tables over the grid."""
