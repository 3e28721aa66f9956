"""Routing decisions: what a dialed string means and whom a member's call may reach.

Pure Python over plain values; nothing here talks to Asterisk.
"""
