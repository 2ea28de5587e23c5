"""Reading TensorFlow checkpoints (the V2 "tensor bundle": ``PREFIX.index`` + ``PREFIX.data-SSSSS-of-NNNNN``) without
TensorFlow, for converting released TF models (ViLD).

The index is a LevelDB-format table (TensorFlow's ``lib/io/table``): data blocks of prefix-compressed key/value
entries found through an index block named by a fixed 48-byte footer. Its values are protocol buffers —
``BundleHeaderProto`` under the empty key, a ``BundleEntryProto`` (dtype, shape, shard, offset, size) under each
tensor's name — decoded here field by field. Tensor bytes are read from the data shards as little-endian arrays.
Checksums are not verified; sizes are (a truncated file is an error naming it)."""
import os
import struct
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import torch

from clipdense.utils import UserError

TABLE_MAGIC = 0xdb4775248b80fb57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5  # compression type byte + masked crc32c
# TensorFlow's DataType enum (types.proto) → numpy dtype; bfloat16 is read as its uint16 bits.
NUMPY_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
                10: np.bool_, 14: np.uint16, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}
BFLOAT16 = 14
DTYPE_NAMES = {7: 'string', 8: 'complex64', 18: 'complex128', 20: 'resource', 21: 'variant'}


class TFCheckpointError(UserError, ValueError):
    """The files are not a readable TensorFlow V2 checkpoint."""


class TFTensorEntry(NamedTuple):
    dtype: int
    shape: Tuple[int, ...]
    shard: int
    offset: int
    size: int
    sliced: bool


def _varint(buffer: bytes, position: int) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(buffer):
            raise IndexError('varint runs past the end')
        byte = buffer[position]
        value |= (byte & 0x7f) << shift
        position += 1
        if byte < 0x80:
            return value, position
        shift += 7


