// OnednnKernel: primitives with arguments bound at compile time.
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "backends/cpu/common.h"

namespace acnn::cpu {

void OnednnKernel::add_primitive(const dnnl::primitive& p, const dnnl::primitive_desc_base& pd) {
  assert(!final_);
  Exec e;
  e.prim = p;
  e.scratch_md = pd.scratchpad_desc();
  scratch_bytes_ = std::max(scratch_bytes_, e.scratch_md.get_size());
  if (impl_.empty()) impl_ = pd.impl_info_str();
  execs_.push_back(std::move(e));
}

void OnednnKernel::arg_input(int arg, int input, const md_t& md) {
  assert(!execs_.empty());
  Exec& e = execs_.back();
  e.binds.push_back({e.mems.size(), Source::Input, input});
  e.mems.emplace_back(md, engine(), static_cast<void*>(DNNL_MEMORY_NONE));
  e.arg_ids.push_back(arg);
}

void OnednnKernel::arg_output(int arg, int output, const md_t& md) {
  assert(!execs_.empty());
  Exec& e = execs_.back();
  e.binds.push_back({e.mems.size(), Source::Output, output});
  e.mems.emplace_back(md, engine(), static_cast<void*>(DNNL_MEMORY_NONE));
  e.arg_ids.push_back(arg);
}

void* OnednnKernel::arg_owned(int arg, const md_t& md) {
  size_t n = (std::max<size_t>(md.get_size(), 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, n);
  owned_.emplace_back(p, std::free);
  arg_fixed(arg, md, p);
  return p;
}

void OnednnKernel::arg_fixed(int arg, const md_t& md, void* data) {
  assert(!execs_.empty());
  Exec& e = execs_.back();
  e.mems.emplace_back(md, engine(), data);
  e.arg_ids.push_back(arg);
}

void OnednnKernel::bind_scratch(void* scratch) {
  for (Exec& e : execs_) {
    if (e.scratch_md.get_size() == 0) continue;
    e.mems.emplace_back(e.scratch_md, engine(), scratch);
    e.arg_ids.push_back(DNNL_ARG_SCRATCHPAD);
  }
  final_ = false;
  finalize();
}

void OnednnKernel::finalize() {
  for (Exec& e : execs_) {
    e.c_args.clear();
    for (size_t i = 0; i < e.mems.size(); ++i) e.c_args.push_back({e.arg_ids[i], e.mems[i].get()});
  }
  final_ = true;
}

void OnednnKernel::run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs, ExecContext&) {
  assert(scratch_bytes_ == 0 || final_);  // a kernel with a scratchpad needs bind_scratch() first
  if (!final_) finalize();
  dnnl::stream& s = stream();
  for (Exec& e : execs_) {
    for (const Bind& b : e.binds) {
      void* p = b.source == Source::Input ? inputs[b.index]->raw() : outputs[b.index]->raw();
      if (e.mems[b.mem].get_data_handle() != p) e.mems[b.mem].set_data_handle(p);
    }
    dnnl_status_t st = dnnl_primitive_execute(e.prim.get(), s.get(), static_cast<int>(e.c_args.size()), e.c_args.data());
    if (st != dnnl_success)
      throw std::runtime_error("oneDNN failed to execute " + what_ + " (status " + std::to_string(st) + ")");
  }
  s.wait();
}

std::string OnednnKernel::describe() const { return "onednn:" + what_ + (impl_.empty() ? "" : " " + impl_); }

}  // namespace acnn::cpu
