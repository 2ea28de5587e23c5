"""mmseg's IoU metric with every class marked seen or unseen: seen, unseen and harmonic mIoU."""
import numbers
import warnings
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from prettytable import PrettyTable

from clipdense.models.clip.vocabulary import Vocabulary
from clipdense.registry import METRICS


def _nanmean(values: np.ndarray) -> float:
    """``np.nanmean``, quietly nan when ``values`` holds no number (an empty group, or none of its classes
    occurs)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return np.nanmean(values)


def _percent(fraction: float) -> float:
    """A fraction as mmseg reports it: percent, rounded to two decimals."""
    return np.round(fraction * 100, 2)


@METRICS.register_module()
class OpenVocabIoUMetric(IoUMetric):
    """mmseg's :class:`~mmseg.evaluation.IoUMetric` with each class marked seen or unseen.

    Per-sample areas are gathered exactly as the parent does (its ``process`` and ``intersect_and_union``,
    merged across processes by mmengine's result collection) and turned into per-class scores by its
    ``total_area_to_metrics``. On top of the parent's results (``aAcc``, ``mIoU``, ``mAcc``, and ``mDice`` /
    ``mFscore`` ... when asked for) this reports

    - ``mIoU_seen`` / ``mIoU_unseen``: the mean IoU over the seen / unseen classes;
    - ``hIoU``: their harmonic mean 2·s·u / (s + u), 0 when both are 0, nan when either is nan.

    All values are in percent, rounded to two decimals like mmseg; ``hIoU`` is computed from the unrounded
    means. As in mmseg, a class neither in the ground truth nor predicted has a nan IoU and is left out of
    every mean (a class predicted but absent from the ground truth scores 0); ``nan_to_num`` replaces those
    nans before averaging. With ``ground_truth_classes_only`` a class absent from the ground truth is left out
    even when predicted: the rule of detectron2's ``SemSegEvaluator`` (``iou_valid``: ground-truth pixels and a
    non-empty union), by which the detectron2-based references (FC-CLIP, SAN) report their mIoU; it differs from
    mmseg's only where such classes are predicted, e.g. on PC-459, where many classes are missing from the
    validation set. A group with no class (no unseen classes given) has a nan mean, and so has hIoU.
    The per-class table logged at the end says which split each class is in.

    Args:
        unseen_classes: the unseen classes, as names from ``dataset_meta['classes']`` or indices into it
            (mixing both is fine), or a class-name file (``.txt``, one class per line, as vocabularies are
            written); None or empty marks every class seen. They are checked as soon as the
            metric gets the dataset's meta, so a typo fails before evaluation rather than after it.
        iou_metrics: per-class metrics, as for the parent; 'mIoU' is always computed, 'mDice' and
            'mFscore' may be added.
        ground_truth_classes_only: leave every class without a ground-truth pixel out of the means, as
            detectron2 does (above); per-class scores of such classes become nan (or ``nan_to_num``).
        **kwargs: ``ignore_index``, ``nan_to_num``, ``beta``, ``collect_device``, ``output_dir``,
            ``format_only``, ``prefix``: as for :class:`~mmseg.evaluation.IoUMetric`.
    """

    def __init__(self, unseen_classes: Optional[Union[Sequence[Union[str, int]], str, int]] = None,
                 iou_metrics: Union[Sequence[str], str] = ('mIoU', ), ground_truth_classes_only: bool = False,
                 **kwargs) -> None:
        if isinstance(iou_metrics, str):
            iou_metrics = [iou_metrics]
        super().__init__(iou_metrics=['mIoU'] + [metric for metric in iou_metrics if metric != 'mIoU'],
                         **kwargs)
        if unseen_classes is None:
            unseen_classes = []
        elif isinstance(unseen_classes, str) and unseen_classes.endswith('.txt'):
            unseen_classes = Vocabulary.from_file(unseen_classes).class_names
        elif isinstance(unseen_classes, (str, numbers.Integral)):
            unseen_classes = [unseen_classes]
        self.unseen_classes = list(unseen_classes)
        self.ground_truth_classes_only = ground_truth_classes_only

    @IoUMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        IoUMetric.dataset_meta.fset(self, dataset_meta)
        if dataset_meta is not None:
            self.unseen_class_mask(dataset_meta['classes'])  # raises on an unknown class now, not at the end

    def unseen_class_mask(self, class_names: Sequence[str]) -> np.ndarray:
        """A boolean array over ``class_names``, True for the classes named or indexed by ``unseen_classes``.

        Raises:
            ValueError: an entry is neither one of ``class_names`` nor an index in ``[0, len(class_names))``.
        """
        class_names = list(class_names)
        unseen = np.zeros(len(class_names), dtype=bool)
        for entry in self.unseen_classes:
            if isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
                if not 0 <= entry < len(class_names):
                    raise ValueError(f'unseen_classes: class index {entry} is out of range; '
                                     f'{self._describe(class_names)}')
                unseen[entry] = True
            elif isinstance(entry, str) and entry in class_names:
                unseen[class_names.index(entry)] = True
            else:
                raise ValueError(f'unseen_classes: unknown class {entry!r}; {self._describe(class_names)}')
        return unseen

    @staticmethod
    def _describe(class_names: Sequence[str]) -> str:
        listing = ', '.join(f'{index}: {name!r}' for index, name in enumerate(class_names))
        return f"the dataset's {len(class_names)} classes are {listing}"

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Sum the per-sample areas of all processes, score every class, and average per split.

        Args:
            results: the parent's per-sample ``(intersect, union, pred_area, label_area)`` tuples, of every
                process.

        Returns:
            ``aAcc``, ``mIoU``, ``mIoU_seen``, ``mIoU_unseen``, ``hIoU``, ``mAcc`` (and the means of the
            extra ``iou_metrics``), in percent; empty with ``format_only``, as for the parent.
        """
        if self.format_only:
            return super().compute_metrics(results)
        class_names = self.dataset_meta['classes']
        unseen = self.unseen_class_mask(class_names)
        total_intersect, total_union, total_pred, total_label = (sum(areas) for areas in zip(*results))
        per_class = self.total_area_to_metrics(total_intersect, total_union, total_pred, total_label,
                                               self.metrics, self.nan_to_num, self.beta)
        if self.ground_truth_classes_only:
            absent = np.asarray(total_label) == 0
            for name, values in per_class.items():
                if name != 'aAcc':
                    values[absent] = np.nan if self.nan_to_num is None else self.nan_to_num

        iou = per_class['IoU']
        seen_miou, unseen_miou = _nanmean(iou[~unseen]), _nanmean(iou[unseen])
        splits_sum = seen_miou + unseen_miou
        harmonic_miou = 0.0 if splits_sum == 0 else 2 * seen_miou * unseen_miou / splits_sum
        metrics = {'aAcc': _percent(per_class['aAcc']), 'mIoU': _percent(_nanmean(iou)),
                   'mIoU_seen': _percent(seen_miou), 'mIoU_unseen': _percent(unseen_miou),
                   'hIoU': _percent(harmonic_miou)}
        metrics.update({'m' + name: _percent(_nanmean(values))
                        for name, values in per_class.items() if name not in ('aAcc', 'IoU')})
        self._log_tables(class_names, unseen, per_class, metrics)
        return metrics

    @staticmethod
    def _log_tables(class_names: Sequence[str], unseen: np.ndarray, per_class: Dict[str, np.ndarray],
                    metrics: Dict[str, float]) -> None:
        """Log the per-class scores with each class's split, then the split summary."""
        logger: MMLogger = MMLogger.get_current_instance()
        class_table = PrettyTable()
        class_table.add_column('Class', list(class_names))
        class_table.add_column('Split', ['unseen' if is_unseen else 'seen' for is_unseen in unseen])
        for name, values in per_class.items():
            if name != 'aAcc':
                class_table.add_column(name, _percent(values))
        print_log('per class results:', logger=logger)
        print_log('\n' + class_table.get_string(), logger=logger)

        summary_table = PrettyTable()
        for name in ('aAcc', 'mIoU', 'mIoU_seen', 'mIoU_unseen', 'hIoU'):
            summary_table.add_column(name, [metrics[name]])
        print_log(f'open-vocabulary summary ({int((~unseen).sum())} seen, {int(unseen.sum())} unseen classes):',
                  logger=logger)
        print_log('\n' + summary_table.get_string(), logger=logger)
