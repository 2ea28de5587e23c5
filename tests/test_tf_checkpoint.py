"""clipdense.engine.tf_checkpoint: TensorFlow V2 checkpoints read without TensorFlow, checked on checkpoints that
TensorFlow wrote (tests/data/tf_checkpoint/, made by make_checkpoints.py there) and on ones tests/tf_bundle.py
writes."""
import os

import numpy as np
import pytest
import torch
from tf_bundle import write_tf_checkpoint

from clipdense.engine.tf_checkpoint import TFCheckpointError, TFCheckpointReader

TF_WRITTEN = os.path.join(os.path.dirname(__file__), 'data', 'tf_checkpoint')


def tf_written_values(seed: int) -> dict:
    """The values make_checkpoints.py gave its variables, drawn again in its order (bfloat16 rounded to nearest
    even, as TensorFlow's cast does)."""
    rng = np.random.RandomState(seed)
    values = {
        'resnet50/conv2d/kernel': rng.randn(3, 3, 2, 4).astype(np.float32),
        'resnet50/batch_normalization/gamma': rng.randn(4).astype(np.float32),
        'resnet50/batch_normalization/beta': rng.randn(4).astype(np.float32),
        'resnet50/batch_normalization/moving_mean': rng.randn(4).astype(np.float32),
        'resnet50/batch_normalization/moving_variance': rng.rand(4).astype(np.float32),
        'fpn/l2/kernel_fp16': rng.randn(1, 1, 3, 5).astype(np.float16),
        'rpn_head/rpn/kernel_bf16': torch.from_numpy(rng.randn(3, 3, 2, 3).astype(np.float32)).bfloat16(),
        'frcnn_layer_0/fast_rcnn_head/box-predict/bias_f64': rng.randn(7),
        'global_step': np.array(123456789012, np.int64),
        'int32_scalar_vector': np.array([1, -2, 2**31 - 1], np.int32),
        'empty_var': np.zeros((3, 0), np.float32)}
    for index in range(320):
        name = ('frcnn_layer_0/fast_rcnn_head/a_long_scope_name_for_index_block_padding/'
                'block_group_%03d/conv2d_%d/batch_normalization_%d/kernel' % (index // 10, index, index))
        values[name] = rng.randn(*((1 + index % 3, 2) if index % 2 == 0 else (2,))).astype(np.float32)
    return values


@pytest.mark.parametrize('folder, seed, shards', [('single', 0, 1), ('sharded', 1, 2)])
def test_reads_checkpoints_tensorflow_wrote(folder, seed, shards):
    reader = TFCheckpointReader(os.path.join(TF_WRITTEN, folder))
    expected = tf_written_values(seed)
    assert reader.num_shards == shards and set(reader.entries) == set(expected)
    assert {entry.shard for entry in reader.entries.values()} == set(range(shards))
    for name, value in reader.state_dict().items():
        if isinstance(expected[name], torch.Tensor):
            assert value.dtype == torch.bfloat16 and torch.equal(value, expected[name]), name
        else:
            assert value.shape == expected[name].shape and np.array_equal(value.numpy(), expected[name]), name
            assert value.numpy().dtype == expected[name].dtype, name


def test_string_and_partitioned_tensors_are_named_errors():
    reader = TFCheckpointReader(os.path.join(TF_WRITTEN, 'extra', 'model.ckpt'))
    assert set(reader.entries) == {'string_var', 'partitioned/kernel', 'plain'}  # not the slices' own keys
    assert torch.equal(reader.read('plain'), torch.arange(5.0))
    with pytest.raises(TFCheckpointError, match="'string_var' is a string tensor"):
        reader.read('string_var')
    with pytest.raises(TFCheckpointError, match="'partitioned/kernel' is a partitioned variable"):
        reader.read('partitioned/kernel')


@pytest.fixture
def tensors():
    rng = np.random.default_rng(0)
    tensors = {f'resnet50/conv2d_{index}/kernel': rng.standard_normal((3, 3, 2, index + 1)).astype(np.float32)
               for index in range(40)}  # several data blocks of prefix-compressed names
    tensors.update({'global_step': np.array(180000, np.int64), 'fpn/p6/bias': np.arange(4, dtype=np.float16),
                    'frcnn/mask': np.array([True, False]), 'empty': np.zeros((0, 3), np.float32),
                    'double': np.linspace(0, 1, 5), 'count': np.array([3, -2], np.int32)})
    return tensors


def test_reads_every_tensor_by_prefix_index_file_or_folder(tmp_path, tensors):
    write_tf_checkpoint(str(tmp_path / 'model.ckpt-180000'), tensors)
    for path in (tmp_path / 'model.ckpt-180000', tmp_path / 'model.ckpt-180000.index', tmp_path):
        reader = TFCheckpointReader(str(path))
        assert reader.prefix == str(tmp_path / 'model.ckpt-180000') and set(reader.entries) == set(tensors)
    for name, value in tensors.items():
        tensor = reader.read(name)
        assert tensor.shape == value.shape and np.array_equal(tensor.numpy(), value), name
    assert reader.read('fpn/p6/bias').dtype == torch.float16 and reader.read('frcnn/mask').dtype == torch.bool
    assert set(reader.state_dict()) == set(tensors)


def test_bad_checkpoints_are_named_errors(tmp_path, tensors):
    with pytest.raises(TFCheckpointError, match='no TensorFlow checkpoint at .*PREFIX.index'):
        TFCheckpointReader(str(tmp_path / 'missing'))
    (tmp_path / 'junk.index').write_bytes(b'not a table' * 10)
    with pytest.raises(TFCheckpointError, match='junk.index is not a TensorFlow checkpoint index'):
        TFCheckpointReader(str(tmp_path / 'junk'))
    os.remove(tmp_path / 'junk.index')
    write_tf_checkpoint(str(tmp_path / 'a'), tensors)
    write_tf_checkpoint(str(tmp_path / 'b'), tensors)
    with pytest.raises(TFCheckpointError, match='several TensorFlow checkpoints'):
        TFCheckpointReader(str(tmp_path))
    reader = TFCheckpointReader(str(tmp_path / 'a'))
    with pytest.raises(TFCheckpointError, match="no tensor 'nope'"):
        reader.read('nope')
    data = tmp_path / 'a.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(TFCheckpointError, match='ends before .*is the download complete'):
        reader.read('resnet50/conv2d_39/kernel')
    os.remove(data)
    with pytest.raises(TFCheckpointError, match='cannot read .*a.data-00000-of-00001'):
        reader.read('global_step')
