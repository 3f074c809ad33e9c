// Generated kernels at run time: the Program (one NVRTC compile per graph,
// loaded with cudaLibraryLoadData), launchers for regions, gathers and
// conversions, multi-tensor update groups, and the small utility kernels of
// the runner (device copies, fp16 loss scaling).
#include <chrono>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "backends/cuda/codegen_util.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/nvrtc.h"
#include "backends/cuda/ops.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

// ---------------------------------------------------------------- Program

GenFn* Program::add(const GenKernel& k) {
  // Equal code (the name aside) compiles once.
  std::string key = k.source;
  size_t at = key.find(k.name);
  if (at != std::string::npos) key.replace(at, k.name.size(), "@");
  auto it = by_code_.find(key);
  if (it != by_code_.end()) return it->second;
  fns_.push_back(GenFn{k.name, nullptr, k.source.find("S->") != std::string::npos});
  sources_.push_back(k.source);
  source_ += k.source;
  return by_code_[key] = &fns_.back();
}

namespace {

// Contiguous runs of kernels of similar source size, one per part; about
// 64 KiB of source per part (NVRTC's fixed cost per program is small next to
// that) and no more parts than cores.
std::vector<std::pair<size_t, size_t>> split_parts(const std::vector<std::string>& sources) {
  size_t total = 0;
  for (const std::string& s : sources) total += s.size();
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t parts = std::clamp<size_t>(total / 65536 + 1, 1, std::min(cores, sources.size()));
  const size_t target = total / parts + 1;
  std::vector<std::pair<size_t, size_t>> r;
  size_t begin = 0, bytes = 0;
  for (size_t i = 0; i < sources.size(); ++i) {
    bytes += sources[i].size();
    if (bytes >= target && r.size() + 1 < parts) r.emplace_back(begin, i + 1), begin = i + 1, bytes = 0;
  }
  if (begin < sources.size()) r.emplace_back(begin, sources.size());
  return r;
}

}  // namespace

