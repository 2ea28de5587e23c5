// Declarations of clipdense's compiled ops, per device. pybind.cpp dispatches on the tensors'
// device; the CUDA entry points exist only when the extension is built WITH_CUDA.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace clipdense {

// RoIAlign. `rois` is (K, 5) = (batch_index, x1, y1, x2, y2) in image coordinates, in the
// input's compute type (float32 for float32/float16/bfloat16 inputs, float64 for float64).
// Returns the pooled features (K, C, pooled_height, pooled_width) and, for max pooling, the
// index of the winning sample in each bin (int32, -1 for bins without samples; an empty
// tensor for average pooling). Boxes not `aligned` are at least `min_size` pixels of the
// feature map wide and high.
std::tuple<at::Tensor, at::Tensor> roi_align_forward_cpu(
    const at::Tensor& input, const at::Tensor& rois, int64_t pooled_height,
    int64_t pooled_width, double spatial_scale, int64_t sampling_ratio, bool max_pool,
    bool aligned, double min_size);

// Gradient of RoIAlign with respect to its input of shape `input_size` (B, C, H, W).
at::Tensor roi_align_backward_cpu(const at::Tensor& grad_output, const at::Tensor& rois,
                                  const at::Tensor& argmax, at::IntArrayRef input_size,
                                  double spatial_scale, int64_t sampling_ratio, bool max_pool,
                                  bool aligned, double min_size);

// Dense attention: sum over pairs p of softmax(operand[lhs[p]] @ operand[rhs[p]]^T * scale
// + bias) @ v, with operands (q, k, v) of shape (B, heads, N, d) indexed 0, 1, 2 and `bias`
// broadcast (as a stride-0 view) to (B, heads, N, N).
at::Tensor dense_attention_forward_cpu(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, const std::vector<int64_t>& lhs,
                                       const std::vector<int64_t>& rhs, double scale,
                                       const std::optional<at::Tensor>& bias);

// PAMR's propagation: `steps` times, every score becomes the weighted sum of its neighbours',
// `scores` (B, C, H, W), `weights` (B, K, H, W) with K = 8 * dilations.size() neighbours in the order
// of `pamr_offsets` (replicate padding at the borders).
at::Tensor pamr_propagate_cpu(const at::Tensor& scores, const at::Tensor& weights,
                              const std::vector<int64_t>& dilations, int64_t steps);

// Bilinear resize (align_corners=False) of `source` (P, h, w) to (full_height, full_width), of which the
// window starting at (top, left) of `target`'s size (P, rows, columns) is written into `target` (added to it
// when `accumulate`), with the bits of PyTorch's upsample_bilinear2d. float32; `target`'s rows contiguous.
void bilinear_resize_cpu(const at::Tensor& source, at::Tensor& target, int64_t full_height, int64_t full_width,
                         int64_t top, int64_t left, bool accumulate);

// (dy, dx) of PAMR's neighbours: per dilation d, the 3 x 3 grid at spacing d in row-major order
// without its centre.
inline std::vector<std::pair<int64_t, int64_t>> pamr_offsets(const std::vector<int64_t>& dilations) {
  std::vector<std::pair<int64_t, int64_t>> offsets;
  for (const int64_t d : dilations) {
    for (const int64_t dy : {-d, int64_t(0), d}) {
      for (const int64_t dx : {-d, int64_t(0), d}) {
        if (dy != 0 || dx != 0) offsets.emplace_back(dy, dx);
      }
    }
  }
  return offsets;
}

#ifdef WITH_CUDA
std::tuple<at::Tensor, at::Tensor> roi_align_forward_cuda(
    const at::Tensor& input, const at::Tensor& rois, int64_t pooled_height,
    int64_t pooled_width, double spatial_scale, int64_t sampling_ratio, bool max_pool,
    bool aligned, double min_size);

at::Tensor roi_align_backward_cuda(const at::Tensor& grad_output, const at::Tensor& rois,
                                   const at::Tensor& argmax, at::IntArrayRef input_size,
                                   double spatial_scale, int64_t sampling_ratio,
                                   bool max_pool, bool aligned, double min_size);

at::Tensor dense_attention_forward_cuda(const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, const std::vector<int64_t>& lhs,
                                        const std::vector<int64_t>& rhs, double scale,
                                        const std::optional<at::Tensor>& bias);

at::Tensor pamr_propagate_cuda(const at::Tensor& scores, const at::Tensor& weights,
                               const std::vector<int64_t>& dilations, int64_t steps);
#endif

}  // namespace clipdense
