// clipdense._ext: argument checks shared by every device, dispatch on the tensors' device,
// and the Python bindings. The Python wrappers in clipdense/ops add autograd on top.
#include <torch/extension.h>

#include <string>

#include "ops.h"

namespace clipdense {
namespace {

#ifdef WITH_CUDA
constexpr bool kBuiltWithCuda = true;
#else
constexpr bool kBuiltWithCuda = false;
#endif

bool use_cuda(const at::Tensor& tensor, const char* op) {
  if (tensor.is_cpu()) return false;
  TORCH_CHECK(tensor.is_cuda(), op, ": tensors on ", tensor.device(),
              " are not supported; use CPU or CUDA tensors");
  TORCH_CHECK(kBuiltWithCuda, op, ": got CUDA tensors but clipdense._ext was built without "
              "CUDA; rebuild it on a machine with nvcc (FORCE_CUDA=1 python setup.py "
              "build_ext --inplace) or use the pure-PyTorch reference in clipdense.ops");
  return true;
}

void check_same_device(const at::Tensor& a, const at::Tensor& b, const char* op,
                       const char* name_a, const char* name_b) {
  TORCH_CHECK(a.device() == b.device(), op, ": ", name_a, " is on ", a.device(), " but ",
              name_b, " is on ", b.device(), "; move them to the same device");
}

// Boxes are read in the input's compute type so that float16/bfloat16 features keep
// float32 box coordinates.
at::ScalarType box_dtype(at::ScalarType input_dtype) {
  return input_dtype == at::kDouble ? at::kDouble : at::kFloat;
}

void check_roi_align_args(const at::Tensor& features, const at::Tensor& rois,
                          int64_t pooled_height, int64_t pooled_width, const char* op) {
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5, op,
              ": rois must have shape (K, 5) = (batch_index, x1, y1, x2, y2), got ",
              rois.sizes());
  TORCH_CHECK(rois.scalar_type() == box_dtype(features.scalar_type()), op, ": rois must be ",
              box_dtype(features.scalar_type()), " for ", features.scalar_type(),
              " features, got ", rois.scalar_type());
  TORCH_CHECK(pooled_height > 0 && pooled_width > 0, op,
              ": output_size must be positive, got (", pooled_height, ", ", pooled_width, ")");
  check_same_device(features, rois, op, "input", "rois");
}

std::tuple<at::Tensor, at::Tensor> roi_align_forward(const at::Tensor& input,
                                                     const at::Tensor& rois,
                                                     int64_t pooled_height, int64_t pooled_width,
                                                     double spatial_scale, int64_t sampling_ratio,
                                                     bool max_pool, bool aligned, double min_size) {
  const char* op = "roi_align_forward";
  TORCH_CHECK(input.dim() == 4, op, ": input must be (B, C, H, W), got ", input.sizes());
  TORCH_CHECK(input.size(2) > 0 && input.size(3) > 0, op,
              ": input has an empty spatial size ", input.sizes());
  check_roi_align_args(input, rois, pooled_height, pooled_width, op);
  if (use_cuda(input, op)) {
#ifdef WITH_CUDA
    return roi_align_forward_cuda(input, rois, pooled_height, pooled_width, spatial_scale,
                                  sampling_ratio, max_pool, aligned, min_size);
#endif
  }
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble, op,
              ": the CPU kernel supports float32 and float64, got ", input.scalar_type(),
              "; convert the input with .float()");
  return roi_align_forward_cpu(input, rois, pooled_height, pooled_width, spatial_scale,
                               sampling_ratio, max_pool, aligned, min_size);
}

