"""How the checkpoints beside this file were written: by TensorFlow itself (tensorflow-cpu 2.21, TF1 ``Saver``, V2
format), so that tests/test_tf_checkpoint.py checks clipdense's reader against the real on-disk format. Needs
TensorFlow, which clipdense does not depend on; the suite never runs this file.

    python tests/data/tf_checkpoint/make_checkpoints.py tests/data/tf_checkpoint

- single/: 331 variables with ViLD-like names (float32, float16, bfloat16, float64, int64, int32, an empty one and
  320 under long names, so that the index spans several blocks), values drawn from numpy's RandomState(0) in the
  order below (tests/test_tf_checkpoint.py draws them again);
- sharded/: the same names over two devices, so two data shards, values from RandomState(1);
- extra/: a string variable, a variable partitioned in 3 slices and a plain one (the reader's errors).
"""
import os
import shutil
import sys

import numpy as np

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
tf1.disable_eager_execution()


def build_variables(rng, devices=(None, None)):
    variables = []

    def make(name, value, dtype, device):
        initial = tf.cast(tf.constant(value.astype(np.float32)), tf.bfloat16) if dtype == tf.bfloat16 else \
            tf.constant(value, dtype=dtype)
        with tf1.device(device):
            variables.append(tf1.get_variable(name, initializer=initial, use_resource=False))

    first, second = devices
    make('resnet50/conv2d/kernel', rng.randn(3, 3, 2, 4).astype(np.float32), tf.float32, first)
    make('resnet50/batch_normalization/gamma', rng.randn(4).astype(np.float32), tf.float32, second)
    make('resnet50/batch_normalization/beta', rng.randn(4).astype(np.float32), tf.float32, first)
    make('resnet50/batch_normalization/moving_mean', rng.randn(4).astype(np.float32), tf.float32, second)
    make('resnet50/batch_normalization/moving_variance', rng.rand(4).astype(np.float32), tf.float32, first)
    make('fpn/l2/kernel_fp16', rng.randn(1, 1, 3, 5).astype(np.float16), tf.float16, second)
    make('rpn_head/rpn/kernel_bf16', rng.randn(3, 3, 2, 3).astype(np.float32), tf.bfloat16, first)
    make('frcnn_layer_0/fast_rcnn_head/box-predict/bias_f64', rng.randn(7).astype(np.float64), tf.float64, second)
    make('global_step', np.array(123456789012, dtype=np.int64), tf.int64, first)
    make('int32_scalar_vector', np.array([1, -2, 2**31 - 1], dtype=np.int32), tf.int32, second)
    make('empty_var', np.zeros((3, 0), np.float32), tf.float32, first)
    for index in range(320):
        name = ('frcnn_layer_0/fast_rcnn_head/a_long_scope_name_for_index_block_padding/'
                'block_group_%03d/conv2d_%d/batch_normalization_%d/kernel' % (index // 10, index, index))
        shape = (1 + index % 3, 2) if index % 2 == 0 else (2,)
        make(name, rng.randn(*shape).astype(np.float32), tf.float32, second if index % 2 else first)
    return variables


def save(variables, folder, sharded=False, config=None):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    saver = tf1.train.Saver(variables, sharded=sharded)
    with tf1.Session(config=config) as session:
        session.run(tf1.global_variables_initializer())
        saver.save(session, os.path.join(folder, 'model.ckpt'), write_meta_graph=False, write_state=False)


def main(out):
    with tf.Graph().as_default():
        save(build_variables(np.random.RandomState(0)), os.path.join(out, 'single'))
    with tf.Graph().as_default():
        variables = build_variables(np.random.RandomState(1), ('/cpu:0', '/cpu:1'))
        save(variables, os.path.join(out, 'sharded'), sharded=True,
             config=tf1.ConfigProto(device_count={'CPU': 2}, allow_soft_placement=False))
    with tf.Graph().as_default():
        tf1.get_variable('string_var', initializer=tf.constant([b'hello', b'', b'vild' * 40, b'\x00\xff']),
                         use_resource=False)
        tf1.get_variable('partitioned/kernel', shape=(10, 3), dtype=tf.float32,
                         initializer=tf1.random_normal_initializer(seed=3),
                         partitioner=tf1.fixed_size_partitioner(3, axis=0), use_resource=False)
        tf1.get_variable('plain', initializer=tf.constant(np.arange(5, dtype=np.float32)), use_resource=False)
        save(None, os.path.join(out, 'extra'))


if __name__ == '__main__':
    main(sys.argv[1])
