"""Write OV-LVIS's training json: LVIS v1 train without the annotations of its 337 rare categories.

    python tools/dataset_converters/ov_lvis.py data/lvis_v1/annotations
    python tools/dataset_converters/ov_lvis.py --train-json lvis_v1_train.json -o data/lvis_v1/annotations

Writes ``lvis_v1_train_ov_base.json`` beside ``lvis_v1_train.json`` (or into ``--out-dir``): the images left with
annotations, all 1,203 categories with their ids. Testing reads ``lvis_v1_val.json`` as released.
"""
import argparse
import os
import os.path as osp

from clipdense.datasets.ov_splits import instance_counts, ov_lvis_train, read_instances_json, write_instances_json
from clipdense.utils import UserError, run_cli

SOURCE_NAME = 'lvis_v1_train.json'
OUTPUT_NAME = 'lvis_v1_train_ov_base.json'


class ConverterArgumentError(UserError, ValueError):
    """The command line names no input or output."""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('annotations_dir', nargs='?', help=f'LVIS v1\'s annotations folder ({SOURCE_NAME})')
    parser.add_argument('--train-json', help=f'LVIS v1\'s {SOURCE_NAME} (default: in annotations_dir)')
    parser.add_argument('-o', '--out-dir', help='where to write (default: annotations_dir)')
    args = parser.parse_args(argv)
    source = args.train_json or (osp.join(args.annotations_dir, SOURCE_NAME) if args.annotations_dir else None)
    out_dir = args.out_dir or args.annotations_dir
    if source is None or out_dir is None:
        raise ConverterArgumentError('give LVIS v1\'s annotations folder, or --train-json and --out-dir')
    content = ov_lvis_train(read_instances_json(source), source)
    os.makedirs(out_dir, exist_ok=True)  # after reading: a failed run leaves no empty folder behind
    destination = osp.join(out_dir, OUTPUT_NAME)
    write_instances_json(content, destination)
    counts = instance_counts(content)
    print(f'{destination}: {counts["images"]} images, {counts["annotations"]} annotations, '
          f'{counts["categories"]} categories')


if __name__ == '__main__':
    run_cli(main)
