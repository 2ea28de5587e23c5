"""The CUDA sources of clipdense's ops compile for sm_80 and sm_90 (no GPU needed)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'tools' / 'check_cuda_build.sh'


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which(os.environ.get('NVCC', 'nvcc')) is None,
    reason='nvcc is not installed (set NVCC=/path/to/nvcc to run this check)')
def test_cuda_sources_compile():
    # About 2 minutes per .cu file on 2 shared CPU cores.
    result = subprocess.run(['bash', str(SCRIPT)],
                            cwd=ROOT,
                            capture_output=True,
                            text=True,
                            env=dict(os.environ, PYTHON=sys.executable),
                            timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    compiled = [line for line in result.stdout.splitlines() if line.startswith('ok')]
    assert len(compiled) == len(list((ROOT / 'clipdense/ops/csrc/cuda').glob('*.cu')))
