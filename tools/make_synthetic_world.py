"""Write the synthetic world (ADE20K-style segmentation + COCO-style detection) to a folder.

Example::

    python tools/make_synthetic_world.py data/synthetic_world --num-train 2000 --num-val 200

The output is a pure function of the arguments: the same seed writes the same files.
"""
import argparse
import time

from clipdense.datasets.synthetic import write_synthetic_world


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='output folder (a config\'s data_root)')
    parser.add_argument('--num-train', type=int, default=2000, help='training scenes')
    parser.add_argument('--num-val', type=int, default=200, help='validation scenes')
    parser.add_argument('--seed', type=int, default=0, help='world seed')
    parser.add_argument('--unseen-in-train', action='store_true',
                        help='training scenes also hold unseen objects (the transductive setting; their labels are '
                        'written but the training json leaves them out)')
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.time()
    meta = write_synthetic_world(args.out_dir, args.num_train, args.num_val, args.seed, args.unseen_in_train)
    where = 'also in the training scenes, not in the training json' if args.unseen_in_train else 'not in training'
    print(f'wrote {args.num_train} train and {args.num_val} val scenes '
          f'({len(meta["classes"])} classes, {len(meta["unseen_classes"])} unseen, {where}) '
          f'to {args.out_dir} in {time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
