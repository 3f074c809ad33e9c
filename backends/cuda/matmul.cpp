// Matmul on cuBLASLt. The IR's row-major C[M,N] = op(A) op(B) is computed as
// the column-major C^T = op(B)^T op(A)^T, so no operand is copied: a
// row-major matrix is the column-major view of its transpose. Operands and
// result are fp32; mixed precision lets cuBLAS use TF32 tensor cores (the
// classifier layer is a small part of a ResNet step), fp32 does not. The
// algorithm comes from cuBLASLt's heuristic once, at compile time, and runs
// with the backend's shared workspace, which keeps it capturable.
#include "backends/cuda/ops.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

namespace {

constexpr size_t kWorkspace = 32u << 20;

class MatmulKernel final : public DevKernel {
 public:
  MatmulKernel(KernelRequest& r) : dev_(r.dev) {
    const ir::Node& n = r.g.node(r.unit.nodes[0]);
    const Shape &a = r.g.type(n.inputs[0]).shape, &b = r.g.type(n.inputs[1]).shape, &c = r.g.type(n.outputs[0]).shape;
    const bool ta = n.attrs.i("transpose_a", 0) != 0, tb = n.attrs.i("transpose_b", 0) != 0;
    for (Format& f : r.in) f = Format{DType::F32, DevLayout::Plain};
    r.out[0] = Format{DType::F32, DevLayout::Plain};
    const uint64_t M = c[0], N = c[1], K = ta ? a[0] : a[1];
    cublasComputeType_t compute = r.precision == Precision::FP32 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32;
    ACNN_CUDA(cublasLtMatmulDescCreate(&desc_, compute, CUDA_R_32F));
    cublasOperation_t opa = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opb = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    ACNN_CUDA(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    ACNN_CUDA(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
    // First operand: B seen column-major ([b1 rows, b0 cols], ld b1); second: A likewise.
    ACNN_CUDA(cublasLtMatrixLayoutCreate(&la_, CUDA_R_32F, b[1], b[0], b[1]));
    ACNN_CUDA(cublasLtMatrixLayoutCreate(&lb_, CUDA_R_32F, a[1], a[0], a[1]));
    ACNN_CUDA(cublasLtMatrixLayoutCreate(&lc_, CUDA_R_32F, N, M, N));
    cublasLtMatmulPreference_t pref;
    ACNN_CUDA(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = kWorkspace;
    ACNN_CUDA(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(dev_.lt, desc_, la_, lb_, lc_, lc_, pref, 1, &algo_, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    check(st, "cublasLtMatmulAlgoGetHeuristic");
    if (found == 0) fail("cublasLtMatmulAlgoGetHeuristic", "no algorithm for this matmul");
    label_ = "cublasLt:matmul " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) +
             (compute == CUBLAS_COMPUTE_32F ? " fp32" : " tf32");
  }
  ~MatmulKernel() override {
    cublasLtMatrixLayoutDestroy(lc_);
    cublasLtMatrixLayoutDestroy(lb_);
    cublasLtMatrixLayoutDestroy(la_);
    cublasLtMatmulDescDestroy(desc_);
  }
  size_t workspace_bytes() const override { return algo_.workspaceSize; }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    const float one = 1.0f, zero = 0.0f;
    ACNN_CUDA(cublasLtMatmul(dev_.lt, desc_, &one, in[1].ptr, la_, in[0].ptr, lb_, &zero, out[0].ptr, lc_, out[0].ptr, lc_,
                             &algo_.algo, c.workspace, algo_.workspaceSize, c.stream));
  }
  std::string describe() const override { return label_; }

 private:
  Device& dev_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t la_ = nullptr, lb_ = nullptr, lc_ = nullptr;
  cublasLtMatmulHeuristicResult_t algo_{};
  std::string label_;
};

}  // namespace

std::unique_ptr<DevKernel> make_matmul(KernelRequest& r) { return std::make_unique<MatmulKernel>(r); }

}  // namespace acnn::cuda
