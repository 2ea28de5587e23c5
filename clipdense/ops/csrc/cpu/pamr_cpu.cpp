// PAMR's propagation on the CPU, one (image, row) per task.
//
// A task computes its output row for every channel: the weights of that row (K x W) stay in the
// L1/L2 cache across the channels, and the score rows it reads (the row and its neighbours at each
// dilation) are read in order. Each output is `w_0 * n_0 + w_1 * n_1 + ...`, a product rounded and
// then added, neighbour by neighbour in order: the operations of the PyTorch reference, so the
// results are bit for bit the same (setup.py compiles with -ffp-contract=off: no fused multiply-add).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "ops.h"

namespace clipdense {
namespace {

template <typename T>
void propagate_step(const T* source, T* target, const T* weights, int64_t batch, int64_t channels,
                    int64_t height, int64_t width, const std::vector<std::pair<int64_t, int64_t>>& offsets) {
  const int64_t plane = height * width;
  const int64_t count = static_cast<int64_t>(offsets.size());
  at::parallel_for(0, batch * height, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t image = task / height, y = task % height;
      const T* row_weights = weights + image * count * plane + y * width;
      for (int64_t channel = 0; channel < channels; ++channel) {
        const T* scores = source + (image * channels + channel) * plane;
        T* __restrict__ out = target + (image * channels + channel) * plane + y * width;
        for (int64_t k = 0; k < count; ++k) {
          const int64_t dy = offsets[k].first, dx = offsets[k].second;
          const T* __restrict__ row = scores + std::min(std::max(y + dy, int64_t(0)), height - 1) * width;
          const T* __restrict__ w = row_weights + k * plane;
          // x + dx is clamped onto the row (replicate padding) left of `inside` and from `outside` on.
          const int64_t inside = std::min(std::max(-dx, int64_t(0)), width);
          const int64_t outside = std::max(std::min(width - dx, width), inside);
          if (k == 0) {
            for (int64_t x = 0; x < inside; ++x) out[x] = w[x] * row[0];
            for (int64_t x = inside; x < outside; ++x) out[x] = w[x] * row[x + dx];
            for (int64_t x = outside; x < width; ++x) out[x] = w[x] * row[width - 1];
          } else {
            for (int64_t x = 0; x < inside; ++x) out[x] += w[x] * row[0];
            for (int64_t x = inside; x < outside; ++x) out[x] += w[x] * row[x + dx];
            for (int64_t x = outside; x < width; ++x) out[x] += w[x] * row[width - 1];
          }
        }
      }
    }
  });
}

}  // namespace

at::Tensor pamr_propagate_cpu(const at::Tensor& scores, const at::Tensor& weights,
                              const std::vector<int64_t>& dilations, int64_t steps) {
  const at::Tensor source = scores.contiguous();
  const at::Tensor affinity = weights.contiguous();
  const auto offsets = pamr_offsets(dilations);
  // Two buffers in turn: the caller's scores are never written.
  at::Tensor buffers[2] = {at::empty_like(source), at::empty_like(source)};
  at::Tensor current = source;
  for (int64_t step = 0; step < steps; ++step) {
    at::Tensor& next = buffers[step % 2];
    AT_DISPATCH_FLOATING_TYPES(source.scalar_type(), "pamr_propagate_cpu", [&] {
      propagate_step<scalar_t>(current.data_ptr<scalar_t>(), next.data_ptr<scalar_t>(),
                               affinity.data_ptr<scalar_t>(), source.size(0), source.size(1),
                               source.size(2), source.size(3), offsets);
    });
    current = next;
  }
  return current;
}

}  // namespace clipdense