void Program::compile(int arch) {
  if (fns_.empty()) return;
  const std::vector<std::pair<size_t, size_t>> parts = split_parts(sources_);
  std::vector<std::string> texts;
  for (auto [b, e] : parts) {
    std::string t = prelude();
    for (size_t i = b; i < e; ++i) t += sources_[i];
    texts.push_back(std::move(t));
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<NvrtcResult> rs = nvrtc_compile_all(texts, arch);
  cached_ = true;
  for (size_t p = 0; p < parts.size(); ++p) {
    cudaLibrary_t lib = nullptr;
    if (rs[p].from_cache && cudaLibraryLoadData(&lib, rs[p].cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0) != cudaSuccess) {
      cudaGetLastError();  // a damaged cache file: compile afresh (and rewrite it)
      lib = nullptr;
      rs[p] = nvrtc_compile(texts[p], arch, /*use_cache=*/true, /*refresh=*/true);
    }
    cached_ = cached_ && rs[p].from_cache;
    if (!lib) ACNN_CUDA(cudaLibraryLoadData(&lib, rs[p].cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
    libs_.push_back(lib);
    for (size_t i = parts[p].first; i < parts[p].second; ++i)
      ACNN_CUDA(cudaLibraryGetKernel(&fns_[i].fn, lib, fns_[i].name.c_str()));
  }
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Program::~Program() {
  for (cudaLibrary_t lib : libs_) cudaLibraryUnload(lib);
}

namespace {

void launch_gen(const GenFn* f, unsigned int grid, std::vector<void*>& ptrs, LaunchCtx& c) {
  std::vector<void*> args;
  const void* P = c.params;
  void* S = c.status;
  args.push_back(const_cast<void**>(&P));
  args.push_back(&S);
  for (void*& p : ptrs) args.push_back(&p);
  ACNN_CUDA(cudaLaunchKernel(reinterpret_cast<const void*>(f->fn), dim3(grid), dim3(256), args.data(), 0, c.stream));
}

// A generated grid-stride kernel over its operands' pointers.
class GenLaunch final : public DevKernel {
 public:
  GenLaunch(GenFn* f, int64_t elements, std::string what, std::vector<std::vector<bool>> aligned = {})
      : f_(f), n_(elements), what_(std::move(what)), aligned_(std::move(aligned)) {}
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    ptrs_.clear();
    for (const DevTensor& t : in) ptrs_.push_back(t.ptr);
    for (const DevTensor& t : out) ptrs_.push_back(t.ptr);
    launch_gen(f_, c.dev.blocks_for(n_), ptrs_, c);
  }
  std::string describe() const override { return what_; }
  bool uses_status() const override { return f_->uses_status; }
  bool aligned(int i, int j) const {
    return i < static_cast<int>(aligned_.size()) && j < static_cast<int>(aligned_[i].size()) && aligned_[i][j];
  }

 private:
  GenFn* f_;
  int64_t n_;
  std::string what_;
  std::vector<std::vector<bool>> aligned_;  // [input][output]: same element order
  std::vector<void*> ptrs_;
};

// A ReducingRegion: the generated kernel writes one partial sum per thread
// (or the result, with one chunk), reduce3 sums the partials over the chunks.
class ReducingLaunch final : public DevKernel {
 public:
  // `threads`: the generated kernel's (GenKernel::elements).
  ReducingLaunch(GenFn* f, int64_t threads, const ReduceShape& s, const Device& d, std::string what)
      : f_(f), threads_(threads), s_(s), sms_(d.sms), what_(std::move(what)) {}
  size_t workspace_bytes() const override {
    return s_.chunks == 1 ? 0 : partial_bytes() + kernels::reduce3_workspace(s_.outer, s_.chunks, s_.inner, sms_);
  }
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    ptrs_.clear();
    for (const DevTensor& t : in) ptrs_.push_back(t.ptr);
    for (const DevTensor& t : out) ptrs_.push_back(t.ptr);
    float* result = static_cast<float*>(out.back().ptr);
    char* ws = static_cast<char*>(c.workspace);
    if (s_.chunks > 1) ptrs_.back() = ws;  // the partials
    launch_gen(f_, c.dev.blocks_for(threads_), ptrs_, c);
    if (s_.chunks > 1)
      kernels::reduce3(kernels::Reduce::Sum, DType::F32, ws, result, s_.outer, s_.chunks, s_.inner, ws + partial_bytes(),
                       sms_, c.stream);
  }
  std::string describe() const override { return what_; }
  bool uses_status() const override { return f_->uses_status; }

 private:
  size_t partial_bytes() const {
    const size_t b = static_cast<size_t>(s_.partials()) * sizeof(float);
    return (b + 255) / 256 * 256;
  }
  GenFn* f_;
  int64_t threads_;
  ReduceShape s_;
  int sms_;
  std::string what_;
  std::vector<void*> ptrs_;
};

// One launch for every member of an update group: tables of AcnnItem (the
// member's pointers and its code) and AcnnChunk (one block per kUpdateChunk
// elements).
class GroupLaunch final : public DevKernel {
 public:
  GroupLaunch(GenFn* f, std::vector<std::pair<int, int>> io, std::vector<int64_t> sizes, std::vector<bool> full_in,
              std::vector<int> code, std::string what)
      : f_(f), io_(std::move(io)), sizes_(std::move(sizes)), full_in_(std::move(full_in)), code_(std::move(code)),
        what_(std::move(what)) {
    for (size_t m = 0; m < io_.size(); ++m) {
      for (int i = 0; i < io_[m].first; ++i) in_member_.push_back(static_cast<int>(m));
      for (int o = 0; o < io_[m].second; ++o) out_member_.push_back(static_cast<int>(m));
    }
    for (size_t m = 0; m < sizes_.size(); ++m)
      for (int64_t b = 0; b < sizes_[m]; b += kUpdateChunk) chunks_.push_back(AcnnChunk{static_cast<unsigned int>(m), 0, static_cast<unsigned long long>(b)});
  }
  size_t state_bytes() const override { return sizes_.size() * sizeof(AcnnItem) + chunks_.size() * sizeof(AcnnChunk); }
  void bind_state(void* p) override { state_ = static_cast<char*>(p); }
  void prepare(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, Device& d) override {
    std::vector<AcnnItem> items(sizes_.size());
    size_t ii = 0, oo = 0;
    for (size_t m = 0; m < sizes_.size(); ++m) {
      AcnnItem& it = items[m];
      std::memset(&it, 0, sizeof it);
      int k = 0;
      for (int i = 0; i < io_[m].first; ++i) it.ptr[k++] = in[ii++].ptr;
      for (int o = 0; o < io_[m].second; ++o) it.ptr[k++] = out[oo++].ptr;
      it.n = static_cast<unsigned long long>(sizes_[m]);
      it.pad = static_cast<unsigned long long>(code_[m]);  // which of the kernel's codes runs this member
    }
    ACNN_CUDA(cudaMemcpy(state_, items.data(), items.size() * sizeof(AcnnItem), cudaMemcpyHostToDevice));
    ACNN_CUDA(cudaMemcpy(state_ + items.size() * sizeof(AcnnItem), chunks_.data(), chunks_.size() * sizeof(AcnnChunk),
                         cudaMemcpyHostToDevice));
  }
  void launch(const std::vector<DevTensor>&, const std::vector<DevTensor>&, LaunchCtx& c) override {
    if (chunks_.empty()) return;
    std::vector<void*> ptrs{state_, state_ + sizes_.size() * sizeof(AcnnItem)};
    launch_gen(f_, static_cast<unsigned int>(chunks_.size()), ptrs, c);
  }
  std::string describe() const override { return what_; }
  bool uses_status() const override { return f_->uses_status; }
  // Input i and output j belong to one member and input i is full-size.
  bool aligned(int i, int j) const {
    return i < static_cast<int>(in_member_.size()) && j < static_cast<int>(out_member_.size()) && full_in_[i] &&
           in_member_[i] == out_member_[j];
  }

 private:
  GenFn* f_;
  std::vector<std::pair<int, int>> io_;  // per member: inputs, outputs
  std::vector<int64_t> sizes_;
  std::vector<bool> full_in_;
  std::vector<int> code_;  // per member: its code in the kernel
  std::vector<int> in_member_, out_member_;
  std::vector<AcnnChunk> chunks_;
  std::string what_;
  char* state_ = nullptr;
};

class CopyKernel final : public DevKernel {
 public:
  CopyKernel(size_t bytes, bool unless_overflow) : bytes_(bytes), unless_overflow_(unless_overflow) {}
  void launch(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, LaunchCtx& c) override {
    if (in[0].ptr == out[0].ptr) return;
    if (unless_overflow_) kernels::copy_unless_overflow(out[0].ptr, in[0].ptr, bytes_, c.status, c.stream);
    else ACNN_CUDA(cudaMemcpyAsync(out[0].ptr, in[0].ptr, bytes_, cudaMemcpyDeviceToDevice, c.stream));
  }
  std::string describe() const override {
    return "cuda:copy " + std::to_string(bytes_) + " B" + (unless_overflow_ ? " unless overflow" : "");
  }
  bool uses_status() const override { return unless_overflow_; }

 private:
  size_t bytes_;
  bool unless_overflow_;
};

class StatusKernel final : public DevKernel {
 public:
  explicit StatusKernel(bool clear) : clear_(clear) {}
  void launch(const std::vector<DevTensor>&, const std::vector<DevTensor>&, LaunchCtx& c) override {
    if (clear_) kernels::clear_overflow(c.status, c.stream);
    else kernels::loss_scale_update(c.status, c.stream);
  }
  std::string describe() const override { return clear_ ? "cuda:clear_overflow" : "cuda:loss_scale_update"; }
  bool uses_status() const override { return true; }

 private:
  bool clear_;
};

// A hand-written kernel over a list of tensors: per tensor an AcnnItem (its
// input's pointer, then its output's when the kernel has outputs; its
// element count; its storage types as codes 0 f32, 1 f16, 2 bf16 in pad:
// the input's, and the output's times 4) and one AcnnChunk per `chunk`
// elements, uploaded once the addresses are final.
class TensorListKernel : public DevKernel {
 public:
  TensorListKernel(const std::vector<int64_t>& numels, int64_t chunk) {
    for (size_t i = 0; i < numels.size(); ++i)
      for (int64_t b = 0; b < numels[i]; b += chunk)
        chunks_.push_back(AcnnChunk{static_cast<unsigned int>(i), 0, static_cast<unsigned long long>(b)});
    items_ = numels.size();
  }
  size_t state_bytes() const override { return items_ * sizeof(AcnnItem) + chunks_.size() * sizeof(AcnnChunk); }
  void bind_state(void* p) override { state_ = static_cast<char*>(p); }
  void prepare(const std::vector<DevTensor>& in, const std::vector<DevTensor>& out, Device&) override {
    if (in.size() != items_ || (!out.empty() && out.size() != in.size()))
      throw std::logic_error("tensor list kernel: operands do not match its sizes");
    std::vector<AcnnItem> items(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      std::memset(&items[i], 0, sizeof(AcnnItem));
      items[i].ptr[0] = in[i].ptr;
      items[i].n = static_cast<unsigned long long>(in[i].numel());
      items[i].pad = static_cast<unsigned long long>(type_code(in[i].fmt.dtype));
      if (!out.empty()) {
        if (out[i].numel() != in[i].numel()) throw std::logic_error("tensor list kernel: an output of another size");
        items[i].ptr[1] = out[i].ptr;
        items[i].pad += 4 * static_cast<unsigned long long>(type_code(out[i].fmt.dtype));
      }
    }
    ACNN_CUDA(cudaMemcpy(state_, items.data(), items.size() * sizeof(AcnnItem), cudaMemcpyHostToDevice));
    ACNN_CUDA(cudaMemcpy(state_ + items.size() * sizeof(AcnnItem), chunks_.data(), chunks_.size() * sizeof(AcnnChunk),
                         cudaMemcpyHostToDevice));
  }

 protected:
  const AcnnItem* items() const { return reinterpret_cast<const AcnnItem*>(state_); }
  const AcnnChunk* chunks() const { return reinterpret_cast<const AcnnChunk*>(state_ + items_ * sizeof(AcnnItem)); }
  int64_t num_chunks() const { return static_cast<int64_t>(chunks_.size()); }
  size_t num_items() const { return items_; }

 private:
  static int type_code(DType t) {
    switch (t) {
      case DType::F32: return 0;
      case DType::F16: return 1;
      case DType::BF16: return 2;
      default: throw std::logic_error(std::string("tensor list kernel: no code for ") + dtype_name(t));
    }
  }
  size_t items_ = 0;
  std::vector<AcnnChunk> chunks_;
  char* state_ = nullptr;
};

class NonfiniteCheck final : public TensorListKernel {
 public:
  explicit NonfiniteCheck(const std::vector<int64_t>& numels) : TensorListKernel(numels, kernels::kCheckChunk) {}
  void launch(const std::vector<DevTensor>&, const std::vector<DevTensor>&, LaunchCtx& c) override {
    kernels::nonfinite_check(items(), chunks(), num_chunks(), c.status, c.stream);
  }
  std::string describe() const override { return "cuda:nonfinite_check"; }
  bool uses_status() const override { return true; }
};

class CastGroup final : public TensorListKernel {
 public:
  explicit CastGroup(const std::vector<int64_t>& numels) : TensorListKernel(numels, kernels::kCastChunk) {}
  void launch(const std::vector<DevTensor>&, const std::vector<DevTensor>&, LaunchCtx& c) override {
    kernels::cast_group(items(), chunks(), num_chunks(), c.stream);
  }
  std::string describe() const override { return "cuda:cast_group x" + std::to_string(num_items()); }
};

std::string unit_label(const ir::Graph& g, const Unit& u) {
  std::ostringstream os;
  int shown = 0;
  for (ir::NodeId n : u.nodes) {
    if (shown++ == 4) {
      os << ",...";
      break;
    }
    os << (shown > 1 ? "," : "") << ir::op_name(g.node(n).op);
  }
  return os.str();
}

}  // namespace

// ---------------------------------------------------------------- factories

std::unique_ptr<DevKernel> make_generated(KernelRequest& r) {
  const Unit& u = r.unit;
  static int counter = 0;
  std::string name = "acnn_k" + std::to_string(counter++);
  if (u.kind == UnitKind::UpdateGroup) {
    // Members run flat, one code per distinct code key (the optimizer's
    // formulas), each in its code's element types.
    std::vector<int> code_of;
    std::vector<UpdateCode> codes = update_codes(r.g, u, &r.in, &r.out, &code_of);
    GenKernel k = gen_update_group(r.g, codes, r.scalars, r.skip_on_overflow, name);
    std::vector<std::pair<int, int>> io;
    std::vector<int64_t> sizes;
    std::vector<bool> full;
    for (const Unit& m : u.members) {
      io.emplace_back(static_cast<int>(m.inputs.size()), static_cast<int>(m.outputs.size()));
      sizes.push_back(numel(m.space));
      for (ir::ValueId v : m.inputs) full.push_back(numel(r.g.type(v).shape) == numel(m.space) && numel(m.space) > 1);
    }
    return std::make_unique<GroupLaunch>(r.program.add(k), std::move(io), std::move(sizes), std::move(full),
                                         std::move(code_of),
                                         "nvrtc:update_group x" + std::to_string(u.members.size()) +
                                             (codes.size() > 1 ? ", " + std::to_string(codes.size()) + " codes" : "") +
                                             (u.optimizer ? " (sgd)" : ""));
  }
  if (u.kind == UnitKind::ReducingRegion) {
    const Shape& rs = r.g.type(u.outputs.back()).shape;
    if (canonical(r.out.back(), rs) != Format{DType::F32, DevLayout::Plain})
      throw std::logic_error("a reducing region's result must be fp32 in plain layout");
    GenKernel k = gen_reducing_region(r.g, u, r.in, r.out, r.scalars, name);
    const ReduceShape s = reduce_shape(r.g, u);
    return std::make_unique<ReducingLaunch>(r.program.add(k), k.elements, s, r.dev,
                                            "nvrtc:" + unit_label(r.g, u) + " -> reduce [" + std::to_string(s.outer) + "," +
                                                std::to_string(s.R) + "," + std::to_string(s.inner) + "] in " +
                                                std::to_string(s.chunks) + " chunks");
  }
  if (u.kind == UnitKind::Region || u.kind == UnitKind::FusedRegion) {
    GenKernel k = gen_region(r.g, u, r.in, r.out, r.scalars, name, r.skip_on_overflow);
    // Which inputs are read at the element each output is written.
    RegionView v = region_view(r.g, u);
    std::vector<std::vector<bool>> aligned(r.in.size(), std::vector<bool>(r.out.size(), false));
    const DevLayout sl = r.out.empty() ? DevLayout::Plain : canonical(r.out[0].layout, u.space);
    for (size_t i = 0; i < r.in.size(); ++i)
      for (size_t j = 0; j < r.out.size(); ++j) {
        const Shape& si = v.g->type(v.inputs[i]).shape;
        aligned[i][j] = !v.views[i] && !v.out_views[j] && si == u.space && numel(si) > 1 &&
                        !needs_coords(si, r.in[i].layout, u.space, sl) &&
                        !needs_coords(u.space, r.out[j].layout, u.space, sl) && dtype_size(r.in[i].dtype) == dtype_size(r.out[j].dtype);
      }
    std::string what = u.kind == UnitKind::FusedRegion ? "nvrtc:fused " + r.g.node(u.nodes[0]).attrs.s("label")
                                                       : "nvrtc:" + (u.nodes.empty() ? std::string("source") : unit_label(r.g, u));
    return std::make_unique<GenLaunch>(r.program.add(k), k.elements, what, std::move(aligned));
  }
  const ir::Node& n = r.g.node(u.nodes[0]);
  GenKernel k = gen_gather(r.g, n, r.in, r.out[0], name);
  return std::make_unique<GenLaunch>(r.program.add(k), k.elements, std::string("nvrtc:") + ir::op_name(n.op));
}

std::unique_ptr<DevKernel> make_convert(Program& p, const Shape& s, const Format& from, const Format& to) {
  static int counter = 0;
  GenKernel k = gen_convert(s, from, to, "acnn_cvt" + std::to_string(counter++));
  return std::make_unique<GenLaunch>(p.add(k), k.elements, "nvrtc:convert " + format_str(from) + "->" + format_str(to));
}

std::unique_ptr<DevKernel> make_copy(size_t bytes, bool unless_overflow) {
  return std::make_unique<CopyKernel>(bytes, unless_overflow);
}
std::unique_ptr<DevKernel> make_clear_overflow() { return std::make_unique<StatusKernel>(true); }
std::unique_ptr<DevKernel> make_loss_scale_update() { return std::make_unique<StatusKernel>(false); }
std::unique_ptr<DevKernel> make_nonfinite_check(const std::vector<int64_t>& numels) {
  return std::make_unique<NonfiniteCheck>(numels);
}
std::unique_ptr<DevKernel> make_cast_group(const std::vector<int64_t>& numels) { return std::make_unique<CastGroup>(numels); }

bool reads_in_place(const DevKernel& k, int i, int j) {
  if (auto* g = dynamic_cast<const GenLaunch*>(&k)) return g->aligned(i, j);
  if (auto* g = dynamic_cast<const GroupLaunch*>(&k)) return g->aligned(i, j);
  return false;
}

}  // namespace acnn::cuda
