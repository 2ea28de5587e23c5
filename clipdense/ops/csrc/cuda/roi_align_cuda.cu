// RoIAlign on CUDA: one thread per output element; the backward pass scatters with atomic
// adds into a gradient buffer in the compute type (float32 for float16/bfloat16 features),
// which is cast to the input's dtype at the end.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>

#include "ops.h"
#include "roi_align_geometry.h"

namespace clipdense {
namespace {

using roi_align::Bilinear;
using roi_align::RoiGeometry;

constexpr int kThreads = 256;

int blocks_for(int64_t elements) {
  // Grid-stride loops cover whatever the grid does not.
  return static_cast<int>(std::min<int64_t>((elements + kThreads - 1) / kThreads, 65535 * 8));
}

struct OutputIndex {
  int64_t box, channel;
  int ph, pw;
};

__device__ __forceinline__ OutputIndex unravel(int64_t index, int64_t channels, int pooled_height,
                                               int pooled_width) {
  OutputIndex o;
  o.pw = static_cast<int>(index % pooled_width);
  o.ph = static_cast<int>((index / pooled_width) % pooled_height);
  o.channel = (index / pooled_width / pooled_height) % channels;
  o.box = index / pooled_width / pooled_height / channels;
  return o;
}

template <typename scalar_t, typename acc_t>
__global__ void roi_align_forward_kernel(const scalar_t* __restrict__ input,
                                         const acc_t* __restrict__ rois,
                                         scalar_t* __restrict__ output,
                                         int32_t* __restrict__ argmax, int64_t total,
                                         int64_t batch, int64_t channels, int height, int width,
                                         int pooled_height, int pooled_width, acc_t spatial_scale,
                                         int sampling_ratio, bool max_pool, bool aligned,
                                         acc_t min_size) {
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       index < total; index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const OutputIndex o = unravel(index, channels, pooled_height, pooled_width);
    const RoiGeometry<acc_t> g = roi_align::roi_geometry(
        rois + o.box * 5, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned,
        min_size);
    // A batch index outside the input cannot be reported from here; such boxes pool nothing.
    const bool valid_box = g.batch_index >= 0 && g.batch_index < batch;
    const int grid_h = valid_box && g.grid_h > 0 ? g.grid_h : 0;
    const int grid_w = valid_box && g.grid_w > 0 ? g.grid_w : 0;
    const scalar_t* plane =
        input + (static_cast<int64_t>(valid_box ? g.batch_index : 0) * channels + o.channel) *
                    height * width;
    auto load = [plane](int offset) { return static_cast<acc_t>(plane[offset]); };

    acc_t sum = 0;
    acc_t best = -INFINITY;
    int32_t best_index = -1;
    for (int iy = 0; iy < grid_h; ++iy) {
      const acc_t y = roi_align::sample_y(g, o.ph, iy);
      for (int ix = 0; ix < grid_w; ++ix) {
        const Bilinear<acc_t> b =
            roi_align::bilinear(height, width, y, roi_align::sample_x(g, o.pw, ix));
        const acc_t value = b.in_map ? roi_align::interpolate(b, width, load) : acc_t(0);
        sum += value;
        if (value > best) {  // strict: the first of equal samples wins, as on the CPU
          best = value;
          best_index = iy * grid_w + ix;
        }
      }
    }
    if (max_pool) {
      output[index] = static_cast<scalar_t>(best_index >= 0 ? best : acc_t(0));
      argmax[index] = best_index;
    } else {
      output[index] = static_cast<scalar_t>(sum / g.count);
    }
  }
}

template <typename scalar_t, typename acc_t>
__global__ void roi_align_backward_kernel(const scalar_t* __restrict__ grad_output,
                                          const acc_t* __restrict__ rois,
                                          const int32_t* __restrict__ argmax,
                                          acc_t* __restrict__ grad_input, int64_t total,
                                          int64_t batch, int64_t channels, int height,
                                          int width, int pooled_height, int pooled_width,
                                          acc_t spatial_scale, int sampling_ratio, bool max_pool,
                                          bool aligned, acc_t min_size) {
  for (int64_t index = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
       index < total; index += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const OutputIndex o = unravel(index, channels, pooled_height, pooled_width);
    const RoiGeometry<acc_t> g = roi_align::roi_geometry(
        rois + o.box * 5, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned,
        min_size);
    if (g.batch_index < 0 || g.batch_index >= batch) continue;
    acc_t* plane = grad_input + (g.batch_index * channels + o.channel) * height * width;
    const acc_t grad = static_cast<acc_t>(grad_output[index]);
    auto scatter = [plane, width](const Bilinear<acc_t>& b, acc_t grad, acc_t divisor) {
      if (!b.in_map) return;
      gpuAtomicAdd(plane + b.y_low * width + b.x_low, grad * b.w_ll / divisor);
      gpuAtomicAdd(plane + b.y_low * width + b.x_high, grad * b.w_lh / divisor);
      gpuAtomicAdd(plane + b.y_high * width + b.x_low, grad * b.w_hl / divisor);
      gpuAtomicAdd(plane + b.y_high * width + b.x_high, grad * b.w_hh / divisor);
    };
    if (max_pool) {
      // Max pooling routes the whole gradient to the winning sample.
      const int32_t best = argmax[index];
      if (best < 0) continue;
      const int iy = best / g.grid_w, ix = best % g.grid_w;
      scatter(roi_align::bilinear(height, width, roi_align::sample_y(g, o.ph, iy),
                                  roi_align::sample_x(g, o.pw, ix)),
              grad, acc_t(1));
      continue;
    }
    for (int iy = 0; iy < g.grid_h; ++iy) {
      const acc_t y = roi_align::sample_y(g, o.ph, iy);
      for (int ix = 0; ix < g.grid_w; ++ix) {
        scatter(roi_align::bilinear(height, width, y, roi_align::sample_x(g, o.pw, ix)), grad,
                g.count);
      }
    }
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> roi_align_forward_cuda(
    const at::Tensor& input_, const at::Tensor& rois_, int64_t pooled_height,
    int64_t pooled_width, double spatial_scale, int64_t sampling_ratio, bool max_pool,
    bool aligned, double min_size) {
  const c10::cuda::CUDAGuard device_guard(input_.device());
  const at::Tensor input = input_.contiguous();
  const at::Tensor rois = rois_.contiguous();
  const int64_t channels = input.size(1);
  at::Tensor output =
      at::empty({rois.size(0), channels, pooled_height, pooled_width}, input.options());
  at::Tensor argmax = max_pool ? at::empty(output.sizes(), input.options().dtype(at::kInt))
                               : at::empty({0}, input.options().dtype(at::kInt));
  const int64_t total = output.numel();
  if (total == 0) return {output, argmax};
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, input.scalar_type(), "roi_align_forward_cuda", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        roi_align_forward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
            input.data_ptr<scalar_t>(), rois.data_ptr<acc_t>(), output.data_ptr<scalar_t>(),
            max_pool ? argmax.data_ptr<int32_t>() : nullptr, total, input.size(0), channels,
            static_cast<int>(input.size(2)), static_cast<int>(input.size(3)),
            static_cast<int>(pooled_height), static_cast<int>(pooled_width),
            static_cast<acc_t>(spatial_scale), static_cast<int>(sampling_ratio), max_pool,
            aligned, static_cast<acc_t>(min_size));
      });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {output, argmax};
}

