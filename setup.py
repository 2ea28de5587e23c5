"""clipdense: open-vocabulary dense prediction on CLIP.

Builds ``clipdense._ext`` from ``clipdense/ops/csrc``: the C++ sources always, the CUDA sources
when torch sees a GPU or ``FORCE_CUDA=1`` is set (with ``TORCH_CUDA_ARCH_LIST`` choosing the
architectures, as for any torch extension).
"""
import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension

CSRC = os.path.join('clipdense', 'ops', 'csrc')


def with_cuda() -> bool:
    import torch
    return os.getenv('FORCE_CUDA', '0') == '1' or torch.cuda.is_available()


def make_extension():
    sources = sorted(glob.glob(os.path.join(CSRC, '*.cpp')) +
                     glob.glob(os.path.join(CSRC, 'cpu', '*.cpp')))
    # -ffp-contract=off: products and sums rounded one by one, as PyTorch's elementwise ops round them (PAMR's
    # kernel is bit for bit its reference). -fopenmp: at::parallel_for runs its tasks on torch's OpenMP threads only
    # where the including source is compiled with OpenMP (ATen/Parallel-inl.h); without it every kernel runs on one
    # thread. The extension then loads the libgomp that torch has already loaded (the same soname).
    kwargs = dict(include_dirs=[os.path.abspath(CSRC)],
                  extra_compile_args={'cxx': ['-O3', '-ffp-contract=off', '-fopenmp']},
                  extra_link_args=['-fopenmp'])
    if with_cuda():
        sources += sorted(glob.glob(os.path.join(CSRC, 'cuda', '*.cu')))
        kwargs['define_macros'] = [('WITH_CUDA', None)]
        kwargs['extra_compile_args']['nvcc'] = ['-O3', '--expt-relaxed-constexpr']
        return CUDAExtension('clipdense._ext', sources, **kwargs)
    return CppExtension('clipdense._ext', sources, **kwargs)


def read_version() -> str:
    scope: dict = {}
    with open(os.path.join('clipdense', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='clipdense',
    version=read_version(),
    description='Open-vocabulary dense prediction on CLIP (OpenMMLab stack)',
    python_requires='>=3.10',
    packages=find_packages(include=['clipdense', 'clipdense.*']),
    include_package_data=True,
    package_data={'clipdense': ['assets/**/*', 'datasets/vocabularies/**/*.txt']},
    # open_clip before 2.26 runs its transformers sequence-first, which clipdense's staged towers do not read;
    # 3.3 is the version tested (tools/install.sh pins it). pycocotools comes with mmdet; the LVIS API (OV-LVIS:
    # mmdet's LVISV1Dataset and LVISMetric) does not, hence lvis.
    install_requires=[
        'torch>=2.6', 'mmengine==0.10.7', 'mmcv>=2.0.0,<2.2.0', 'mmsegmentation==1.2.2',
        'mmdet==3.3.0', 'open_clip_torch>=3.3,<4', 'lvis>=0.5.3', 'opencv-python', 'ftfy', 'regex',
    ],
    ext_modules=[make_extension()],
    cmdclass={'build_ext': BuildExtension},
    zip_safe=False,
)
