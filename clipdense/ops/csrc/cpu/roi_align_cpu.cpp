// RoIAlign on the CPU: forward parallel over boxes, backward parallel over channels (every
// thread owns whole gradient planes, so no two threads ever add to the same element).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "ops.h"
#include "roi_align_geometry.h"

namespace clipdense {
namespace {

using roi_align::Bilinear;
using roi_align::RoiGeometry;

// The bilinear samples of one box, bin by bin (row-major over ph, pw, iy, ix). They do not
// depend on the channel, so they are computed once per box and reused for every channel.
template <typename T>
std::vector<Bilinear<T>> box_samples(const RoiGeometry<T>& g, int pooled_height,
                                     int pooled_width, int height, int width) {
  std::vector<Bilinear<T>> samples;
  const int grid_h = g.grid_h > 0 ? g.grid_h : 0;
  const int grid_w = g.grid_w > 0 ? g.grid_w : 0;
  samples.reserve(static_cast<size_t>(pooled_height) * pooled_width * grid_h * grid_w);
  for (int ph = 0; ph < pooled_height; ++ph) {
    for (int pw = 0; pw < pooled_width; ++pw) {
      for (int iy = 0; iy < grid_h; ++iy) {
        const T y = roi_align::sample_y(g, ph, iy);
        for (int ix = 0; ix < grid_w; ++ix) {
          samples.push_back(roi_align::bilinear(height, width, y, roi_align::sample_x(g, pw, ix)));
        }
      }
    }
  }
  return samples;
}

void check_batch_index(int batch_index, int64_t batch, int64_t box) {
  TORCH_CHECK(batch_index >= 0 && batch_index < batch, "roi_align: box ", box,
              " has batch index ", batch_index, " but the input holds ", batch,
              " images; rois[:, 0] must index the input's first dimension");
}

template <typename T>
void forward_kernel(const T* input, const T* rois, T* output, int32_t* argmax, int64_t boxes,
                    int64_t batch, int64_t channels, int height, int width, int pooled_height,
                    int pooled_width, T spatial_scale, int sampling_ratio, bool max_pool,
                    bool aligned, T min_size) {
  const int64_t bins = static_cast<int64_t>(pooled_height) * pooled_width;
  const int64_t plane = static_cast<int64_t>(height) * width;
  at::parallel_for(0, boxes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const RoiGeometry<T> g = roi_align::roi_geometry(rois + n * 5, spatial_scale, pooled_height,
                                                       pooled_width, sampling_ratio, aligned,
                                                       min_size);
      check_batch_index(g.batch_index, batch, n);
      const std::vector<Bilinear<T>> samples =
          box_samples(g, pooled_height, pooled_width, height, width);
      const int64_t per_bin = bins > 0 ? static_cast<int64_t>(samples.size()) / bins : 0;
      for (int64_t c = 0; c < channels; ++c) {
        const T* plane_in = input + (g.batch_index * channels + c) * plane;
        auto load = [plane_in](int offset) { return plane_in[offset]; };
        const int64_t out_base = (n * channels + c) * bins;
        for (int64_t bin = 0; bin < bins; ++bin) {
          const Bilinear<T>* bin_samples = samples.data() + bin * per_bin;
          if (max_pool) {
            T best = -std::numeric_limits<T>::infinity();
            int32_t best_index = -1;
            for (int64_t s = 0; s < per_bin; ++s) {
              const T value = bin_samples[s].in_map
                                  ? roi_align::interpolate(bin_samples[s], width, load)
                                  : static_cast<T>(0);
              if (value > best) {  // strict: the first of equal samples wins
                best = value;
                best_index = static_cast<int32_t>(s);
              }
            }
            output[out_base + bin] = best_index >= 0 ? best : static_cast<T>(0);
            argmax[out_base + bin] = best_index;
          } else {
            T sum = 0;
            for (int64_t s = 0; s < per_bin; ++s) {
              if (bin_samples[s].in_map) sum += roi_align::interpolate(bin_samples[s], width, load);
            }
            output[out_base + bin] = sum / g.count;
          }
        }
      }
    }
  });
}