at::Tensor roi_align_backward_cuda(const at::Tensor& grad_output_, const at::Tensor& rois_,
                                   const at::Tensor& argmax_, at::IntArrayRef input_size,
                                   double spatial_scale, int64_t sampling_ratio,
                                   bool max_pool, bool aligned, double min_size) {
  const c10::cuda::CUDAGuard device_guard(grad_output_.device());
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor rois = rois_.contiguous();
  const at::Tensor argmax = argmax_.contiguous();
  // Atomic adds in float16/bfloat16 would round every partial sum; accumulate in rois'
  // dtype, the compute type, instead.
  at::Tensor grad_accumulator = at::zeros(input_size, grad_output.options().dtype(rois.dtype()));
  const int64_t total = grad_output.numel();
  if (total > 0 && grad_accumulator.numel() > 0) {
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, grad_output.scalar_type(), "roi_align_backward_cuda", [&] {
          using acc_t = at::opmath_type<scalar_t>;
          roi_align_backward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
              grad_output.data_ptr<scalar_t>(), rois.data_ptr<acc_t>(),
              max_pool ? argmax.data_ptr<int32_t>() : nullptr,
              grad_accumulator.data_ptr<acc_t>(), total, input_size[0], input_size[1],
              static_cast<int>(input_size[2]), static_cast<int>(input_size[3]),
              static_cast<int>(grad_output.size(2)), static_cast<int>(grad_output.size(3)),
              static_cast<acc_t>(spatial_scale), static_cast<int>(sampling_ratio), max_pool,
              aligned, static_cast<acc_t>(min_size));
        });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return grad_accumulator.to(grad_output.scalar_type());
}

}  // namespace clipdense
