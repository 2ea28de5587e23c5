"""Helpers shared by every part of clipdense."""
from .errors import UserError, describe_read_error, run_cli, user_error_message

__all__ = ['UserError', 'describe_read_error', 'run_cli', 'user_error_message']
