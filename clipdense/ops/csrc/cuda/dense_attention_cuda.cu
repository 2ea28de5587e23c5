// Dense attention on CUDA with a streaming (online) softmax: the N x N logits of a pair are
// never stored, only one tile of 32 keys at a time.
//
// A block serves kRowsPerBlock query rows of one (image, head), one warp per row, and walks
// the keys in tiles of 32 staged in shared memory for all its warps. Lane j scores key j of
// the tile against the warp's query row; the warp then folds the tile into the row's running
// max, running sum and weighted sum of values, lane l owning dimensions l, l + 32, ... of
// the output. Pairs are processed one after another and their outputs summed in registers.
// Everything is computed in float32, whatever the storage type.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>

#include <cmath>

#include "ops.h"

namespace clipdense {
namespace {

constexpr int kWarpSize = 32;
constexpr int kRowsPerBlock = 8;
constexpr int kKeysPerTile = kWarpSize;  // one key per lane
constexpr int kMaxPairs = 9;             // every (lhs, rhs) in {q, k, v}^2 once
constexpr unsigned kFullMask = 0xffffffffu;

struct Pairs {
  int count;
  int lhs[kMaxPairs];
  int rhs[kMaxPairs];
};

struct BiasView {
  const void* data;  // nullptr: no bias
  int64_t stride_batch, stride_head, stride_row, stride_col;
};

__device__ __forceinline__ float warp_max(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value = fmaxf(value, __shfl_xor_sync(kFullMask, value, offset));
  return value;
}

__device__ __forceinline__ float warp_sum(float value) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value += __shfl_xor_sync(kFullMask, value, offset);
  return value;
}

// kDimsPerLane = ceil(d / 32): the head dimension handled by each lane, so that per-row
// accumulators live in registers.
template <typename scalar_t, int kDimsPerLane>
__global__ void __launch_bounds__(kRowsPerBlock * kWarpSize)
    dense_attention_forward_kernel(const scalar_t* __restrict__ q, const scalar_t* __restrict__ k,
                                   const scalar_t* __restrict__ v, BiasView bias,
                                   scalar_t* __restrict__ output, Pairs pairs, int heads,
                                   int tokens, int dim, float scale) {
  constexpr int kMaxDim = kDimsPerLane * kWarpSize;
  // +1 column: lanes read different keys at the same dimension without bank conflicts.
  __shared__ float key_tile[kKeysPerTile][kMaxDim + 1];
  __shared__ float value_tile[kKeysPerTile][kMaxDim];
  __shared__ float query_rows[kRowsPerBlock][kMaxDim];

  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t image_head = blockIdx.x;
  const int64_t image = image_head / heads, head = image_head % heads;
  const int row = blockIdx.y * kRowsPerBlock + warp;
  const bool row_valid = row < tokens;  // warp-uniform
  const int64_t base = image_head * tokens * dim;
  const scalar_t* operands[3] = {q + base, k + base, v + base};
  const scalar_t* values = operands[2];
  const scalar_t* bias_plane =
      bias.data == nullptr
          ? nullptr
          : static_cast<const scalar_t*>(bias.data) + image * bias.stride_batch +
                head * bias.stride_head;

  float result[kDimsPerLane];
#pragma unroll
  for (int t = 0; t < kDimsPerLane; ++t) result[t] = 0.f;

  for (int p = 0; p < pairs.count; ++p) {
    const scalar_t* lhs = operands[pairs.lhs[p]];
    const scalar_t* rhs = operands[pairs.rhs[p]];
    __syncthreads();  // the previous pair is done with query_rows
    for (int i = lane; i < dim; i += kWarpSize)
      query_rows[warp][i] = row_valid ? static_cast<float>(lhs[row * dim + i]) : 0.f;

    float running_max = -INFINITY;
    float running_sum = 0.f;
    float accumulator[kDimsPerLane];
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) accumulator[t] = 0.f;

    for (int key0 = 0; key0 < tokens; key0 += kKeysPerTile) {
      __syncthreads();  // every warp is done with the previous tile
      for (int e = threadIdx.x; e < kKeysPerTile * dim; e += blockDim.x) {
        const int j = e / dim, i = e % dim;
        const int key = key0 + j;
        const bool in_range = key < tokens;
        key_tile[j][i] = in_range ? static_cast<float>(rhs[key * dim + i]) : 0.f;
        value_tile[j][i] = in_range ? static_cast<float>(values[key * dim + i]) : 0.f;
      }
      __syncthreads();
      if (!row_valid) continue;

      const int key = key0 + lane;
      float logit = -INFINITY;  // keys past the end get probability 0
      if (key < tokens) {
        float dot = 0.f;
        for (int i = 0; i < dim; ++i) dot += query_rows[warp][i] * key_tile[lane][i];
        logit = dot * scale;
        if (bias_plane != nullptr)
          logit += static_cast<float>(
              bias_plane[row * bias.stride_row + static_cast<int64_t>(key) * bias.stride_col]);
      }
      const float new_max = fmaxf(running_max, warp_max(logit));
      // All logits so far are -inf (e.g. masked by the bias): nothing to accumulate yet.
      if (new_max == -INFINITY) continue;
      const float probability = expf(logit - new_max);
      const float correction = expf(running_max - new_max);  // 0 on the first finite tile
      running_sum = running_sum * correction + warp_sum(probability);
#pragma unroll
      for (int t = 0; t < kDimsPerLane; ++t) accumulator[t] *= correction;
      for (int j = 0; j < kKeysPerTile; ++j) {
        const float p_j = __shfl_sync(kFullMask, probability, j);
#pragma unroll
        for (int t = 0; t < kDimsPerLane; ++t) {
          const int i = lane + t * kWarpSize;
          if (i < dim) accumulator[t] += p_j * value_tile[j][i];
        }
      }
      running_max = new_max;
    }
    // A row whose logits are all -inf gets 0 / 0 = NaN, as softmax gives in the reference.
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) result[t] += accumulator[t] / running_sum;
  }

  if (!row_valid) return;
