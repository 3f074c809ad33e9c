// oneDNN engine/stream, layouts as memory descriptors, descriptor helpers and
// the reorder kernel that converts between layouts.
#include <dnnl_debug.h>

#include <optional>

#include "backends/cpu/common.h"

namespace acnn::cpu {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

dims_t to_dims(const Shape& s) {
  if (s.empty()) return {1};
  return dims_t(s.begin(), s.end());
}

md_t plain_md(const dims_t& d) {
  dims_t strides(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * d[i + 1];
  return md_t(d, memory::data_type::f32, strides);
}

md_t any_md(const dims_t& d) { return md_t(d, memory::data_type::f32, memory::format_tag::any); }

bool is_plain(const md_t& md) { return md == plain_md(md.dims()); }

// The abstract format tag (aBcd16b, ...) md has, if any: tried one by one,
// which is cheap enough at compile time.
static std::optional<dnnl_format_tag_t> find_tag(const md_t& md) {
  if (md.data.format_kind != dnnl_blocked) return std::nullopt;
  for (int t = dnnl_a; t < dnnl_format_tag_last; ++t) {
    dnnl_memory_desc_t c;
    if (dnnl_memory_desc_init_by_tag(&c, md.data.ndims, md.data.dims, md.data.data_type,
                                     static_cast<dnnl_format_tag_t>(t)) != dnnl_success)
      continue;
    if (dnnl_memory_desc_equal(&c, &md.data)) return static_cast<dnnl_format_tag_t>(t);
  }
  return std::nullopt;
}

std::string format_name(const md_t& md) {
  if (is_plain(md)) return "plain";
  auto t = find_tag(md);
  return t ? dnnl_fmt_tag2str(*t) : "blocked";
}

md_t same_format(const md_t& md, const dims_t& d) {
  auto t = find_tag(md);
  if (!t || static_cast<int>(d.size()) != md.data.ndims) return plain_md(d);
  return md_t(d, memory::data_type::f32, static_cast<memory::format_tag>(*t));
}

std::string OnednnLayout::describe() const { return format_name(md_); }

bool OnednnLayout::same_as(const PhysicalLayout& o) const {
  auto* l = dynamic_cast<const OnednnLayout*>(&o);
  return l && l->md_ == md_;
}

const md_t* Compile::in_md(int i, const dims_t& d) const {
  auto* l = dynamic_cast<const OnednnLayout*>(req.inputs[i].get());
  if (!l || l->md().dims() != d) return nullptr;
  return &l->md();
}

const md_t* Compile::in_md_any(int i) const {
  auto* l = dynamic_cast<const OnednnLayout*>(req.inputs[i].get());
  return l ? &l->md() : nullptr;
}

md_t Compile::current_any(int i, const dims_t& d) const {
  const md_t* m = in_md_any(i);
  return m ? *m : plain_md(d);
}

md_t Compile::current(int i, const dims_t& d) const {
  const md_t* m = in_md(i, d);
  return m ? *m : plain_md(d);
}

md_t Compile::current_or_any(int i, const dims_t& d) const {
  const md_t* m = in_md(i, d);
  return m ? *m : any_md(d);
}

LayoutPtr Compile::layout(const md_t& md) const {
  if (is_plain(md)) return nullptr;
  return std::make_shared<OnednnLayout>(backend, md);
}

dnnl::primitive_attr scratch_attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

bool is_ref(const dnnl::primitive_desc_base& pd) { return std::string(pd.impl_info_str()).rfind("ref", 0) == 0; }

md_t flat_if_dense(const md_t& md) {
  if (is_plain(md)) return md;
  dims_t d = md.dims();
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  if (md.get_size() != static_cast<size_t>(n) * sizeof(float)) return md;
  return plain_md({n});
}

std::unique_ptr<Kernel> make_reorder(const md_t& from, const md_t& to, const std::string& what) {
  auto k = std::make_unique<OnednnKernel>(what);
  dnnl::reorder::primitive_desc pd(engine(), from, engine(), to, scratch_attr());
  k->add_primitive(dnnl::reorder(pd), pd);
  k->arg_input(DNNL_ARG_FROM, 0, from);
  k->arg_output(DNNL_ARG_TO, 0, to);
  return k;
}

}  // namespace acnn::cpu
