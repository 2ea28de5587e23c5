"""Write OV-COCO's annotation jsons (OVR-CNN's split: 48 base, 17 novel categories) from COCO 2017's.

    python tools/dataset_converters/ov_coco.py data/coco/annotations
    python tools/dataset_converters/ov_coco.py --train-json A.json --val-json B.json -o data/coco/annotations

Reads ``instances_train2017.json`` / ``instances_val2017.json`` and writes beside them (or into ``--out-dir``):

- ``instances_train2017_ov_base.json``: the 65 categories (each with ``'split'``), only base annotations, the
  images with at least one (novel objects in them stay unannotated);
- ``instances_val2017_ov65.json``: the 65 categories, their annotations, the images with at least one (4,836).

The split and what each file holds: ``clipdense/datasets/ov_splits.py`` and docs/datasets.md.
"""
import argparse
import os
import os.path as osp

from clipdense.datasets.ov_splits import (instance_counts, ov_coco_train, ov_coco_val, read_instances_json,
                                          write_instances_json)
from clipdense.utils import UserError, run_cli

# split: (COCO's json, the json written, the function making it)
OUTPUTS = {
    'train': ('instances_train2017.json', 'instances_train2017_ov_base.json', ov_coco_train),
    'val': ('instances_val2017.json', 'instances_val2017_ov65.json', ov_coco_val),
}


class ConverterArgumentError(UserError, ValueError):
    """The command line names no input or output."""


def convert(source: str, destination: str, make) -> dict:
    """Read ``source``, write ``make(json)`` to ``destination``; returns the counts written."""
    content = make(read_instances_json(source), source)
    os.makedirs(osp.dirname(destination) or '.', exist_ok=True)
    write_instances_json(content, destination)
    return instance_counts(content)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('annotations_dir', nargs='?',
                        help='COCO 2017\'s annotations folder (instances_{train,val}2017.json)')
    parser.add_argument('--train-json', help='COCO\'s instances_train2017.json (default: in annotations_dir)')
    parser.add_argument('--val-json', help='COCO\'s instances_val2017.json (default: in annotations_dir)')
    parser.add_argument('-o', '--out-dir', help='where to write (default: annotations_dir)')
    parser.add_argument('--splits', nargs='+', choices=sorted(OUTPUTS), default=['train', 'val'],
                        help='which jsons to write (default: train val)')
    args = parser.parse_args(argv)
    given = {'train': args.train_json, 'val': args.val_json}
    out_dir = args.out_dir or args.annotations_dir
    if out_dir is None:
        raise ConverterArgumentError('no output folder: give COCO\'s annotations folder or --out-dir')
    for split in args.splits:
        source_name, output_name, make = OUTPUTS[split]
        source = given[split] or (osp.join(args.annotations_dir, source_name) if args.annotations_dir else None)
        if source is None:
            raise ConverterArgumentError(f'no {split} json: give COCO\'s annotations folder or --{split}-json')
        destination = osp.join(out_dir, output_name)
        counts = convert(source, destination, make)
        print(f'{destination}: {counts["images"]} images, {counts["annotations"]} annotations, '
              f'{counts["categories"]} categories')


if __name__ == '__main__':
    run_cli(main)