#pragma unroll
  for (int t = 0; t < kDimsPerLane; ++t) {
    const int i = lane + t * kWarpSize;
    if (i < dim) output[base + static_cast<int64_t>(row) * dim + i] = static_cast<scalar_t>(result[t]);
  }
}

template <typename scalar_t>
void launch(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const BiasView& bias,
            at::Tensor& output, const Pairs& pairs, float scale) {
  const int64_t batch = q.size(0), heads = q.size(1), tokens = q.size(2), dim = q.size(3);
  const dim3 grid(static_cast<unsigned>(batch * heads),
                  static_cast<unsigned>((tokens + kRowsPerBlock - 1) / kRowsPerBlock));
  const dim3 block(kRowsPerBlock * kWarpSize);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  auto run = [&](auto kernel) {
    kernel<<<grid, block, 0, stream>>>(q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(),
                                       v.data_ptr<scalar_t>(), bias, output.data_ptr<scalar_t>(),
                                       pairs, static_cast<int>(heads), static_cast<int>(tokens),
                                       static_cast<int>(dim), scale);
  };
  if (dim <= 32) {
    run(dense_attention_forward_kernel<scalar_t, 1>);
  } else if (dim <= 64) {
    run(dense_attention_forward_kernel<scalar_t, 2>);
  } else if (dim <= 96) {
    run(dense_attention_forward_kernel<scalar_t, 3>);
  } else {
    run(dense_attention_forward_kernel<scalar_t, 4>);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

at::Tensor dense_attention_forward_cuda(const at::Tensor& q_, const at::Tensor& k_,
                                        const at::Tensor& v_, const std::vector<int64_t>& lhs,
                                        const std::vector<int64_t>& rhs, double scale,
                                        const std::optional<at::Tensor>& bias) {
  const char* op = "dense_attention_forward";
  TORCH_CHECK(q_.size(3) <= 4 * kWarpSize, op, ": the CUDA kernel supports head dimensions up to ",
              4 * kWarpSize, ", got ", q_.size(3), "; use dense_attention_reference");
  TORCH_CHECK(static_cast<int>(lhs.size()) <= kMaxPairs, op, ": at most ", kMaxPairs,
              " distinct pairs, got ", lhs.size());
  TORCH_CHECK(q_.size(2) < (int64_t{1} << 31) / std::max<int64_t>(q_.size(3), 1), op,
              ": too many tokens per head for 32-bit row offsets");
  const c10::cuda::CUDAGuard device_guard(q_.device());
  const at::Tensor q = q_.contiguous(), k = k_.contiguous(), v = v_.contiguous();
  at::Tensor output = at::empty(q.sizes(), q.options());
  if (output.numel() == 0) return output;

  Pairs pairs{};
  pairs.count = static_cast<int>(lhs.size());
  for (size_t p = 0; p < lhs.size(); ++p) {
    pairs.lhs[p] = static_cast<int>(lhs[p]);
    pairs.rhs[p] = static_cast<int>(rhs[p]);
  }
  BiasView bias_view{nullptr, 0, 0, 0, 0};
  if (bias.has_value()) {
    bias_view = BiasView{bias->data_ptr(), bias->stride(0), bias->stride(1), bias->stride(2),
                         bias->stride(3)};
  }
  const float float_scale = static_cast<float>(scale);
  switch (q.scalar_type()) {
    case at::kFloat:
      launch<float>(q, k, v, bias_view, output, pairs, float_scale);
      break;
    case at::kHalf:
      launch<at::Half>(q, k, v, bias_view, output, pairs, float_scale);
      break;
    case at::kBFloat16:
      launch<at::BFloat16>(q, k, v, bias_view, output, pairs, float_scale);
      break;
    default:
      TORCH_CHECK(false, op, ": the CUDA kernel supports float32, float16 and bfloat16, got ",
                  q.scalar_type(), "; use dense_attention_reference for float64");
  }
  return output;
}

}  // namespace clipdense
