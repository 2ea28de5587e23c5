"""A writer of TensorFlow V2 checkpoints for tests (TensorFlow is not a dependency): the LevelDB-format index of
TensorFlow's ``lib/io/table`` (prefix-compressed entries with restart points, several data blocks, an index block,
the 48-byte footer) and ``BundleEntryProto`` values, so converters of TF checkpoints are tested on files with the
official variable names and shapes. tests/data/tf_checkpoint/ holds a checkpoint written by TensorFlow itself, which
checks the reader against the real format."""
import struct
from typing import Dict, List, Tuple

import numpy as np

TF_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.int32): 3, np.dtype(np.int64): 9,
             np.dtype(np.float16): 19, np.dtype(np.bool_): 10}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7f, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value) -> bytes:
    """A protobuf field: ints as varints, bytes length-delimited."""
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def block(entries: List[Tuple[bytes, bytes]], restart_interval: int = 4) -> bytes:
    body, restarts, previous = bytearray(), [], b''
    for position, (key, value) in enumerate(entries):
        shared = 0
        if position % restart_interval == 0:
            restarts.append(len(body))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        body += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    restarts = restarts or [0]
    return bytes(body) + struct.pack(f'<{len(restarts)}I', *restarts) + struct.pack('<I', len(restarts))


def write_tf_checkpoint(prefix: str, tensors: Dict[str, np.ndarray], entries_per_block: int = 8) -> None:
    """``PREFIX.index`` and ``PREFIX.data-00000-of-00001`` holding ``tensors`` (little-endian, sorted by name)."""
    data, entries = bytearray(), [(b'', field(1, 1) + field(3, field(1, 1)))]
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        shape = b''.join(field(2, field(1, size)) for size in array.shape)
        raw = array.astype(array.dtype.newbyteorder('<')).tobytes()
        entry = field(1, TF_DTYPES[array.dtype]) + field(2, shape) + field(4, len(data)) + field(5, len(raw))
        entries.append((name.encode(), entry))
        data += raw
    table, index = bytearray(), []
    for start in range(0, len(entries), entries_per_block):
        chunk = entries[start:start + entries_per_block]
        contents = block(chunk)
        index.append((chunk[-1][0], varint(len(table)) + varint(len(contents))))
        table += contents + b'\0' + b'\0' * 4  # uncompressed; checksum not read
    handles = []
    for contents in (block([]), block(index)):
        handles.append(varint(len(table)) + varint(len(contents)))
        table += contents + b'\0' * 5
    footer = b''.join(handles)
    table += footer + b'\0' * (40 - len(footer)) + struct.pack('<Q', 0xdb4775248b80fb57)
    with open(prefix + '.index', 'wb') as file:
        file.write(table)
    with open(prefix + '.data-00000-of-00001', 'wb') as file:
        file.write(data)