at::Tensor roi_align_backward(const at::Tensor& grad_output, const at::Tensor& rois,
                              const at::Tensor& argmax, std::vector<int64_t> input_size,
                              double spatial_scale, int64_t sampling_ratio, bool max_pool,
                              bool aligned, double min_size) {
  const char* op = "roi_align_backward";
  TORCH_CHECK(input_size.size() == 4, op, ": input_size must be (B, C, H, W)");
  TORCH_CHECK(grad_output.dim() == 4 && grad_output.size(0) == rois.size(0) &&
                  grad_output.size(1) == input_size[1],
              op, ": grad_output ", grad_output.sizes(), " does not match ", rois.size(0),
              " boxes and ", input_size[1], " channels");
  check_roi_align_args(grad_output, rois, grad_output.size(2), grad_output.size(3), op);
  if (max_pool) {
    TORCH_CHECK(argmax.sizes() == grad_output.sizes() && argmax.scalar_type() == at::kInt, op,
                ": max pooling needs the int32 argmax of the forward pass, shaped like "
                "grad_output");
    check_same_device(grad_output, argmax, op, "grad_output", "argmax");
  }
  if (use_cuda(grad_output, op)) {
#ifdef WITH_CUDA
    return roi_align_backward_cuda(grad_output, rois, argmax, input_size, spatial_scale,
                                   sampling_ratio, max_pool, aligned, min_size);
#endif
  }
  return roi_align_backward_cpu(grad_output, rois, argmax, input_size, spatial_scale,
                                sampling_ratio, max_pool, aligned, min_size);
}

at::Tensor dense_attention_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const std::vector<int64_t>& lhs,
                                   const std::vector<int64_t>& rhs, double scale,
                                   const std::optional<at::Tensor>& bias) {
  const char* op = "dense_attention_forward";
  TORCH_CHECK(q.dim() == 4, op, ": q, k, v must be (B, heads, N, d), got q ", q.sizes());
  TORCH_CHECK(k.sizes() == q.sizes() && v.sizes() == q.sizes(), op,
              ": q, k, v must have the same shape, got ", q.sizes(), ", ", k.sizes(), ", ",
              v.sizes());
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(), op,
              ": q, k, v must have the same dtype");
  check_same_device(q, k, op, "q", "k");
  check_same_device(q, v, op, "q", "v");
  TORCH_CHECK(!lhs.empty() && lhs.size() == rhs.size(), op,
              ": need at least one (lhs, rhs) pair and as many lhs as rhs indices");
  for (size_t p = 0; p < lhs.size(); ++p) {
    TORCH_CHECK(lhs[p] >= 0 && lhs[p] < 3 && rhs[p] >= 0 && rhs[p] < 3, op,
                ": pair operands are indices into (q, k, v), got (", lhs[p], ", ", rhs[p], ")");
  }
  std::optional<at::Tensor> full_bias;
  if (bias.has_value()) {
    const int64_t n = q.size(2);
    TORCH_CHECK(bias->scalar_type() == q.scalar_type(), op, ": bias must have q's dtype ",
                q.scalar_type(), ", got ", bias->scalar_type());
    check_same_device(q, *bias, op, "q", "bias");
    // A stride-0 view: a heads-shared (N, N) bias is never copied per image and head.
    full_bias = bias->expand({q.size(0), q.size(1), n, n});
  }
  if (use_cuda(q, op)) {
#ifdef WITH_CUDA
    return dense_attention_forward_cuda(q, k, v, lhs, rhs, scale, full_bias);
#endif
  }
  TORCH_CHECK(q.scalar_type() == at::kFloat || q.scalar_type() == at::kDouble, op,
              ": the CPU kernel supports float32 and float64, got ", q.scalar_type());
  return dense_attention_forward_cpu(q, k, v, lhs, rhs, scale, full_bias);
}

at::Tensor pamr_propagate(const at::Tensor& scores, const at::Tensor& weights,
                          const std::vector<int64_t>& dilations, int64_t steps) {
  const char* op = "pamr_propagate";
  TORCH_CHECK(scores.dim() == 4, op, ": scores must be (B, C, H, W), got ", scores.sizes());
  TORCH_CHECK(!dilations.empty(), op, ": give at least one dilation");
  for (const int64_t d : dilations) {
    TORCH_CHECK(d > 0, op, ": dilations must be positive, got ", d);
  }
  const int64_t neighbours = 8 * static_cast<int64_t>(dilations.size());
  TORCH_CHECK(weights.dim() == 4 && weights.size(0) == scores.size(0) && weights.size(1) == neighbours &&
                  weights.size(2) == scores.size(2) && weights.size(3) == scores.size(3),
              op, ": weights must be (B, ", neighbours, ", H, W) for scores ", scores.sizes(), " and ",
              dilations.size(), " dilations, got ", weights.sizes());
  TORCH_CHECK(weights.scalar_type() == scores.scalar_type(), op, ": weights must have the scores' dtype ",
              scores.scalar_type(), ", got ", weights.scalar_type());
  TORCH_CHECK(steps >= 0, op, ": steps must be >= 0, got ", steps);
  check_same_device(scores, weights, op, "scores", "weights");
  if (use_cuda(scores, op)) {
#ifdef WITH_CUDA
    return pamr_propagate_cuda(scores, weights, dilations, steps);
#endif
  }
  TORCH_CHECK(scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kDouble, op,
              ": the CPU kernel supports float32 and float64, got ", scores.scalar_type());
  return pamr_propagate_cpu(scores, weights, dilations, steps);
}

