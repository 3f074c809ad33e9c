// Convolutions on cuDNN (legacy API): forward, backward data and backward
// filter. Tensors and filters are NHWC in the activation type (bf16/fp16
// under mixed precision, with fp32 accumulation and tensor-core math; fp32
// with FMA math, so fp32 runs match the reference closely). The algorithm is
// chosen once per distinct problem when the graph is compiled, by measuring
// (cudnnFind*; problems under ACNN_CUDNN_FIND_MIN_MFLOP, default 100, and
// all with ACNN_CUDNN_FIND=0 take cuDNN's heuristics instead), among
// algorithms whose workspace fits the limit (ACNN_CUDNN_WORKSPACE_MB, default
// 1024), deterministic ones first (ACNN_CUDNN_DETERMINISTIC=0: any); the
// choice, with the math type the search reported, is cached per process and
// on disk (cache_dir("cudnn"), per GPU and cuDNN version). NHWC is tried first, NCHW when
// cuDNN has no NHWC algorithm for a problem. Padding is symmetric here:
// lower_for_device() made asymmetric padding explicit. A forward convolution
// with an epilogue (fused_conv(): relu(y + bias (+ z))) runs as cuDNN's fused
// convolution + bias + activation with the chosen algorithm; the first
// launch (eager, before any graph capture) tries the bias in fp32, then in
// the data type (cuDNN documents a bias of y's type; rounding it to bf16 costs
// up to 0.4% of the bias), and when cuDNN refuses both, runs the convolution
// and a kernel of its own for the epilogue (ACNN_CUDNN_FUSED=0: always that).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "backends/cuda/disk_cache.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/ops.h"
#include "compiler/ir/op.h"
#include "compiler/ir/stats.h"
#include "compiler/ops/common.h"

