"""Errors caused by the user's input, and how the command-line tools report them."""
import sys
from typing import Callable


class UserError(Exception):
    """An error caused by the user's input (a path, a name, an option value), not by clipdense.

    Its message names the input and the fix. The command-line tools report it as one line on stderr with exit
    status 2; any other exception is a bug and keeps its traceback. Subclasses also derive from the builtin
    exception that code catching them expects (``FileNotFoundError``, ``ValueError`` ...).
    """


def user_error_message(error: UserError) -> str:
    """The message of ``error`` on one line."""
    # str() of a KeyError or an OSError built with several arguments is not the message as written.
    text = str(error.args[0]) if len(error.args) == 1 else str(error)
    return ' '.join(line.strip() for line in text.splitlines() if line.strip())


def describe_read_error(error: Exception) -> str:
    """What a file reader (``torch.load`` above all) said went wrong, in one short phrase.

    torch's refusals under ``weights_only=True`` open with advice to load with ``weights_only=False``, which is
    not the fix for a file that cannot be read; only the unpickler's own complaint is kept.
    """
    text = str(error)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        detail = next((line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()), '')
        return f'Weights only load failed: {detail.split(". ")[0]}'
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), '')
    return f'{type(error).__name__}: {first_line}' if first_line else type(error).__name__


def run_cli(main: Callable[[], object]) -> None:
    """Run a command-line entry point: a ``UserError`` ends it with ``error: <message>`` on stderr and exit
    status 2 (argparse's status for a bad command line); other exceptions propagate with their traceback. The
    OpenMMLab libraries' deprecation notices that a user cannot act on are hidden."""
    from .third_party import silence_known_noise
    silence_known_noise()
    try:
        main()
    except UserError as error:
        print(f'error: {user_error_message(error)}', file=sys.stderr, flush=True)
        sys.exit(2)
