// Data-movement ops as generated gathers: every output element computes where
// it comes from (transpose, slice, concat, pad, pad_backward, upsampling and
// its adjoints, one_hot). The semantics are those of compiler/ops/shape.cpp,
// pool.cpp and softmax.cpp; the adjoints (pad_backward with reflect, the
// upsample backward forms) sum every source that maps onto an element, so
// they need no atomics and are deterministic.
#include <sstream>
#include <stdexcept>

#include "backends/cuda/codegen_util.h"
#include "compiler/ir/op.h"

namespace acnn::cuda {

using ir::OpKind;

bool gather_op(OpKind k) {
  switch (k) {
    case OpKind::Transpose:
    case OpKind::Slice:
    case OpKind::Concat:
    case OpKind::Pad:
    case OpKind::PadBackward:
    case OpKind::UpsampleNearest:
    case OpKind::UpsampleNearestBackward:
    case OpKind::UpsampleBilinear:
    case OpKind::UpsampleBilinearBackward:
    case OpKind::OneHot:
      return true;
    default:
      return false;
  }
}

bool skips_unread_outputs(const ir::Graph& g, const Unit& u) {
  return u.kind == UnitKind::Node && !gather_op(g.node(u.nodes[0]).op);
}

namespace {

std::string S(int64_t v) { return std::to_string(v); }

// The offset of input tensor (shape s, layout l) at coordinates given as
// expressions (one per axis of s).
std::string offset_at(const Shape& s, DevLayout l, const std::vector<std::string>& c) {
  std::vector<int64_t> st = logical_strides(s, canonical(l, s));
  std::string e;
  for (size_t a = 0; a < s.size(); ++a) {
    if (s[a] == 1) continue;
    if (!e.empty()) e += " + ";
    e += "(long long)(" + c[a] + ")";
    if (st[a] != 1) e += " * " + S(st[a]);
  }
  return e.empty() ? "0" : e;
}

std::vector<std::string> out_coords(size_t r) {
  std::vector<std::string> c;
  for (size_t a = 0; a < r; ++a) c.push_back("(long long)c" + std::to_string(a));
  return c;
}

// Bilinear source of output position `o` along an axis of `n_in` inputs
// (PyTorch, align_corners = false): defines <p>0, <p>1, <p>w0, <p>w1.
std::string lerp_code(const std::string& p, const std::string& o, int64_t scale, int64_t n_in) {
  std::ostringstream os;
  os << "      const float " << p << "s = fmaxf(((float)(" << o << ") + 0.5f) / " << float_literal(static_cast<double>(scale))
     << " - 0.5f, 0.0f);\n"
     << "      const long long " << p << "0 = acnn_minll((long long)" << p << "s, " << n_in - 1 << "ll);\n"
     << "      const long long " << p << "1 = acnn_minll(" << p << "0 + 1, " << n_in - 1 << "ll);\n"
     << "      const float " << p << "w1 = " << p << "s - (float)" << p << "0, " << p << "w0 = 1.0f - " << p << "w1;\n";
  return os.str();
}

}  // namespace

GenKernel gen_gather(const ir::Graph& g, const ir::Node& n, const std::vector<Format>& in, const Format& out,
                     const std::string& name) {
  const Shape& ys = g.type(n.outputs[0]).shape;
  const int64_t count = std::max<int64_t>(numel(ys), 1);
  const std::string T = index_type(count);
  const DevLayout sl = canonical(out.layout, ys);
  std::vector<std::string> params;
  for (size_t k = 0; k < n.inputs.size(); ++k)
    params.push_back("const " + std::string(ctype(in[k].dtype)) + "* in" + std::to_string(k));
  params.push_back(std::string(ctype(out.dtype)) + "* out0");
  std::ostringstream os;
  os << kernel_head(name, params) << grid_loop(T, count) << coord_code(ys, sl, T);
  const std::string dst = access(ys, out.layout, ys, sl);
  auto in_shape = [&](size_t k) -> const Shape& { return g.type(n.inputs[k]).shape; };
  auto ld = [&](size_t k, const std::vector<std::string>& c) {
    return load(in[k].dtype, "in" + std::to_string(k), offset_at(in_shape(k), in[k].layout, c));
  };
  std::vector<std::string> c = out_coords(ys.size());
  std::string value = "v";
  os << "      float v = 0.0f;\n";
  switch (n.op) {
    case OpKind::Transpose: {
      std::vector<int64_t> perm = n.attrs.ints("perm");
      std::vector<std::string> ic(ys.size());
      for (size_t a = 0; a < perm.size(); ++a) ic[perm[a]] = c[a];
      os << "      v = " << ld(0, ic) << ";\n";
      break;
    }
    case OpKind::Slice: {
      int64_t axis = n.attrs.i("axis");
      if (axis < 0) axis += static_cast<int64_t>(ys.size());
      std::vector<std::string> ic = c;
      ic[axis] = "(" + c[axis] + " + " + S(n.attrs.i("begin")) + ")";
      os << "      v = " << ld(0, ic) << ";\n";
      break;
    }
    case OpKind::Concat: {
      int64_t axis = n.attrs.i("axis", 1);
      if (axis < 0) axis += static_cast<int64_t>(ys.size());
      int64_t lo = 0;
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        int64_t hi = lo + in_shape(k)[axis];
        std::vector<std::string> ic = c;
        ic[axis] = "(" + c[axis] + " - " + S(lo) + ")";
        os << "      " << (k ? "else " : "") << "if (" << c[axis] << " < " << hi << ") v = " << ld(k, ic) << ";\n";
        lo = hi;
      }
      break;
    }
    case OpKind::Pad: {
      std::vector<int64_t> pads = n.attrs.ints("pads");
      const Shape& xs = in_shape(0);
      const size_t r = xs.size();
      const bool reflect = n.attrs.s("mode") == "reflect";
      std::vector<std::string> ic(r);
      std::string inside;
      for (size_t a = 0; a < r; ++a) {
        std::string ra = "r" + std::to_string(a);
        os << "      long long " << ra << " = " << c[a] << " - " << pads[a] << ";\n";
        if (reflect && (pads[a] || pads[r + a])) {
          os << "      if (" << ra << " < 0) " << ra << " = -" << ra << ";\n"
             << "      if (" << ra << " >= " << xs[a] << ") " << ra << " = " << 2 * (xs[a] - 1) << " - " << ra << ";\n";
        } else if (pads[a] || pads[r + a]) {
          inside += std::string(inside.empty() ? "" : " && ") + ra + " >= 0 && " + ra + " < " + S(xs[a]);
        }
        ic[a] = ra;
      }
      os << "      " << (inside.empty() ? "" : "if (" + inside + ") ") << "v = " << ld(0, ic) << ";\n";
      break;
    }
    case OpKind::PadBackward: {
      std::vector<int64_t> pads = n.attrs.ints("pads");
      const size_t r = ys.size();
      const bool reflect = n.attrs.s("mode") == "reflect";
      std::vector<std::string> ic(r);
      std::vector<size_t> padded;
      for (size_t a = 0; a < r; ++a) {
        const int64_t lo = pads[a], hi = pads[r + a], m = ys[a];
        if (!reflect || (!lo && !hi)) {
          ic[a] = "(" + c[a] + " + " + S(lo) + ")";
          continue;
        }
        // Padded positions that reflect onto c[a]: itself, the left and the right mirror.
        std::string q = "q" + std::to_string(a), nq = "nq" + std::to_string(a);
        os << "      long long " << q << "[3]; int " << nq << " = 0; " << q << "[" << nq << "++] = " << c[a] << " + " << lo
           << ";\n"
           << "      if (" << c[a] << " >= 1 && " << c[a] << " <= " << lo << ") " << q << "[" << nq << "++] = " << lo << " - "
           << c[a] << ";\n"
           << "      if (" << c[a] << " <= " << m - 2 << " && " << c[a] << " >= " << m - 1 - hi << ") " << q << "[" << nq
           << "++] = " << lo + 2 * (m - 1) << " - " << c[a] << ";\n";
        ic[a] = q + "[j" + std::to_string(a) + "]";
        padded.push_back(a);
      }
      std::string indent = "      ";
      for (size_t a : padded) {
        os << indent << "for (int j" << a << " = 0; j" << a << " < nq" << a << "; ++j" << a << ")\n";
        indent += "  ";
      }
      os << indent << "v += " << ld(0, ic) << ";\n";
      break;
    }
    case OpKind::UpsampleNearest: {
      int64_t s = n.attrs.i("scale", 2);
      std::vector<std::string> ic = c;
      ic[2] = "(" + c[2] + " / " + S(s) + ")";
      ic[3] = "(" + c[3] + " / " + S(s) + ")";
      os << "      v = " << ld(0, ic) << ";\n";
      break;
    }
    case OpKind::UpsampleNearestBackward: {
      int64_t s = n.attrs.i("scale", 2);
      std::vector<std::string> ic = c;
      ic[2] = "(" + c[2] + " * " + S(s) + " + dh)";
      ic[3] = "(" + c[3] + " * " + S(s) + " + dw)";
      os << "      for (int dh = 0; dh < " << s << "; ++dh)\n        for (int dw = 0; dw < " << s << "; ++dw) v += " << ld(0, ic)
         << ";\n";
      break;
    }
    case OpKind::UpsampleBilinear: {
      int64_t s = n.attrs.i("scale", 2);
      const Shape& xs = in_shape(0);
      os << lerp_code("h", c[2], s, xs[2]) << lerp_code("w", c[3], s, xs[3]);
      auto at = [&](const char* h, const char* w) {
        std::vector<std::string> ic = c;
        ic[2] = h, ic[3] = w;
        return ld(0, ic);
      };
      os << "      v = hw0 * (ww0 * " << at("h0", "w0") << " + ww1 * " << at("h0", "w1") << ") + hw1 * (ww0 * "
         << at("h1", "w0") << " + ww1 * " << at("h1", "w1") << ");\n";
      break;
    }
    case OpKind::UpsampleBilinearBackward: {
      // dx[i] = sum over outputs o whose lerp reads i of the weight times dy[o];
      // such o lie within (i - 1) * s - 1 .. (i + 2) * s.
      int64_t s = n.attrs.i("scale", 2);
      const Shape& gs = in_shape(0);  // dy, the upsampled size
      std::vector<std::string> ic = c;
      ic[2] = "oh", ic[3] = "ow";
      os << "      const long long oh0 = acnn_maxll(" << c[2] << " * " << s << " - " << s + 1 << ", 0ll), oh1 = acnn_minll(" << c[2] << " * "
         << s << " + " << 2 * s + 1 << ", " << gs[2] << "ll);\n"
         << "      const long long ow0 = acnn_maxll(" << c[3] << " * " << s << " - " << s + 1 << ", 0ll), ow1 = acnn_minll(" << c[3] << " * "
         << s << " + " << 2 * s + 1 << ", " << gs[3] << "ll);\n"
         << "      for (long long oh = oh0; oh < oh1; ++oh) {\n"
         << lerp_code("h", "oh", s, ys[2])
         << "        const float wh = (h0 == " << c[2] << " ? hw0 : 0.0f) + (h1 == " << c[2] << " ? hw1 : 0.0f);\n"
         << "        if (wh == 0.0f) continue;\n"
         << "        for (long long ow = ow0; ow < ow1; ++ow) {\n"
         << lerp_code("w", "ow", s, ys[3])
         << "          const float ww = (w0 == " << c[3] << " ? ww0 : 0.0f) + (w1 == " << c[3] << " ? ww1 : 0.0f);\n"
         << "          if (ww != 0.0f) v += wh * ww * " << ld(0, ic) << ";\n"
         << "        }\n      }\n";
      break;
    }
    case OpKind::OneHot: {
      const int64_t k = n.attrs.i("classes");
      const double sm = n.attrs.f("smoothing", 0.0), off = sm / static_cast<double>(k), on = 1.0 - sm + off;
      os << "      const long long lab = (long long)in0[" << c[0] << "];\n"
         << "      if ((lab < 0 || lab >= " << k << ") && " << c[1] << " == 0) S->label_error = 1;\n"
         << "      v = " << c[1] << " == lab ? " << float_literal(on) << " : " << float_literal(off) << ";\n";
      break;
    }
    default:
      throw std::logic_error(std::string("gen_gather: ") + ir::op_name(n.op) + " is not a gather");
  }
  os << "      " << store(out.dtype, "out0", dst, value) << "\n  }\n}\n";
  return GenKernel{name, os.str(), count, false};
}

}  // namespace acnn::cuda
