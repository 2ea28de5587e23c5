"""Loading of 16-bit semantic label maps."""
import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmseg.datasets.transforms import LoadAnnotations

from clipdense.registry import TRANSFORMS


@TRANSFORMS.register_module()
class Load16BitAnnotations(LoadAnnotations):
    """Load a semantic label map that needs more than 8 bits (ADE-847, PASCAL Context-459).

    mmseg's :class:`LoadAnnotations` casts every label map to uint8, which folds class 256
    onto class 0. This loader keeps the values as uint16 (uint8 maps are widened), so the
    label ids and the 65535 ignore value of the SAN/CAT-Seg TIFFs survive. Otherwise it
    behaves like mmseg's: ``reduce_zero_label`` maps 0 to ``ignore_index`` and shifts the
    other ids down by one (``ignore_index`` itself stays), then the dataset's ``label_map``
    is applied.

    Added keys: ``gt_seg_map`` (uint16 ``(H, W)``), ``seg_fields``.

    Args:
        ignore_index: the ignore value of the label maps.
        reduce_zero_label: as in mmseg's ``LoadAnnotations``; None takes the dataset's.
        backend_args: file backend arguments.
        imdecode_backend: ``'pillow'`` (default, reads TIFF and 16-bit PNG) or ``'cv2'``.
    """

    def __init__(self, ignore_index: int = 65535, reduce_zero_label=None, backend_args=None,
                 imdecode_backend: str = 'pillow') -> None:
        super().__init__(reduce_zero_label=reduce_zero_label, backend_args=backend_args,
                         imdecode_backend=imdecode_backend)
        if not 0 <= ignore_index <= 65535:
            raise ValueError(f'ignore_index must fit in uint16, got {ignore_index}')
        self.ignore_index = ignore_index

    def _decode(self, path: str) -> np.ndarray:
        try:
            content = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as error:
            raise FileNotFoundError(f'the label map {path!r} does not exist; the split list '
                                    'names an image whose annotation is missing') from error
        try:
            labels = mmcv.imfrombytes(content, flag='unchanged', backend=self.imdecode_backend)
        except Exception as error:  # decoders raise assorted types on corrupt data
            raise ValueError(f'could not decode the label map {path!r}: {error}') from error
        if labels is None:
            raise ValueError(f'could not decode the label map {path!r}: corrupt or not an image')
        labels = labels.squeeze()
        if labels.ndim != 2:
            raise ValueError(f'the label map {path!r} has shape {labels.shape}; a single-channel '
                             'map of class ids is expected')
        if labels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f'the label map {path!r} is {labels.dtype}; uint8 or uint16 class '
                             'ids are expected')
        return labels.astype(np.uint16)

    def _load_seg_map(self, results: dict) -> None:
        labels = self._decode(results['seg_map_path'])
        if self.reduce_zero_label is None:
            self.reduce_zero_label = results['reduce_zero_label']
        if self.reduce_zero_label != results['reduce_zero_label']:
            raise ValueError(f'{type(self).__name__} was built with reduce_zero_label='
                             f'{self.reduce_zero_label} but the dataset uses '
                             f'{results["reduce_zero_label"]}; set it on the dataset only')
        if self.reduce_zero_label:
            keep = (labels != 0) & (labels != self.ignore_index)
            reduced = np.full_like(labels, self.ignore_index)
            reduced[keep] = labels[keep] - 1
            labels = reduced
        label_map = results.get('label_map')
        if label_map is not None:
            original = labels.copy()
            for old_id, new_id in label_map.items():
                labels[original == old_id] = new_id
        results['gt_seg_map'] = labels
        results['seg_fields'].append('gt_seg_map')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ignore_index={self.ignore_index}, '
                f'reduce_zero_label={self.reduce_zero_label}, '
                f"imdecode_backend='{self.imdecode_backend}', backend_args={self.backend_args})")