namespace acnn::cuda {

namespace {

enum class Dir { Fwd, BwdData, BwdFilter };

// cuDNN picks a kernel by the algorithm *and* the math type its search
// reported; both are kept and the math type is set before running.
struct Choice {
  int algo = 0;
  size_t workspace = 0;
  float ms = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

std::mutex g_cache_mutex;  // guards g_cache and g_stats
std::map<std::string, Choice> g_cache;
ConvSearchStats g_stats;

// Choices persist across runs (a search measures every algorithm: seconds
// for a network at batch 256), keyed by the GPU, the cuDNN version, the
// search settings and the problem. ACNN_CUDNN_FIND=0 never reads or writes it.
DiskTable& disk_choices() {
  static DiskTable t(cache_dir("cudnn").empty() ? std::filesystem::path()
                                                : cache_dir("cudnn") / "conv_algorithms.tsv");
  return t;
}

std::string encode(const Choice& c) {
  return std::to_string(c.algo) + " " + std::to_string(c.workspace) + " " + std::to_string(c.ms) + " " +
         std::to_string(static_cast<int>(c.math));
}

std::optional<Choice> decode(const std::string& s) {
  std::istringstream is(s);
  Choice c;
  int math = 0;
  if (!(is >> c.algo >> c.workspace >> c.ms >> math) || c.algo < 0) return std::nullopt;
  c.math = static_cast<cudnnMathType_t>(math);
  return c;
}

size_t workspace_limit() {
  const char* e = std::getenv("ACNN_CUDNN_WORKSPACE_MB");
  size_t mb = e && *e ? std::strtoull(e, nullptr, 10) : 1024;
  return mb << 20;
}

bool find_enabled() {
  const char* e = std::getenv("ACNN_CUDNN_FIND");
  return !(e && std::string(e) == "0");
}

// Problems smaller than this many FLOPs take cuDNN's heuristics instead of a
// measured search (ACNN_CUDNN_FIND_MIN_MFLOP, default 100; 0 measures all):
// a selective-kernel attention's 1x1 convolutions on [N, C, 1, 1] take
// microseconds whatever the algorithm, while each search costs tens of
// milliseconds of compile time.
double find_min_flops() {
  const char* e = std::getenv("ACNN_CUDNN_FIND_MIN_MFLOP");
  return (e && *e ? std::strtod(e, nullptr) : 100.0) * 1e6;
}

// Deterministic algorithms first (a step gives the same bits every time: the
// graph-replay tests compare runs bit for bit), unless
// ACNN_CUDNN_DETERMINISTIC=0 admits the ones that sum with atomics.
bool deterministic_only() {
  const char* e = std::getenv("ACNN_CUDNN_DETERMINISTIC");
  return !(e && std::string(e) == "0");
}

// The fastest result (cuDNN sorts them) that succeeded and fits the
// workspace limit; fp32 runs (FMA math) never take a TF32 tensor-core result.
template <class Perf>
Choice pick(const Perf* perf, int n, size_t limit, cudnnMathType_t want, const char* what) {
  for (int pass = deterministic_only() ? 0 : 1; pass < 2; ++pass)
    for (int i = 0; i < n; ++i) {
      const Perf& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS || p.memory > limit) continue;
      // FMA math asked: a plain fp32 result may be reported as FMA or DEFAULT; run it as FMA.
      if (want == CUDNN_FMA_MATH && p.mathType != CUDNN_FMA_MATH && p.mathType != CUDNN_DEFAULT_MATH) continue;
      if (pass == 0 && p.determinism != CUDNN_DETERMINISTIC) continue;
      return Choice{static_cast<int>(p.algo), p.memory, p.time, want == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : p.mathType};
    }
  fail(what, n == 0 ? "cuDNN's search returned no algorithm"
                    : "no successful algorithm fits the workspace limit (ACNN_CUDNN_WORKSPACE_MB)" +
                          std::string(want == CUDNN_FMA_MATH ? " without tensor-core math (fp32)" : ""));
}

class ConvKernel final : public DevKernel {
 public:
  ConvKernel(KernelRequest& r) : dev_(r.dev) {
    const ir::Node& n = r.g.node(r.unit.nodes[0]);
    dir_ = n.op == ir::OpKind::Conv2d ? Dir::Fwd : n.op == ir::OpKind::Conv2dBackwardData ? Dir::BwdData : Dir::BwdFilter;
    ops::ConvGeom c;
    std::string err = ops::conv_geom(n.attrs, &c);
    if (!err.empty() || c.pt != c.pb || c.pl != c.pr) fail("conv2d", "unsupported geometry (asymmetric padding left)");
    Shape xs, ws, ys;
    switch (dir_) {
      case Dir::Fwd: xs = r.g.type(n.inputs[0]).shape, ws = r.g.type(n.inputs[1]).shape, ys = r.g.type(n.outputs[0]).shape; break;
      case Dir::BwdData: ys = r.g.type(n.inputs[0]).shape, ws = r.g.type(n.inputs[1]).shape, xs = r.g.type(n.outputs[0]).shape; break;
      case Dir::BwdFilter: xs = r.g.type(n.inputs[0]).shape, ys = r.g.type(n.inputs[1]).shape, ws = r.g.type(n.outputs[0]).shape; break;
    }
    // One element type for x, w and y: the activation type of the data path,
    // as the format plan has it (for the weight gradient: like x). Not the
    // type an operand happens to have (the image feed arrives in fp32 and
    // is converted): a weight gradient of another type would break the
    // multi-tensor update that reads all of them alike.
    DType t = r.out[0].dtype;
    if (t != DType::F16 && t != DType::BF16) t = DType::F32;
    dt_ = t;
    ACNN_CUDA(cudnnCreateTensorDescriptor(&x_));
    ACNN_CUDA(cudnnCreateTensorDescriptor(&y_));
    ACNN_CUDA(cudnnCreateFilterDescriptor(&w_));
    ACNN_CUDA(cudnnCreateConvolutionDescriptor(&conv_));
    auto i = [](int64_t v) { return static_cast<int>(v); };
    ACNN_CUDA(cudnnSetConvolution2dDescriptor(conv_, i(c.pt), i(c.pl), i(c.sh), i(c.sw), i(c.dh), i(c.dw),
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    ACNN_CUDA(cudnnSetConvolutionGroupCount(conv_, i(c.groups)));
    cudnnMathType_t math = t == DType::F32 ? (r.precision == Precision::FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH)
                                           : CUDNN_TENSOR_OP_MATH;
    ACNN_CUDA(cudnnSetConvolutionMathType(conv_, math));
    math_ = math;
    measure_ = find_enabled() && 2.0 * static_cast<double>(ir::node_macs(r.g, n)) >= find_min_flops();
    // NHWC first (tensor cores); NCHW when cuDNN has no NHWC algorithm for
    // this problem (the runner then converts the operands).
    std::string why;
    for (DevLayout l : {DevLayout::NHWC, DevLayout::Plain}) {
      cudnnTensorFormat_t tf = l == DevLayout::NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
      ACNN_CUDA(cudnnSetTensor4dDescriptor(x_, tf, cudnn_type(t), i(xs[0]), i(xs[1]), i(xs[2]), i(xs[3])));
      ACNN_CUDA(cudnnSetTensor4dDescriptor(y_, tf, cudnn_type(t), i(ys[0]), i(ys[1]), i(ys[2]), i(ys[3])));
      ACNN_CUDA(cudnnSetFilter4dDescriptor(w_, cudnn_type(t), tf, i(ws[0]), i(ws[1]), i(ws[2]), i(ws[3])));
      std::ostringstream key;
      key << static_cast<int>(dir_) << "|" << dtype_name(t) << "|" << static_cast<int>(l) << "|" << shape_str(xs)
          << shape_str(ws) << shape_str(ys) << "|" << c.pt << "," << c.pl << "," << c.sh << "," << c.sw << "," << c.dh
          << "," << c.dw << "," << c.groups << "|" << math << (measure_ ? "|measured" : "|heuristic");
      try {
        std::lock_guard<std::mutex> lock(g_cache_mutex);
        auto it = g_cache.find(key.str());
        if (it != g_cache.end()) ++g_stats.in_process;
        if (it == g_cache.end()) {
          const bool find = measure_;
          const std::string disk_key = dev_.name + "|cudnn " + std::to_string(cudnnGetVersion()) + "|" +
                                       (deterministic_only() ? "det" : "any") + "|ws " +
                                       std::to_string(workspace_limit() >> 20) + "|" + key.str();
          std::optional<Choice> known;
          if (find)
            if (std::optional<std::string> text = disk_choices().get(disk_key)) known = decode(*text);
          const auto t0 = std::chrono::steady_clock::now();
          Choice ch = known ? *known : choose();
          if (known) {
            ++g_stats.from_disk;
          } else {
            ++(find ? g_stats.searched : g_stats.heuristic);
            g_stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          }
          if (find && !known) disk_choices().put(disk_key, encode(ch));
          it = g_cache.emplace(key.str(), ch).first;
        }
        choice_ = it->second;
        layout_ = l;
        why.clear();
        break;
      } catch (const std::runtime_error& e) {
        why += std::string(why.empty() ? "" : "; ") + (l == DevLayout::NHWC ? "nhwc: " : "nchw: ") + e.what();
      }
    }
    if (!why.empty()) throw std::runtime_error("cuDNN cannot run " + std::string(ir::op_name(n.op)) + " " +
                                               shape_str(xs) + " * " + shape_str(ws) + " in " + dtype_name(t) + ": " + why);
    ACNN_CUDA(cudnnSetConvolutionMathType(conv_, choice_.math));
    choice_.workspace = std::max(choice_.workspace, workspace_for(choice_));
    const Format f{t, layout_};
    for (Format& in : r.in) in = f;
    r.out[0] = f;
    if (dir_ == Dir::Fwd && r.unit.nodes.size() > 1) {  // fused_conv(): one or two biases [1, K, 1, 1] in f32, then z
      epilogue_ = true;
      channels_ = ys[1];
      inner_ = layout_ == DevLayout::NHWC ? 1 : ys[2] * ys[3];
      numel_ = numel(ys);
      for (size_t k = 2; k < r.unit.inputs.size(); ++k) {
        if (r.g.type(r.unit.inputs[k]).shape == ys) {
          z_ = static_cast<int>(k);
        } else {
          ++biases_;
          r.in[k] = Format{DType::F32, DevLayout::Plain};
        }
      }
      const char* e = std::getenv("ACNN_CUDNN_FUSED");
      if (e && std::string(e) == "0") mode_ = Mode::Separate;
      ACNN_CUDA(cudnnCreateActivationDescriptor(&act_));
      ACNN_CUDA(cudnnSetActivationDescriptor(act_, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
      ACNN_CUDA(cudnnCreateTensorDescriptor(&bias_t_));
      ACNN_CUDA(cudnnSetTensor4dDescriptor(bias_t_, CUDNN_TENSOR_NCHW, cudnn_type(t), 1, i(channels_), 1, 1));
      ACNN_CUDA(cudnnCreateTensorDescriptor(&bias_f_));
      ACNN_CUDA(cudnnSetTensor4dDescriptor(bias_f_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, i(channels_), 1, 1));
    }
    label_ = (dir_ == Dir::Fwd ? "cudnn:conv fwd" : dir_ == Dir::BwdData ? "cudnn:conv bwd-data" : "cudnn:conv bwd-filter") +
             std::string(" algo ") + std::to_string(choice_.algo) + " " + dtype_name(t) +
             (layout_ == DevLayout::NHWC ? " nhwc" : " nchw");
  }

  ~ConvKernel() override {
    if (act_) cudnnDestroyActivationDescriptor(act_);
    if (bias_t_) cudnnDestroyTensorDescriptor(bias_t_);
    if (bias_f_) cudnnDestroyTensorDescriptor(bias_f_);
    cudnnDestroyConvolutionDescriptor(conv_);
    cudnnDestroyFilterDescriptor(w_);
    cudnnDestroyTensorDescriptor(y_);
    cudnnDestroyTensorDescriptor(x_);
  }

  size_t workspace_bytes() const override { return choice_.workspace; }
  // The bias in the data type (for the second fused mode cuDNN is asked for),
  // or the sum of two in fp32.
  size_t state_bytes() const override {
    return epilogue_ ? static_cast<size_t>(channels_) * std::max<size_t>(dtype_size(dt_), sizeof(float)) : 0;
  }
  void bind_state(void* p) override { bias_state_ = p; }

  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    const float one = 1.0f, zero = 0.0f;
    cudnnHandle_t h = c.cudnn;
    if (epilogue_) return launch_fused(in, out, c);
    switch (dir_) {
      case Dir::Fwd:
        ACNN_CUDA(cudnnConvolutionForward(h, &one, x_, in[0].ptr, w_, in[1].ptr, conv_,
                                          static_cast<cudnnConvolutionFwdAlgo_t>(choice_.algo), c.workspace,
                                          choice_.workspace, &zero, y_, out[0].ptr));
        break;
      case Dir::BwdData:
        ACNN_CUDA(cudnnConvolutionBackwardData(h, &one, w_, in[1].ptr, y_, in[0].ptr, conv_,
                                               static_cast<cudnnConvolutionBwdDataAlgo_t>(choice_.algo), c.workspace,
                                               choice_.workspace, &zero, x_, out[0].ptr));
        break;
      case Dir::BwdFilter:
        ACNN_CUDA(cudnnConvolutionBackwardFilter(h, &one, x_, in[0].ptr, y_, in[1].ptr, conv_,
                                                 static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice_.algo), c.workspace,
                                                 choice_.workspace, &zero, w_, out[0].ptr));
        break;
    }
  }

  std::string describe() const override {
    if (!epilogue_) return label_;
    const char* how = mode_ == Mode::FusedT ? "cudnn fused, bias in data type" : mode_ == Mode::FusedF32 ? "cudnn fused, fp32 bias"
                      : mode_ == Mode::Separate ? "separate epilogue kernel" : "fused if cuDNN can";
    return label_ + (biases_ == 2 ? " + 2 biases" : " + bias") + (z_ > 0 ? " + z" : "") + " + relu (" + how + ")";
  }

 private:
  enum class Mode { Untried, FusedT, FusedF32, Separate };

  // relu(conv(x, w) + bias (+ bias2) (+ z)): the mode that worked on the first launch.
  void launch_fused(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) {
    const float one = 1.0f, zero = 0.0f, alpha2 = z_ > 0 ? 1.0f : 0.0f;
    cudnnHandle_t h = c.cudnn;
    const float* b1 = static_cast<const float*>(in[2].ptr);
    const float* b2 = biases_ == 2 ? static_cast<const float*>(in[3].ptr) : nullptr;
    const void* z = z_ > 0 ? in[z_].ptr : out[0].ptr;  // not read when alpha2 is 0
    auto fused = [&](cudnnTensorDescriptor_t bd, const void* b) {
      return cudnnConvolutionBiasActivationForward(h, &one, x_, in[0].ptr, w_, in[1].ptr, conv_,
                                                   static_cast<cudnnConvolutionFwdAlgo_t>(choice_.algo), c.workspace,
                                                   choice_.workspace, &alpha2, y_, z, bd, b, act_, y_, out[0].ptr);
    };
    // One fp32 bias: the input itself, or the two summed into the state.
    auto f32_bias = [&]() -> const float* {
      if (!b2) return b1;
      kernels::bias_sum(DType::F32, b1, b2, bias_state_, channels_, c.stream);
      return static_cast<const float*>(bias_state_);
    };
    const Mode tried = mode_;
    if (mode_ == Mode::Untried || mode_ == Mode::FusedF32) {
      const cudnnStatus_t st = fused(bias_f_, f32_bias());
      if (st == CUDNN_STATUS_SUCCESS) {
        mode_ = Mode::FusedF32;
        return;
      }
      if (tried == Mode::FusedF32) check(st, "cudnnConvolutionBiasActivationForward");
      mode_ = Mode::FusedT;
    }
    if (mode_ == Mode::FusedT) {
      kernels::bias_sum(dt_, b1, b2, bias_state_, channels_, c.stream);
      const cudnnStatus_t st = fused(bias_t_, bias_state_);
      if (st == CUDNN_STATUS_SUCCESS) return;
      if (tried == Mode::FusedT) check(st, "cudnnConvolutionBiasActivationForward");
      mode_ = Mode::Separate;
    }
    ACNN_CUDA(cudnnConvolutionForward(h, &one, x_, in[0].ptr, w_, in[1].ptr, conv_,
                                      static_cast<cudnnConvolutionFwdAlgo_t>(choice_.algo), c.workspace,
                                      choice_.workspace, &zero, y_, out[0].ptr));
    kernels::conv_epilogue(dt_, out[0].ptr, f32_bias(), z_ > 0 ? in[z_].ptr : nullptr, numel_, channels_, inner_,
                           c.stream);
  }

  // Measures (or asks the heuristics for) the fastest algorithm that fits.
  Choice choose() {
    const size_t limit = workspace_limit();
    constexpr int kMax = 16;
    int n = 0;
    cudnnHandle_t h = dev_.cudnn;
    const bool find = measure_;
    switch (dir_) {
      case Dir::Fwd: {
        cudnnConvolutionFwdAlgoPerf_t perf[kMax];
        if (find) ACNN_CUDA(cudnnFindConvolutionForwardAlgorithm(h, x_, w_, conv_, y_, kMax, &n, perf));
        else ACNN_CUDA(cudnnGetConvolutionForwardAlgorithm_v7(h, x_, w_, conv_, y_, kMax, &n, perf));
        return pick(perf, n, limit, math_, "cudnn conv forward");
      }
      case Dir::BwdData: {
        cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
        if (find) ACNN_CUDA(cudnnFindConvolutionBackwardDataAlgorithm(h, w_, y_, conv_, x_, kMax, &n, perf));
        else ACNN_CUDA(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w_, y_, conv_, x_, kMax, &n, perf));
        return pick(perf, n, limit, math_, "cudnn conv backward data");
      }
      case Dir::BwdFilter: {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
        if (find) ACNN_CUDA(cudnnFindConvolutionBackwardFilterAlgorithm(h, x_, y_, conv_, w_, kMax, &n, perf));
        else ACNN_CUDA(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x_, y_, conv_, w_, kMax, &n, perf));
        return pick(perf, n, limit, math_, "cudnn conv backward filter");
      }
    }
    return {};
  }

