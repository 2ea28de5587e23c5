// PAMR's propagation on CUDA: one thread per output element, neighbours in order. Products and sums
// go through round-to-nearest intrinsics (never contracted into a fused multiply-add), each rounded to
// the scores' dtype as the PyTorch reference's elementwise ops round them, so results are bit for bit
// the reference's.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "ops.h"

namespace clipdense {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxNeighbours = 64;

struct Offsets {
  int count;
  int dy[kMaxNeighbours], dx[kMaxNeighbours];
};

int blocks_for(int64_t elements) {
  // Grid-stride loops cover whatever the grid does not.
  return static_cast<int>(std::min<int64_t>((elements + kThreads - 1) / kThreads, 65535 * 8));
}

// a * b and a + b rounded once to T, as torch's elementwise mul and add on T.
template <typename T>
__device__ __forceinline__ T mul_rn(T a, T b) {
  return static_cast<T>(__fmul_rn(static_cast<float>(a), static_cast<float>(b)));
}
template <>
__device__ __forceinline__ double mul_rn<double>(double a, double b) {
  return __dmul_rn(a, b);
}
template <typename T>
__device__ __forceinline__ T add_rn(T a, T b) {
  return static_cast<T>(__fadd_rn(static_cast<float>(a), static_cast<float>(b)));
}
template <>
__device__ __forceinline__ double add_rn<double>(double a, double b) {
  return __dadd_rn(a, b);
}

template <typename T>
__global__ void propagate_step_kernel(const T* __restrict__ source, T* __restrict__ target,
                                      const T* __restrict__ weights, int64_t total, int64_t channels,
                                      int height, int width, Offsets offsets) {
  const int64_t plane = static_cast<int64_t>(height) * width;
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; index < total;
       index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int x = static_cast<int>(index % width);
    const int y = static_cast<int>((index / width) % height);
    const int64_t image_channel = index / plane;
    const int64_t image = image_channel / channels;
    const T* scores = source + image_channel * plane;
    const T* w = weights + image * offsets.count * plane + static_cast<int64_t>(y) * width + x;
    T value = T(0);
    for (int k = 0; k < offsets.count; ++k) {
      const int yy = min(max(y + offsets.dy[k], 0), height - 1);
      const int xx = min(max(x + offsets.dx[k], 0), width - 1);
      const T product = mul_rn<T>(w[k * plane], scores[static_cast<int64_t>(yy) * width + xx]);
      value = k == 0 ? product : add_rn<T>(value, product);
    }
    target[index] = value;
  }
}

}  // namespace

at::Tensor pamr_propagate_cuda(const at::Tensor& scores, const at::Tensor& weights,
                               const std::vector<int64_t>& dilations, int64_t steps) {
  const c10::cuda::CUDAGuard device_guard(scores.device());
  const at::Tensor source = scores.contiguous();
  const at::Tensor affinity = weights.contiguous();
  const auto pairs = pamr_offsets(dilations);
  TORCH_CHECK(static_cast<int>(pairs.size()) <= kMaxNeighbours, "pamr_propagate: at most ",
              kMaxNeighbours / 8, " dilations on CUDA, got ", dilations.size());
  Offsets offsets;
  offsets.count = static_cast<int>(pairs.size());
  for (size_t k = 0; k < pairs.size(); ++k) {
    offsets.dy[k] = static_cast<int>(pairs[k].first);
    offsets.dx[k] = static_cast<int>(pairs[k].second);
  }
  const int64_t total = source.numel();
  at::Tensor buffers[2] = {at::empty_like(source), at::empty_like(source)};
  at::Tensor current = source;
  if (total == 0) return current;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  for (int64_t step = 0; step < steps; ++step) {
    at::Tensor& next = buffers[step % 2];
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, source.scalar_type(), "pamr_propagate_cuda", [&] {
      propagate_step_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
          current.data_ptr<scalar_t>(), next.data_ptr<scalar_t>(), affinity.data_ptr<scalar_t>(), total,
          source.size(1), static_cast<int>(source.size(2)), static_cast<int>(source.size(3)), offsets);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    current = next;
  }
  return current;
}

}  // namespace clipdense
