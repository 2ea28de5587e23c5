"""Warnings of the OpenMMLab libraries that tell a clipdense user nothing they can act on."""
import warnings

# Deprecation notices about the libraries' own internals and defaults clipdense's configs set on purpose.
KNOWN_NOISE = (
    (r'``build_loss`` would be deprecated', UserWarning),
    (r'`reduce_zero_label` will be deprecated', UserWarning),
    (r'Default ``avg_non_ignore`` is False', UserWarning),
    (r'The draw is False', UserWarning),
    # mmseg's HungarianAssigner (SAN's matching) still calls the old spelling of autocast
    (r'`torch\.cuda\.amp\.autocast\(args\.\.\.\)` is deprecated', FutureWarning),
    # mmdet's point generator (FC-CLIP's pixel decoder) calls torch.meshgrid without `indexing`
    (r'torch\.meshgrid: in an upcoming release', UserWarning),
)


def silence_known_noise() -> None:
    """Hide ``KNOWN_NOISE`` (every other warning still shows)."""
    for message, category in KNOWN_NOISE:
        warnings.filterwarnings('ignore', message=message, category=category)
