// Dense attention on the CPU, one (image, head, block of query rows) per task.
//
// A task materialises only its block's (rows x N) logits, never the whole N x N map, and
// adds every pair's softmax(logits) @ v straight into its rows of the output. The matrix
// products go through ATen (and so BLAS), the softmax through ATen's vectorised kernel.
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "ops.h"

namespace clipdense {
namespace {

// Query rows per task: the block's logits (kRowBlock x N) stay in the L2 cache for the
// N of ViT windows (N = 785 at 448 px with patch 16: 64 x 785 x 4 B = 200 KB).
constexpr int64_t kRowBlock = 64;

}  // namespace

at::Tensor dense_attention_forward_cpu(const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, const std::vector<int64_t>& lhs,
                                       const std::vector<int64_t>& rhs, double scale,
                                       const std::optional<at::Tensor>& bias) {
  const at::Tensor operands[3] = {q.contiguous(), k.contiguous(), v.contiguous()};
  const at::Tensor& values = operands[2];
  const int64_t batch = q.size(0), heads = q.size(1), tokens = q.size(2);
  at::Tensor output = at::zeros(q.sizes(), q.options());
  if (output.numel() == 0) return output;

  const int64_t row_blocks = (tokens + kRowBlock - 1) / kRowBlock;
  const int64_t tasks = batch * heads * row_blocks;
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    // Grad mode is per thread and OpenMP's threads do not inherit the caller's: the ATen ops below are the
    // forward's own arithmetic (autograd goes through the reference in Python), never recorded.
    const at::NoGradGuard no_grad;
    // Reused across this thread's tasks; ATen ops called here run single-threaded.
    at::Tensor logits = at::empty({kRowBlock, tokens}, q.options());
    at::Tensor probabilities = at::empty({kRowBlock, tokens}, q.options());
    for (int64_t task = begin; task < end; ++task) {
      const int64_t row_block = task % row_blocks;
      const int64_t head = (task / row_blocks) % heads;
      const int64_t image = task / row_blocks / heads;
      const int64_t row0 = row_block * kRowBlock;
      const int64_t rows = std::min(kRowBlock, tokens - row0);
      at::Tensor block_logits = logits.narrow(0, 0, rows);
      at::Tensor block_probabilities = probabilities.narrow(0, 0, rows);
      at::Tensor block_output = output[image][head].narrow(0, row0, rows);
      for (size_t p = 0; p < lhs.size(); ++p) {
        const at::Tensor query_rows = operands[lhs[p]][image][head].narrow(0, row0, rows);
        const at::Tensor keys_t = operands[rhs[p]][image][head].t();
        if (bias.has_value()) {
          // logits = bias + scale * (query_rows @ keys^T) in one BLAS call.
          const at::Tensor bias_rows = (*bias)[image][head].narrow(0, row0, rows);
          at::addmm_out(block_logits, bias_rows, query_rows, keys_t, 1, scale);
        } else {
          at::addmm_out(block_logits, block_logits, query_rows, keys_t, 0, scale);
        }
        at::softmax_out(block_probabilities, block_logits, 1);
        block_output.addmm_(block_probabilities, values[image][head]);
      }
    }
  });
  return output;
}

}  // namespace clipdense
