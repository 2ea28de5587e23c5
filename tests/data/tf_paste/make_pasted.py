"""Writes pasted.npz: 28 x 28 mask probabilities pasted into an image by tensorflow/tpu's own evaluation code
(models/official/detection/utils/mask_utils.py: paste_instance_masks, called by evaluation/coco_utils.py on
[x, y, w, h] boxes), for tests/test_vild_reference_layers.py. Needs numpy, OpenCV and a tensorflow/tpu checkout:

    python tests/data/tf_paste/make_pasted.py /path/to/tpu
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(sys.argv[1], 'models', 'official', 'detection'))
from utils import mask_utils  # noqa: E402

HEIGHT, WIDTH = 45, 61
rng = np.random.RandomState(0)
boxes = np.array([
    [10.3, 5.7, 40.9, 30.2],  # inside
    [-6.5, 20.1, 12.2, 52.8],  # over the left and bottom edges
    [50.6, -3.3, 70.4, 9.9],  # over the right and top edges
    [20.0, 20.0, 20.4, 21.7],  # under a pixel wide
    [33.2, 12.9, 32.8, 14.1],  # inverted by under a pixel (x2 < x1)
    [0.0, 0.0, 60.0, 44.0],  # the whole image
], np.float32)  # x1, y1, x2, y2
masks = rng.uniform(0, 1, (len(boxes), 28, 28)).astype(np.float32)
masks[0, 5:20, 8:25] = 0.9  # a solid blob
xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)  # box_utils.yxyx_to_xywh's w = x2 - x1
pasted = mask_utils.paste_instance_masks(masks, xywh, HEIGHT, WIDTH) > 0  # coco_utils binarises at > 0
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pasted.npz'), boxes=boxes, masks=masks,
                    pasted=pasted, image_shape=np.array([HEIGHT, WIDTH]))