def _proto_fields(buffer: bytes) -> Iterator[Tuple[int, object]]:
    """(field number, value) of a serialised protocol buffer: varints as ints, length-delimited fields as bytes,
    fixed32/64 as ints."""
    position = 0
    while position < len(buffer):
        tag, position = _varint(buffer, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(buffer, position)
        elif wire_type == 2:
            length, position = _varint(buffer, position)
            value, position = buffer[position:position + length], position + length
        elif wire_type == 5:
            value, position = struct.unpack_from('<I', buffer, position)[0], position + 4
        elif wire_type == 1:
            value, position = struct.unpack_from('<Q', buffer, position)[0], position + 8
        else:
            raise ValueError(f'unsupported protobuf wire type {wire_type}')
        yield number, value


def _shape(buffer: bytes) -> Tuple[int, ...]:
    """A ``TensorShapeProto``: repeated ``dim`` (2) of ``Dim.size`` (1)."""
    dims = []
    for number, value in _proto_fields(buffer):
        if number == 2:
            dims.append(next((size for field, size in _proto_fields(value) if field == 1), 0))
        elif number == 3 and value:
            raise ValueError('a tensor of unknown rank')
    return tuple(dims)


def _entry(buffer: bytes) -> TFTensorEntry:
    fields = dict(dtype=0, shape=(), shard=0, offset=0, size=0, sliced=False)
    for number, value in _proto_fields(buffer):
        if number == 1:
            fields['dtype'] = value
        elif number == 2:
            fields['shape'] = _shape(value)
        elif number in (3, 4, 5):
            fields[('shard', 'offset', 'size')[number - 3]] = value
        elif number == 7:
            fields['sliced'] = True
    return TFTensorEntry(**fields)


class TFCheckpointReader:
    """The tensors of a TF V2 checkpoint by name, read lazily: ``entries`` lists them (dtype, shape, shard, ...),
    ``read(name)`` returns one as a torch tensor. ``path`` is the checkpoint prefix (``.../model.ckpt-180000``),
    its ``.index`` file, or a folder holding one checkpoint."""

    def __init__(self, path: str):
        self.prefix = self._find_prefix(path)
        index_path = self.prefix + '.index'
        with open(index_path, 'rb') as file:
            index = file.read()
        try:
            self.num_shards, self.entries = self._parse_index(index)
        except (ValueError, IndexError, struct.error) as error:
            raise TFCheckpointError(f'{index_path} is not a TensorFlow checkpoint index ({error}); '
                                    'is the download complete?') from error

    @staticmethod
    def _find_prefix(path: str) -> str:
        if path.endswith('.index') and os.path.isfile(path):
            return path[:-len('.index')]
        if os.path.isfile(path + '.index'):
            return path
        if os.path.isdir(path):
            indexes = sorted(name for name in os.listdir(path) if name.endswith('.index'))
            if len(indexes) == 1:
                return os.path.join(path, indexes[0][:-len('.index')])
            if indexes:
                raise TFCheckpointError(f'{path} holds several TensorFlow checkpoints ({", ".join(indexes)}); '
                                        'pass one prefix, e.g. ' + os.path.join(path, indexes[-1][:-len('.index')]))
        raise TFCheckpointError(f'no TensorFlow checkpoint at {path}: expected PREFIX.index and '
                                'PREFIX.data-00000-of-0000N files (pass PREFIX, its .index file or their folder)')

    @staticmethod
    def _block(table: bytes, handle: bytes, position: int = 0) -> List[Tuple[bytes, bytes]]:
        """The (key, value) entries of the block whose ``BlockHandle`` (offset and size varints) starts at
        ``handle[position:]``."""
        offset, position = _varint(handle, position)
        size, _ = _varint(handle, position)
        if offset + size + BLOCK_TRAILER_SIZE > len(table):
            raise ValueError('a block runs past the end of the file')
        if table[offset + size] != 0:
            raise ValueError(f'compressed block (type {table[offset + size]}); TensorFlow writes bundles uncompressed')
        block = table[offset:offset + size]
        num_restarts = struct.unpack_from('<I', block, size - 4)[0]
        end = size - 4 - 4 * num_restarts
        entries, key, position = [], b'', 0
        while position < end:
            shared, position = _varint(block, position)
            unshared, position = _varint(block, position)
            value_length, position = _varint(block, position)
            key = key[:shared] + block[position:position + unshared]
            position += unshared
            entries.append((key, block[position:position + value_length]))
            position += value_length
        return entries

    def _parse_index(self, table: bytes) -> Tuple[int, Dict[str, TFTensorEntry]]:
        if len(table) < FOOTER_SIZE or struct.unpack_from('<Q', table, len(table) - 8)[0] != TABLE_MAGIC:
            raise ValueError('no table footer')
        footer = table[-FOOTER_SIZE:]
        _, position = _varint(footer, 0)  # the footer starts with the metaindex block's handle (unused by bundles)
        _, position = _varint(footer, position)
        num_shards, entries = 1, {}
        for _, data_handle in self._block(table, footer, position):
            for key, value in self._block(table, data_handle):
                if not key:  # BundleHeaderProto: num_shards (1), endianness (2: 0 little, 1 big)
                    header = dict(_proto_fields(value))
                    num_shards = header.get(1, 1)
                    if header.get(2, 0):
                        raise ValueError('a big-endian checkpoint')
                elif key[0] != 0:  # keys from a NUL byte on are the slices of partitioned tensors
                    entries[key.decode('utf-8', 'replace')] = _entry(value)
        return num_shards, entries

    def data_path(self, shard: int) -> str:
        return f'{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}'

    def read(self, name: str) -> torch.Tensor:
        """The tensor ``name`` (bfloat16 as torch.bfloat16, bool as torch.bool)."""
        if name not in self.entries:
            raise TFCheckpointError(f'{self.prefix} has no tensor {name!r}')
        entry = self.entries[name]
        if entry.sliced:
            raise TFCheckpointError(f'{self.prefix}: {name!r} is a partitioned variable, which is not supported')
        if entry.dtype not in NUMPY_DTYPES:
            dtype = DTYPE_NAMES.get(entry.dtype, f'DataType {entry.dtype}')
            raise TFCheckpointError(f'{self.prefix}: {name!r} is a {dtype} tensor; only numeric tensors are read')
        dtype = np.dtype(NUMPY_DTYPES[entry.dtype]).newbyteorder('<')
        count = int(np.prod(entry.shape, dtype=np.int64))
        if entry.size != count * dtype.itemsize:
            raise TFCheckpointError(f'{self.prefix}: {name!r} has {entry.size} bytes for shape {entry.shape}')
        data_path = self.data_path(entry.shard)
        try:
            with open(data_path, 'rb') as file:
                file.seek(entry.offset)
                data = file.read(entry.size)
        except OSError as error:
            raise TFCheckpointError(f'cannot read {data_path} ({error.strerror}); a checkpoint needs its .index and '
                                    'every .data-*-of-* file beside each other') from error
        if len(data) != entry.size:
            raise TFCheckpointError(f'{data_path} ends before {name!r}; is the download complete?')
        array = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder('='), copy=True).reshape(entry.shape)
        tensor = torch.from_numpy(array)
        return tensor.view(torch.bfloat16) if entry.dtype == BFLOAT16 else tensor

    def state_dict(self, names: Optional[Iterable[str]] = None) -> Dict[str, torch.Tensor]:
        """``names`` (default: every tensor) read into a dict."""
        return {name: self.read(name) for name in (self.entries if names is None else names)}
