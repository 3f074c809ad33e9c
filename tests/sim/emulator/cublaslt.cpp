// cuBLASLt in the CUDA emulator: fp32 matmuls with cuBLASLt's column-major
// semantics, checked as cuBLASLt checks them (operand shapes must agree).
#include <cublasLt.h>

#include <vector>

#include "tests/sim/emulator.h"

struct cublasLtContext {};
struct cublasLtMatmulDescOpaque {
  cublasComputeType_t compute;
  cublasOperation_t opa = CUBLAS_OP_N, opb = CUBLAS_OP_N;
};
struct cublasLtMatrixLayoutOpaque {
  cudaDataType type;
  uint64_t rows, cols;
  int64_t ld;
};
struct cublasLtMatmulPreferenceOpaque {
  uint64_t max_workspace = 0;
};

namespace {

// Rows and columns of op(X) for X stored as `l`.
void op_dims(const cublasLtMatrixLayoutOpaque& l, cublasOperation_t op, uint64_t* r, uint64_t* c) {
  *r = op == CUBLAS_OP_N ? l.rows : l.cols;
  *c = op == CUBLAS_OP_N ? l.cols : l.rows;
}

bool valid(const cublasLtMatmulDescOpaque* d, const cublasLtMatrixLayoutOpaque* a, const cublasLtMatrixLayoutOpaque* b,
           const cublasLtMatrixLayoutOpaque* c, const cublasLtMatrixLayoutOpaque* out) {
  if (!d || !a || !b || !c || !out) return false;
  for (auto* l : {a, b, c, out})
    if (l->type != CUDA_R_32F || l->ld < static_cast<int64_t>(l->rows)) return false;
  uint64_t m, k, k2, n;
  op_dims(*a, d->opa, &m, &k);
  op_dims(*b, d->opb, &k2, &n);
  return k == k2 && c->rows == m && c->cols == n && out->rows == m && out->cols == n;
}

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) {
  *h = new cublasLtContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* d, cublasComputeType_t compute, cudaDataType_t scale) {
  if (scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  *d = new cublasLtMatmulDescOpaque{compute};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
  delete d;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                                              const void* buf, size_t bytes) {
  if (!d || bytes != sizeof(cublasOperation_t)) return CUBLAS_STATUS_INVALID_VALUE;
  (attr == CUBLASLT_MATMUL_DESC_TRANSA ? d->opa : d->opb) = *static_cast<const cublasOperation_t*>(buf);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* l, cudaDataType type, uint64_t rows, uint64_t cols,
                                          int64_t ld) {
  *l = new cublasLtMatrixLayoutOpaque{type, rows, cols, ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
  delete l;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* p) {
  *p = new cublasLtMatmulPreferenceOpaque;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
  delete p;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t, const void* buf,
                                                    size_t bytes) {
  if (!p || bytes != sizeof(uint64_t)) return CUBLAS_STATUS_INVALID_VALUE;
  p->max_workspace = *static_cast<const uint64_t*>(buf);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a,
                                              cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                              cublasLtMatrixLayout_t out, cublasLtMatmulPreference_t,
                                              int requested, cublasLtMatmulHeuristicResult_t* results, int* found) {
  if (!h || requested < 1) return CUBLAS_STATUS_INVALID_VALUE;
  *found = 0;
  if (!valid(d, a, b, c, out)) return CUBLAS_STATUS_INVALID_VALUE;
  results[0] = cublasLtMatmulHeuristicResult_t{};
  results[0].workspaceSize = 1024;  // nonzero: the workspace must be passed along
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void* alpha, const void* A,
                              cublasLtMatrixLayout_t a, const void* B, cublasLtMatrixLayout_t b, const void* beta,
                              const void* C, cublasLtMatrixLayout_t c, void* D, cublasLtMatrixLayout_t out,
                              const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream) {
  if (!h || !algo || !valid(d, a, b, c, out) || (workspace_bytes > 0 && !workspace) || workspace_bytes < 1024)
    return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  const cublasLtMatmulDescOpaque ds = *d;
  const cublasLtMatrixLayoutOpaque la = *a, lb = *b, lc = *c, lo = *out;
  acnn::sim::enqueue(stream, [=] {
    uint64_t m, k, n, k2;
    op_dims(la, ds.opa, &m, &k);
    op_dims(lb, ds.opb, &k2, &n);
    auto* pa = static_cast<const float*>(A);
    auto* pb = static_cast<const float*>(B);
    auto* pc = static_cast<const float*>(C);
    auto* pd = static_cast<float*>(D);
    // Element (i, j) of op(X): X(i, j) or X(j, i), column-major with leading dimension ld.
    auto at = [](const float* x, const cublasLtMatrixLayoutOpaque& l, cublasOperation_t op, uint64_t i, uint64_t j) {
      return op == CUBLAS_OP_N ? x[i + j * l.ld] : x[j + i * l.ld];
    };
    std::vector<float> result(m * n);
    for (uint64_t j = 0; j < n; ++j)
      for (uint64_t i = 0; i < m; ++i) {
        double s = 0;
        for (uint64_t p = 0; p < k; ++p) s += static_cast<double>(at(pa, la, ds.opa, i, p)) * at(pb, lb, ds.opb, p, j);
        // beta == 0: C is not read (it may hold anything).
        result[i + j * m] = static_cast<float>(al * s + (be != 0.f ? be * pc[i + j * lc.ld] : 0.0));
      }
    for (uint64_t j = 0; j < n; ++j)
      for (uint64_t i = 0; i < m; ++i) pd[i + j * lo.ld] = result[i + j * m];
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
