// Declarations of clipdense's compiled ops, per device. pybind.cpp dispatches on the tensors'
// device; the CUDA entry points exist only when the extension is built WITH_CUDA.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>
#include <vector>

namespace clipdense {

// RoIAlign. `rois` is (K, 5) = (batch_index, x1, y1, x2, y2) in image coordinates, in the
// input's compute type (float32 for float32/float16/bfloat16 inputs, float64 for float64).
// Returns the pooled features (K, C, pooled_height, pooled_width) and, for max pooling, the
// index of the winning sample in each bin (int32, -1 for bins without samples; an empty
// tensor for average pooling).
std::tuple<at::Tensor, at::Tensor> roi_align_forward_cpu(
    const at::Tensor& input, const at::Tensor& rois, int64_t pooled_height,
    int64_t pooled_width, double spatial_scale, int64_t sampling_ratio, bool max_pool,
    bool aligned);

// Gradient of RoIAlign with respect to its input of shape `input_size` (B, C, H, W).
at::Tensor roi_align_backward_cpu(const at::Tensor& grad_output, const at::Tensor& rois,
                                  const at::Tensor& argmax, at::IntArrayRef input_size,
                                  double spatial_scale, int64_t sampling_ratio, bool max_pool,
                                  bool aligned);

// Dense attention: sum over pairs p of softmax(operand[lhs[p]] @ operand[rhs[p]]^T * scale
// + bias) @ v, with operands (q, k, v) of shape (B, heads, N, d) indexed 0, 1, 2 and `bias`
// broadcast (as a stride-0 view) to (B, heads, N, N).
at::Tensor dense_attention_forward_cpu(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, const std::vector<int64_t>& lhs,
                                       const std::vector<int64_t>& rhs, double scale,
                                       const std::optional<at::Tensor>& bias);

#ifdef WITH_CUDA
std::tuple<at::Tensor, at::Tensor> roi_align_forward_cuda(
    const at::Tensor& input, const at::Tensor& rois, int64_t pooled_height,
    int64_t pooled_width, double spatial_scale, int64_t sampling_ratio, bool max_pool,
    bool aligned);

at::Tensor roi_align_backward_cuda(const at::Tensor& grad_output, const at::Tensor& rois,
                                   const at::Tensor& argmax, at::IntArrayRef input_size,
                                   double spatial_scale, int64_t sampling_ratio,
                                   bool max_pool, bool aligned);

at::Tensor dense_attention_forward_cuda(const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, const std::vector<int64_t>& lhs,
                                        const std::vector<int64_t>& rhs, double scale,
                                        const std::optional<at::Tensor>& bias);
#endif

}  // namespace clipdense