template <typename T>
void backward_kernel(const T* grad_output, const T* rois, const int32_t* argmax, T* grad_input,
                     int64_t boxes, int64_t batch, int64_t channels, int height, int width, int pooled_height,
                     int pooled_width, T spatial_scale, int sampling_ratio, bool max_pool,
                     bool aligned, T min_size) {
  const int64_t bins = static_cast<int64_t>(pooled_height) * pooled_width;
  const int64_t plane = static_cast<int64_t>(height) * width;
  // Each task takes a range of channels and walks every box; the samples of a box are
  // recomputed once per task rather than once per (box, channel).
  const int64_t grain = std::max<int64_t>(1, channels / std::max(1, at::get_num_threads()));
  at::parallel_for(0, channels, grain, [&](int64_t c_begin, int64_t c_end) {
    for (int64_t n = 0; n < boxes; ++n) {
      const RoiGeometry<T> g = roi_align::roi_geometry(rois + n * 5, spatial_scale, pooled_height,
                                                       pooled_width, sampling_ratio, aligned,
                                                       min_size);
      check_batch_index(g.batch_index, batch, n);
      const std::vector<Bilinear<T>> samples =
          box_samples(g, pooled_height, pooled_width, height, width);
      const int64_t per_bin = bins > 0 ? static_cast<int64_t>(samples.size()) / bins : 0;
      for (int64_t c = c_begin; c < c_end; ++c) {
        T* plane_grad = grad_input + (g.batch_index * channels + c) * plane;
        const int64_t out_base = (n * channels + c) * bins;
        // Adds grad * weight / divisor to the four pixels of a sample, in the order (and with
        // the rounding) of torchvision's and mmcv's kernels.
        auto scatter = [plane_grad, width](const Bilinear<T>& b, T grad, T divisor) {
          if (!b.in_map) return;
          plane_grad[b.y_low * width + b.x_low] += grad * b.w_ll / divisor;
          plane_grad[b.y_low * width + b.x_high] += grad * b.w_lh / divisor;
          plane_grad[b.y_high * width + b.x_low] += grad * b.w_hl / divisor;
          plane_grad[b.y_high * width + b.x_high] += grad * b.w_hh / divisor;
        };
        for (int64_t bin = 0; bin < bins; ++bin) {
          const T grad = grad_output[out_base + bin];
          const Bilinear<T>* bin_samples = samples.data() + bin * per_bin;
          if (max_pool) {
            // Max pooling routes the whole gradient to the winning sample.
            const int32_t best = argmax[out_base + bin];
            if (best >= 0) scatter(bin_samples[best], grad, static_cast<T>(1));
          } else {
            for (int64_t s = 0; s < per_bin; ++s) scatter(bin_samples[s], grad, g.count);
          }
        }
      }
    }
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> roi_align_forward_cpu(
    const at::Tensor& input_, const at::Tensor& rois_, int64_t pooled_height,
    int64_t pooled_width, double spatial_scale, int64_t sampling_ratio, bool max_pool,
    bool aligned, double min_size) {
  const at::Tensor input = input_.contiguous();
  const at::Tensor rois = rois_.contiguous();
  const int64_t boxes = rois.size(0);
  const int64_t channels = input.size(1);
  at::Tensor output = at::empty({boxes, channels, pooled_height, pooled_width}, input.options());
  at::Tensor argmax = max_pool ? at::empty(output.sizes(), input.options().dtype(at::kInt))
                               : at::empty({0}, input.options().dtype(at::kInt));
  if (output.numel() == 0) return {output, argmax};
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "roi_align_forward_cpu", [&] {
    forward_kernel<scalar_t>(input.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
                             output.data_ptr<scalar_t>(),
                             max_pool ? argmax.data_ptr<int32_t>() : nullptr, boxes,
                             input.size(0), channels, static_cast<int>(input.size(2)),
                             static_cast<int>(input.size(3)), static_cast<int>(pooled_height),
                             static_cast<int>(pooled_width), static_cast<scalar_t>(spatial_scale),
                             static_cast<int>(sampling_ratio), max_pool, aligned,
                             static_cast<scalar_t>(min_size));
  });
  return {output, argmax};
}

at::Tensor roi_align_backward_cpu(const at::Tensor& grad_output_, const at::Tensor& rois_,
                                  const at::Tensor& argmax_, at::IntArrayRef input_size,
                                  double spatial_scale, int64_t sampling_ratio, bool max_pool,
                                  bool aligned, double min_size) {
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor rois = rois_.contiguous();
  const at::Tensor argmax = argmax_.contiguous();
  at::Tensor grad_input = at::zeros(input_size, grad_output.options());
  if (grad_output.numel() == 0 || grad_input.numel() == 0) return grad_input;
  AT_DISPATCH_FLOATING_TYPES(grad_output.scalar_type(), "roi_align_backward_cpu", [&] {
    backward_kernel<scalar_t>(
        grad_output.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
        max_pool ? argmax.data_ptr<int32_t>() : nullptr, grad_input.data_ptr<scalar_t>(),
        rois.size(0), input_size[0], input_size[1], static_cast<int>(input_size[2]),
        static_cast<int>(input_size[3]), static_cast<int>(grad_output.size(2)),
        static_cast<int>(grad_output.size(3)), static_cast<scalar_t>(spatial_scale),
        static_cast<int>(sampling_ratio), max_pool, aligned, static_cast<scalar_t>(min_size));
  });
  return grad_input;
}

}  // namespace clipdense
