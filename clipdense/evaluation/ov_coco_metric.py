"""COCO box (and mask) AP50 on the novel, base and all classes: the OV-COCO protocol's numbers."""
import contextlib
import io
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation import CocoMetric
from mmengine.fileio import load
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from clipdense.registry import METRICS
from clipdense.utils import UserError

SPLITS = ('novel', 'base', 'all')
# COCOeval's summary, in the order of its ``stats``, under mmdet's names.
COCO_STATS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


class ClassSplitError(UserError, ValueError):
    """The novel / base classes of an open-vocabulary metric are missing or do not fit the dataset's classes."""


def _as_names(classes: Optional[Union[str, Sequence[str]]]) -> Optional[Tuple[str, ...]]:
    if classes is None:
        return None
    return (classes, ) if isinstance(classes, str) else tuple(classes)


@METRICS.register_module()
class OVCocoMetric(CocoMetric):
    """mmdet's :class:`~mmdet.evaluation.CocoMetric` reporting AP50 on the novel, base and all classes.

    One COCOeval pass runs over the predictions for every class of the dataset (65 on OV-COCO, so a novel
    detection competes with base ones as in the generalized setting). A class's AP50 is the mean of
    ``eval['precision'][IoU 0.5, :, class, area 'all', maxDets 100]`` over the entries > -1 (a class without
    ground truth has none and is left out); a split's AP50 is the mean over its classes, as OVR-CNN and
    RegionCLIP report it. Returned, per iou type in ``metric`` ('bbox', 'segm'):

    - ``{type}_AP50_novel``, ``{type}_AP50_base``, ``{type}_AP50_all``: in percent, as the papers report;
    - ``{type}_mAP``, ``{type}_mAP_50`` ... ``{type}_mAP_l``: COCOeval's summary as mmdet reports it (fractions,
      rounded to 3 decimals, at ``proposal_nums[2]`` detections per image: 1000 by default).

    A table (split, number of classes, of them with ground truth, AP50) goes to the current logger.

    Args:
        novel_classes: the novel class names; default: ``dataset_meta['novel_classes']`` (``OVCocoDataset``,
            ``SyntheticWorldDetDataset``).
        base_classes: the base class names; default: ``dataset_meta['base_classes']``.
        metric: 'bbox' and/or 'segm'.
        **kwargs: ``ann_file``, ``iou_thrs``, ``proposal_nums``, ``format_only``, ``outfile_prefix``,
            ``backend_args``, ``collect_device``, ``prefix``: as for mmdet's ``CocoMetric`` (``iou_thrs`` must hold
            0.5 and ``proposal_nums`` 100).
    """

    def __init__(self, novel_classes: Optional[Union[str, Sequence[str]]] = None,
                 base_classes: Optional[Union[str, Sequence[str]]] = None,
                 metric: Union[str, Sequence[str]] = 'bbox', **kwargs) -> None:
        super().__init__(metric=metric, **kwargs)
        unsupported = [name for name in self.metrics if name not in ('bbox', 'segm')]
        if unsupported:
            raise ClassSplitError(f'OVCocoMetric: metric {unsupported} is not supported; give \'bbox\' and/or '
                                  "'segm' (proposal recall is mmdet's CocoMetric).")
        if not any(np.isclose(self.iou_thrs, 0.5)):
            raise ClassSplitError(f'OVCocoMetric: iou_thrs {list(self.iou_thrs)} lacks 0.5, the IoU of AP50.')
        if 100 not in self.proposal_nums:
            raise ClassSplitError(f'OVCocoMetric: proposal_nums {self.proposal_nums} lacks 100, the detections '
                                  'per image AP50 is taken at.')
        self.novel_classes = _as_names(novel_classes)
        self.base_classes = _as_names(base_classes)

    @CocoMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        CocoMetric.dataset_meta.fset(self, dataset_meta)
        if dataset_meta is not None:
            self.class_splits()  # a typo or a missing split fails before the test run, not after it

    def class_splits(self) -> Dict[str, Tuple[str, ...]]:
        """The class names of each split: ``novel``, ``base`` (from the arguments, else the dataset's meta) and
        ``all`` (the dataset's classes)."""
        meta = self.dataset_meta or {}
        classes = tuple(meta.get('classes', ()))
        splits = {}
        for split, given in (('novel', self.novel_classes), ('base', self.base_classes)):
            names = given if given is not None else _as_names(meta.get(f'{split}_classes'))
            if names is None:
                raise ClassSplitError(
                    f'OVCocoMetric: no {split} classes: the dataset\'s meta has no \'{split}_classes\'; give them '
                    f'as the metric\'s {split}_classes=[...] (class names), or use a dataset that carries them '
                    '(OVCocoDataset, SyntheticWorldDetDataset).')
            unknown = [name for name in names if name not in classes]
            if unknown:
                raise ClassSplitError(f'OVCocoMetric: {split}_classes {unknown} are not among the dataset\'s '
                                      f'{len(classes)} classes; give names from dataset_meta[\'classes\'].')
            splits[split] = names
        overlap = sorted(set(splits['novel']) & set(splits['base']))
        if overlap:
            raise ClassSplitError(f'OVCocoMetric: {overlap} are both novel and base classes; a class is one or '
                                  'the other.')
        splits['all'] = classes
        return splits

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate the gathered ``(ground truth, prediction)`` pairs; see the class docstring for the keys."""
        logger: MMLogger = MMLogger.get_current_instance()
        splits = self.class_splits()
        gts, preds = zip(*results)
        with tempfile.TemporaryDirectory() as tmp_dir:
            outfile_prefix = self.outfile_prefix or osp.join(tmp_dir, 'results')
            if self._coco_api is None:
                self._coco_api = COCO(self.gt_to_coco_json(gt_dicts=gts, outfile_prefix=outfile_prefix))
            if self.cat_ids is None:
                self.cat_ids = self._coco_api.get_cat_ids(cat_names=self.dataset_meta['classes'])
            if self.img_ids is None:
                self.img_ids = self._coco_api.get_img_ids()
            result_files = self.results2json(preds, outfile_prefix)
            if self.format_only:
                logger.info(f'results are saved in {osp.dirname(outfile_prefix)}')
                return OrderedDict()
            metrics = OrderedDict()
            for iou_type in self.metrics:
                coco_eval = self._evaluate(iou_type, load(result_files[iou_type]), logger)
                per_class = self.per_class_ap50(coco_eval)
                split_ap50 = {split: _mean_over_classes(per_class, names) for split, names in splits.items()}
                for split in SPLITS:
                    metrics[f'{iou_type}_AP50_{split}'] = split_ap50[split]
                for index, name in enumerate(COCO_STATS):
                    metrics[f'{iou_type}_{name}'] = float(f'{coco_eval.stats[index]:.3f}')
                self._log_table(iou_type, splits, per_class, split_ap50, logger)
        return metrics

    def _evaluate(self, iou_type: str, predictions: list, logger: MMLogger) -> COCOeval:
        """One COCOeval over every class; its summary goes to the logger instead of stdout."""
        if iou_type == 'segm':
            # With a 'bbox' in the results, pycocotools takes an instance's area from the box, not the mask.
            predictions = [{key: value for key, value in prediction.items() if key != 'bbox'}
                           for prediction in predictions]
        coco_eval = COCOeval(self._coco_api, self._load_predictions(predictions), iou_type)
        coco_eval.params.catIds = self.cat_ids
        coco_eval.params.imgIds = self.img_ids
        coco_eval.params.maxDets = list(self.proposal_nums)
        coco_eval.params.iouThrs = self.iou_thrs
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        logger.info(f'{iou_type} COCOeval:\n{summary.getvalue().rstrip()}')
        return coco_eval

    def _load_predictions(self, predictions: list) -> COCO:
        if predictions:
            return self._coco_api.loadRes(predictions)
        # pycocotools' loadRes cannot read an empty list; no detection at all is an AP of 0, not an error.
        empty = COCO()
        empty.dataset = dict(images=list(self._coco_api.dataset['images']),
                             categories=list(self._coco_api.dataset['categories']), annotations=[])
        with contextlib.redirect_stdout(io.StringIO()):
            empty.createIndex()
        return empty

    def per_class_ap50(self, coco_eval: COCOeval) -> Dict[str, float]:
        """Each evaluated class's AP50 in percent (area 'all', 100 detections), nan without ground truth."""
        params = coco_eval.params
        iou_index = int(np.flatnonzero(np.isclose(params.iouThrs, 0.5))[0])
        area_index = params.areaRngLbl.index('all')
        dets_index = list(params.maxDets).index(100)
        precision = coco_eval.eval['precision']  # (IoU, recall, class, area, maxDets)
        per_class = {}
        # evaluate() sorts params.catIds; precision's class axis follows that order.
        for index, category_id in enumerate(params.catIds):
            values = precision[iou_index, :, index, area_index, dets_index]
            values = values[values > -1]
            name = self._coco_api.load_cats([category_id])[0]['name']
            per_class[name] = float(np.mean(values)) * 100 if values.size else float('nan')
        return per_class

    @staticmethod
    def _log_table(iou_type: str, splits: Dict[str, Tuple[str, ...]], per_class: Dict[str, float],
                   split_ap50: Dict[str, float], logger: MMLogger) -> None:
        table = PrettyTable(['split', 'classes', 'with ground truth', f'{iou_type} AP50'])
        for split in SPLITS:
            with_gt = sum(1 for name in splits[split] if not np.isnan(per_class.get(name, float('nan'))))
            table.add_row([split, len(splits[split]), with_gt, f'{split_ap50[split]:.2f}'])
        print_log(f'open-vocabulary {iou_type} AP50 (IoU 0.5, area all, 100 detections per image):\n'
                  f'{table.get_string()}', logger=logger)


def _mean_over_classes(per_class: Dict[str, float], names: Sequence[str]) -> float:
    """The mean AP50 of the classes of ``names`` that have ground truth; nan when none has."""
    values = [per_class[name] for name in names if name in per_class and not np.isnan(per_class[name])]
    return float(np.mean(values)) if values else float('nan')
