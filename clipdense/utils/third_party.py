"""Warnings of the OpenMMLab libraries that tell a clipdense user nothing they can act on."""
import warnings

# Deprecation notices about the libraries' own internals and defaults clipdense's configs set on purpose.
KNOWN_NOISE = (
    r'``build_loss`` would be deprecated',
    r'`reduce_zero_label` will be deprecated',
    r'Default ``avg_non_ignore`` is False',
    r'The draw is False',
)


def silence_known_noise() -> None:
    """Hide ``KNOWN_NOISE`` (every other warning still shows)."""
    for message in KNOWN_NOISE:
        warnings.filterwarnings('ignore', message=message, category=UserWarning)
