// Bilinear resize (align_corners=False) of float32 maps on the CPU, with PyTorch's bits.
//
// PyTorch's upsample_bilinear2d computes every output from its four inputs with gathered indices. The
// interpolation is separable and PyTorch's arithmetic follows it: along the width first, for each of the two
// source rows, `fma(x0, w0, x1 * w1)`, then along the height `fma(t0, h0, t1 * h1)` (its vectorised CPU kernels
// fuse the first product into the sum). Here each source row is interpolated along the width once per band of
// output rows instead of once per output row that reads it, and the output rows are then plain vector loops. The
// same roundings in the same order give the same bits: clipdense/ops/bilinear_resize.py checks this against
// PyTorch once per process and uses PyTorch where they differ, and for the shapes PyTorch gives to its
// channels-last kernel, which rounds in another order. Enlargements and reductions alike.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops.h"

namespace clipdense {
namespace {

// Source indices and weights of each output position along one axis, as PyTorch computes them for a given
// output size (HelperInterpLinear: ratio = in / out in float, source = ratio * (i + 0.5) - 0.5 fused, clamped).
struct AxisWeights {
  std::vector<int64_t> first, second;
  std::vector<float> first_weight, second_weight;
};

AxisWeights axis_weights(int64_t input_size, int64_t output_size, int64_t offset, int64_t count) {
  AxisWeights axis;
  axis.first.resize(count);
  axis.second.resize(count);
  axis.first_weight.resize(count);
  axis.second_weight.resize(count);
  const float ratio = static_cast<float>(input_size) / static_cast<float>(output_size);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = offset + i;
    if (input_size == output_size) {
      axis.first[i] = axis.second[i] = index;
      axis.first_weight[i] = 1.0f;
      axis.second_weight[i] = 0.0f;
      continue;
    }
    float source = std::fma(ratio, static_cast<float>(index) + 0.5f, -0.5f);
    source = source < 0.0f ? 0.0f : source;
    const int64_t below = std::min(static_cast<int64_t>(std::floor(source)), input_size - 1);
    const float lambda = std::min(std::max(source - static_cast<float>(below), 0.0f), 1.0f);
    axis.first[i] = below;
    axis.second[i] = below + (below < input_size - 1 ? 1 : 0);
    axis.first_weight[i] = 1.0f - lambda;
    axis.second_weight[i] = lambda;
  }
  return axis;
}

#define CLIPDENSE_FMA_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))

// One source row interpolated along the width: out[j] = fma(row[a[j]], wa[j], row[b[j]] * wb[j]).
CLIPDENSE_FMA_CLONES void resize_row(float* __restrict__ out, const float* __restrict__ row,
                                     const int64_t* __restrict__ a, const int64_t* __restrict__ b,
                                     const float* __restrict__ wa, const float* __restrict__ wb, int64_t width) {
  for (int64_t j = 0; j < width; ++j) out[j] = std::fma(row[a[j]], wa[j], row[b[j]] * wb[j]);
}

// One output row from two width-interpolated rows: out[j] (=, or +=) fma(upper[j], wa, lower[j] * wb).
CLIPDENSE_FMA_CLONES void blend_rows(float* __restrict__ out, const float* __restrict__ upper,
                                     const float* __restrict__ lower, float wa, float wb, int64_t width,
                                     bool accumulate) {
  if (accumulate) {
    for (int64_t j = 0; j < width; ++j) out[j] += std::fma(upper[j], wa, lower[j] * wb);
  } else {
    for (int64_t j = 0; j < width; ++j) out[j] = std::fma(upper[j], wa, lower[j] * wb);
  }
}

// Output rows per task: long enough that re-interpolating a band's first source rows is a small cost.
constexpr int64_t kMinBandRows = 32;

}  // namespace

void bilinear_resize_cpu(const at::Tensor& source, at::Tensor& target, int64_t full_height, int64_t full_width,
                         int64_t top, int64_t left, bool accumulate) {
  const at::Tensor input = source.contiguous();
  const int64_t planes = input.size(0), height = input.size(1), width = input.size(2);
  const int64_t rows = target.size(1), columns = target.size(2);
  const AxisWeights vertical = axis_weights(height, full_height, top, rows);
  const AxisWeights horizontal = axis_weights(width, full_width, left, columns);
  const float* in = input.data_ptr<float>();
  float* out = target.data_ptr<float>();
  const int64_t plane_stride = target.stride(0), row_stride = target.stride(1);
  const int64_t wanted = 4 * at::get_num_threads();
  const int64_t bands = std::clamp((wanted + planes - 1) / planes, int64_t(1),
                                   std::max(rows / kMinBandRows, int64_t(1)));
  const int64_t band_rows = (rows + bands - 1) / bands;
  at::parallel_for(0, planes * bands, 1, [&](int64_t begin, int64_t end) {
    // Two width-interpolated source rows, and which source rows they hold.
    std::vector<float> buffers[2] = {std::vector<float>(columns), std::vector<float>(columns)};
    int64_t held[2] = {-1, -1};
    int64_t held_plane = -1;
    auto interpolated = [&](int64_t plane, int64_t source_row, int64_t keep) -> const float* {
      for (int k = 0; k < 2; ++k) {
        if (held[k] == source_row) return buffers[k].data();
      }
      const int k = held[0] == keep ? 1 : 0;  // never overwrite the other row this output row needs
      resize_row(buffers[k].data(), in + (plane * height + source_row) * width, horizontal.first.data(),
                 horizontal.second.data(), horizontal.first_weight.data(), horizontal.second_weight.data(),
                 columns);
      held[k] = source_row;
      return buffers[k].data();
    };
    for (int64_t task = begin; task < end; ++task) {
      const int64_t plane = task / bands, band = task % bands;
      if (plane != held_plane) {
        held[0] = held[1] = -1;
        held_plane = plane;
      }
      const int64_t last = std::min((band + 1) * band_rows, rows);
      for (int64_t i = band * band_rows; i < last; ++i) {
        const int64_t upper_row = vertical.first[i], lower_row = vertical.second[i];
        const float* upper = interpolated(plane, upper_row, lower_row);
        const float* lower = interpolated(plane, lower_row, upper_row);
        blend_rows(out + plane * plane_stride + i * row_stride, upper, lower, vertical.first_weight[i],
                   vertical.second_weight[i], columns, accumulate);
      }
    }
  });
}

}  // namespace clipdense