  // The workspace the chosen algorithm needs under its math type.
  size_t workspace_for(const Choice& ch) {
    size_t ws = 0;
    cudnnHandle_t h = dev_.cudnn;
    switch (dir_) {
      case Dir::Fwd:
        ACNN_CUDA(cudnnGetConvolutionForwardWorkspaceSize(h, x_, w_, conv_, y_,
                                                          static_cast<cudnnConvolutionFwdAlgo_t>(ch.algo), &ws));
        break;
      case Dir::BwdData:
        ACNN_CUDA(cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, w_, y_, conv_, x_, static_cast<cudnnConvolutionBwdDataAlgo_t>(ch.algo), &ws));
        break;
      case Dir::BwdFilter:
        ACNN_CUDA(cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, x_, y_, conv_, w_, static_cast<cudnnConvolutionBwdFilterAlgo_t>(ch.algo), &ws));
        break;
    }
    return ws;
  }

  Device& dev_;
  Dir dir_;
  cudnnMathType_t math_ = CUDNN_DEFAULT_MATH;
  bool measure_ = true;  // a measured search (cudnnFind*), else cuDNN's heuristics
  DType dt_;
  DevLayout layout_ = DevLayout::NHWC;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  Choice choice_;
  std::string label_;
  // The epilogue of a fused_conv() unit.
  bool epilogue_ = false;
  int biases_ = 0, z_ = 0;  // fp32 biases (inputs 2, 3); the index of z, 0: none
  int64_t channels_ = 0, inner_ = 1, numel_ = 0;
  Mode mode_ = Mode::Untried;
  cudnnActivationDescriptor_t act_ = nullptr;
  cudnnTensorDescriptor_t bias_t_ = nullptr, bias_f_ = nullptr;
  void* bias_state_ = nullptr;
};

}  // namespace

std::unique_ptr<DevKernel> make_conv(KernelRequest& r) { return std::make_unique<ConvKernel>(r); }

ConvSearchStats conv_search_stats() {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  return g_stats;
}

}  // namespace acnn::cuda