void bilinear_resize(const at::Tensor& source, at::Tensor target, const std::vector<int64_t>& size,
                     const std::vector<int64_t>& offset, bool accumulate) {
  const char* op = "bilinear_resize";
  TORCH_CHECK(source.is_cpu() && target.is_cpu(), op, ": a CPU op; on ", source.device(),
              " use torch.nn.functional.interpolate");
  TORCH_CHECK(source.scalar_type() == at::kFloat && target.scalar_type() == at::kFloat, op,
              ": float32 maps only, got ", source.scalar_type(), " and ", target.scalar_type());
  TORCH_CHECK(source.dim() == 3 && target.dim() == 3 && target.size(0) == source.size(0), op,
              ": source (P, h, w) and target (P, rows, columns) expected, got ", source.sizes(), " and ",
              target.sizes());
  TORCH_CHECK(source.size(1) > 0 && source.size(2) > 0, op, ": empty source ", source.sizes());
  TORCH_CHECK(target.stride(2) == 1, op, ": the target's rows must be contiguous");
  TORCH_CHECK(size.size() == 2 && offset.size() == 2, op, ": size and offset are (height, width) pairs");
  TORCH_CHECK(size[0] > 0 && size[1] > 0, op, ": the output size must be positive, got ", size);
  TORCH_CHECK(offset[0] >= 0 && offset[1] >= 0 && offset[0] + target.size(1) <= size[0] &&
                  offset[1] + target.size(2) <= size[1],
              op, ": a ", target.size(1), " x ", target.size(2), " window at (", offset[0], ", ", offset[1],
              ") does not fit in ", size);
  bilinear_resize_cpu(source, target, size[0], size[1], offset[0], offset[1], accumulate);
}

}  // namespace
}  // namespace clipdense

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "clipdense's compiled ops (RoIAlign, fused dense attention, PAMR propagation, bilinear resize)";
  // Raised whenever an op's arguments change, so that a build older than the Python wrappers is
  // reported as such (clipdense/ops/ext_loader.py: EXT_INTERFACE).
  m.attr("interface_version") = 3;
  m.def("built_with_cuda", [] { return clipdense::kBuiltWithCuda; },
        "Whether the CUDA kernels were compiled in");
  m.def("roi_align_forward", &clipdense::roi_align_forward,
        "RoIAlign forward: (output, argmax); argmax is empty for average pooling",
        py::arg("input"), py::arg("rois"), py::arg("pooled_height"), py::arg("pooled_width"),
        py::arg("spatial_scale"), py::arg("sampling_ratio"), py::arg("max_pool"),
        py::arg("aligned"), py::arg("min_size"));
  m.def("roi_align_backward", &clipdense::roi_align_backward,
        "RoIAlign backward: gradient with respect to the input", py::arg("grad_output"),
        py::arg("rois"), py::arg("argmax"), py::arg("input_size"), py::arg("spatial_scale"),
        py::arg("sampling_ratio"), py::arg("max_pool"), py::arg("aligned"),
        py::arg("min_size"));
  m.def("dense_attention_forward", &clipdense::dense_attention_forward,
        "Sum over pairs of softmax(lhs @ rhs^T * scale + bias) @ v", py::arg("q"), py::arg("k"),
        py::arg("v"), py::arg("lhs"), py::arg("rhs"), py::arg("scale"),
        py::arg("bias") = py::none());
  m.def("pamr_propagate", &clipdense::pamr_propagate,
        "PAMR's propagation: steps of neighbour-weighted sums of the scores", py::arg("scores"),
        py::arg("weights"), py::arg("dilations"), py::arg("steps"));
  m.def("bilinear_resize", &clipdense::bilinear_resize,
        "Bilinear resize (align_corners=False) of float32 CPU maps into a window of the target, with "
        "upsample_bilinear2d's bits", py::arg("source"), py::arg("target"), py::arg("size"), py::arg("offset"),
        py::arg("accumulate"));
}
