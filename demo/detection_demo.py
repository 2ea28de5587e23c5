"""Detect any vocabulary in an image and write it with the boxes (and masks) drawn.

    python demo/detection_demo.py IMAGE configs/vild/vild-text_r18-tiny-fpn_clipdense-tiny_synthetic-world.py \
        --checkpoint CKPT --vocab "red circle,blue square;blue box" --score-thr 0.3 --out out.png

``--vocab``: commas separate classes, semicolons separate synonyms of a class (``person;man;woman``); a
class-name file (one class per line, synonyms separated by ", ") works too. Without ``--vocab`` the config's
vocabulary is used. ``--pretrained`` replaces the config's CLIP weights (``model.clip.pretrained``).
``--cfg-options`` overrides other config entries, as in tools/test.py. Detections scoring at least
``--score-thr`` are drawn, at most ``--max-dets`` of them, highest scores first.

A mistake in the arguments (a missing file, a bad option value, an output that cannot be written) ends the demo
with one line on stderr and exit status 2, before the model is built where it can be checked beforehand.
"""
import argparse
from collections import Counter

import cv2
from mmengine.config import DictAction

from clipdense.apis import inference_detector, init_model, read_image
from clipdense.apis.demo_options import check_output_image, demo_cfg_options, write_output_image
from clipdense.utils import UserError, run_cli
from clipdense.utils.precision import add_inference_args
from clipdense.visualization import draw_detections


class OptionValueError(UserError, ValueError):
    """A command-line option whose value is outside its range."""


def parse_args():
    parser = argparse.ArgumentParser(description='clipdense detection demo')
    parser.add_argument('image', help='image file')
    parser.add_argument('config', help='config file of a detection method')
    parser.add_argument('--checkpoint', help='trained weights of the detector')
    parser.add_argument('--vocab', help='class names: "a,b;synonym,c" or a class-name file')
    parser.add_argument('--pretrained', help='CLIP weights: open_clip tag, file, or "none" for random weights; '
                        'sets model.clip.pretrained')
    parser.add_argument('--score-thr', type=float, default=0.3, help='draw detections scoring at least this (0-1)')
    parser.add_argument('--max-dets', type=int, default=100, help='draw at most this many detections')
    parser.add_argument('--device', default='cpu')
    add_inference_args(parser)
    parser.add_argument('--out', default='outputs/detection_demo.png', help='where to write the image')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. model.test_cfg.rcnn.max_per_img=20')
    return parser.parse_args()


def check_options(args) -> None:
    if not 0 <= args.score_thr <= 1:
        raise OptionValueError(f'--score-thr {args.score_thr}: scores lie in [0, 1]; give a threshold between 0 '
                               'and 1, such as 0.3.')
    if args.max_dets < 1:
        raise OptionValueError(f'--max-dets {args.max_dets}: give a positive number of detections to draw.')


def main():
    args = parse_args()
    check_options(args)
    image = read_image(args.image)
    check_output_image(args.out, 'image')
    options = demo_cfg_options(args.cfg_options, args.vocab, args.pretrained)
    model = init_model(args.config, args.checkpoint, device=args.device, cfg_options=options,
                       precision=args.precision, compile=args.compile)
    instances = inference_detector(model, image).pred_instances
    instances = instances[instances.scores >= args.score_thr]
    instances = instances[instances.scores.argsort(descending=True)[:args.max_dets]]
    class_names = model.dataset_meta['classes']
    drawn = draw_detections(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), instances.bboxes, instances.labels,
                            instances.scores, class_names, masks=instances.get('masks'))
    write_output_image(args.out, cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    counts = Counter(class_names[label] for label in instances.labels.tolist())
    found = ', '.join(f'{count} {name}' for name, count in counts.most_common())
    print(f'{len(instances)} detections drawn (score >= {args.score_thr}){": " + found if found else ""}')
    print(f'detections written to {args.out}')


if __name__ == '__main__':
    run_cli(main)
