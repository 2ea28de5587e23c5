"""Helpers shared by clipdense's dataset classes."""
import os.path as osp

from mmseg.datasets import BaseSegDataset


def check_data_paths(dataset: BaseSegDataset, prepare_hint: str) -> None:
    """Fail with a clear message when a dataset's folders or split file are missing.

    mmseg would otherwise fail later with a bare assertion or an empty dataset. Only local
    paths are checked; a dataset read through another file backend is left alone.

    Args:
        dataset: a dataset after ``_join_prefix`` (its paths include ``data_root``).
        prepare_hint: how to prepare the data, e.g. the converter command; see
            ``docs/datasets.md``.
    """
    if dataset.backend_args and dataset.backend_args.get('backend', 'local') != 'local':
        return
    name = type(dataset).__name__
    for key, folder in dataset.data_prefix.items():  # img_path, seg_map_path and any other folder a dataset reads
        if folder and not osp.isdir(folder):
            raise FileNotFoundError(
                f'{name}: the {key} folder {folder!r} does not exist (data_root='
                f'{dataset.data_root!r}). {prepare_hint} See docs/datasets.md.')
    if dataset.ann_file and not osp.exists(dataset.ann_file):
        raise FileNotFoundError(
            f'{name}: the split file {dataset.ann_file!r} does not exist (data_root='
            f'{dataset.data_root!r}). {prepare_hint} See docs/datasets.md.')


def reject_8bit_label_loader(dataset: BaseSegDataset) -> None:
    """Refuse mmseg's ``LoadAnnotations`` for label maps with more than 256 classes.

    It casts every map to uint8, which would silently fold class ``i`` onto ``i % 256`` and
    the 65535 ignore value onto 255 (a real class there).
    """
    from mmseg.datasets.transforms import LoadAnnotations

    from .transforms import Load16BitAnnotations
    for transform in getattr(dataset.pipeline, 'transforms', []):
        if isinstance(transform, LoadAnnotations) and \
                not isinstance(transform, Load16BitAnnotations):
            raise ValueError(
                f'{type(dataset).__name__} has {len(dataset.metainfo["classes"])} classes in '
                'uint16 label maps, but its pipeline loads them with LoadAnnotations, which '
                "casts to uint8; use dict(type='Load16BitAnnotations') instead.")
