"""Writes resized.npz: images resized and padded by tensorflow/tpu's own test-time input code
(models/official/detection/utils/input_utils.py: resize_and_crop_image without jitter, TF's bilinear
tf.image.resize_images), for tests/test_vild_transforms.py. Needs TensorFlow and a tensorflow/tpu checkout:

    TF_USE_LEGACY_KERAS=1 python tests/data/tf_resize/make_resized.py /path/to/tpu
"""
import os
import sys

import numpy as np
import tensorflow.compat.v1 as tf

tf.disable_v2_behavior()
sys.path.insert(0, os.path.join(sys.argv[1], 'models', 'official', 'detection'))
from utils import input_utils  # noqa: E402

# (height, width) of a uint8 RGB image -> the desired (and padded) size: downscaling on either side, upscaling.
CASES = [((37, 53), (32, 32)), ((53, 37), (32, 48)), ((11, 17), (40, 40))]

arrays = {}
rng = np.random.RandomState(0)
with tf.Session() as session:
    for index, (shape, size) in enumerate(CASES):
        image = rng.randint(0, 256, shape + (3, )).astype(np.uint8)
        resized, info = input_utils.resize_and_crop_image(
            tf.image.convert_image_dtype(tf.constant(image), tf.float32) * 255.0, size, size)
        arrays[f'image_{index}'] = image
        arrays[f'resized_{index}'], arrays[f'info_{index}'] = session.run([resized, info])
np.savez_compressed(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'resized.npz'), **arrays)
