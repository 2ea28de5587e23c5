// PAMR's propagation on the CPU.
//
// A task is a band of rows of a few channels, walked row by row: the weights of the current row (K x W)
// stay in cache across its channels, and so do the score rows around it (at dilation d, 2d + 1 rows per
// channel), which the next rows read again. Each output is `w_0 * n_0 + w_1 * n_1 + ...`, a product
// rounded and then added, neighbour by neighbour in order: the operations of the PyTorch reference, so
// the results are bit for bit the same whatever the vector width (setup.py compiles with
// -ffp-contract=off: no fused multiply-add).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "ops.h"

namespace clipdense {
namespace {

// One neighbour's share of an output row: out[x] (= or +=) w[x] * row[x + dx], x + dx clamped onto the row
// (replicate padding) left of `inside` and from `outside` on.
template <typename T>
__attribute__((always_inline)) inline void add_neighbour_row(T* __restrict__ out, const T* __restrict__ w,
                                                             const T* __restrict__ row, int64_t width,
                                                             int64_t dx, bool first) {
  const int64_t inside = std::min(std::max(-dx, int64_t(0)), width);
  const int64_t outside = std::max(std::min(width - dx, width), inside);
  if (first) {
    for (int64_t x = 0; x < inside; ++x) out[x] = w[x] * row[0];
    for (int64_t x = inside; x < outside; ++x) out[x] = w[x] * row[x + dx];
    for (int64_t x = outside; x < width; ++x) out[x] = w[x] * row[width - 1];
  } else {
    for (int64_t x = 0; x < inside; ++x) out[x] += w[x] * row[0];
    for (int64_t x = inside; x < outside; ++x) out[x] += w[x] * row[x + dx];
    for (int64_t x = outside; x < width; ++x) out[x] += w[x] * row[width - 1];
  }
}

// The same loops compiled for the widest vectors the CPU has (the choice is made once, at load): products and
// sums are still rounded one by one (-ffp-contract=off), so every version gives the same bits.
#define CLIPDENSE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
CLIPDENSE_VECTOR_CLONES void neighbour_row(float* out, const float* w, const float* row, int64_t width,
                                           int64_t dx, bool first) {
  add_neighbour_row(out, w, row, width, dx, first);
}
CLIPDENSE_VECTOR_CLONES void neighbour_row(double* out, const double* w, const double* row, int64_t width,
                                           int64_t dx, bool first) {
  add_neighbour_row(out, w, row, width, dx, first);
}

// Channels per task and the shortest band: measured on ADE-150 maps at dilations (8, 16) (4 channels: 1.75 s for
// 10 steps against 2.0 s with 8 or 16 and 2.1 s with one row of every channel per task).
constexpr int64_t kChannelsPerTask = 4;
constexpr int64_t kMinBandRows = 64;

template <typename T>
void propagate_step(const T* source, T* target, const T* weights, int64_t batch, int64_t channels,
                    int64_t height, int64_t width, const std::vector<std::pair<int64_t, int64_t>>& offsets) {
  const int64_t plane = height * width;
  const int64_t count = static_cast<int64_t>(offsets.size());
  const int64_t blocks = (channels + kChannelsPerTask - 1) / kChannelsPerTask;
  // Enough tasks for every thread to get a few; bands no shorter than kMinBandRows (each re-reads its margins).
  const int64_t wanted = 4 * at::get_num_threads();
  const int64_t bands = std::clamp((wanted + batch * blocks - 1) / (batch * blocks), int64_t(1),
                                   std::max(height / kMinBandRows, int64_t(1)));
  const int64_t band_rows = (height + bands - 1) / bands;
  at::parallel_for(0, batch * blocks * bands, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t image = task / (blocks * bands);
      const int64_t block = task / bands % blocks, band = task % bands;
      const int64_t first_channel = block * kChannelsPerTask;
      const int64_t last_channel = std::min(first_channel + kChannelsPerTask, channels);
      const int64_t last_row = std::min((band + 1) * band_rows, height);
      for (int64_t y = band * band_rows; y < last_row; ++y) {
        const T* row_weights = weights + image * count * plane + y * width;
        for (int64_t channel = first_channel; channel < last_channel; ++channel) {
          const T* scores = source + (image * channels + channel) * plane;
          T* out = target + (image * channels + channel) * plane + y * width;
          for (int64_t k = 0; k < count; ++k) {
            const int64_t dy = offsets[k].first;
            const T* row = scores + std::min(std::max(y + dy, int64_t(0)), height - 1) * width;
            neighbour_row(out, row_weights + k * plane, row, width, offsets[k].second, k == 0);
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
