"""Telegram: approval messages with buttons, decisions by verified members, long-poll or webhook."""
