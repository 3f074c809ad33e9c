#include "backends/cpu/jit/codegen.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>

#include <cmath>
#include <limits>
#include <vector>

namespace acnn::cpu::jit {

namespace {

using namespace llvm;
using ew::Op;
using ew::Red;

class Gen {
 public:
  Gen(LLVMContext& c, Module& m, const ew::Spec& s, int vf)
      : C(c), M(m), B(c), S(s), P(s.prog), N(s.nest), VF(vf) {
    f32 = Type::getFloatTy(C);
    i64 = Type::getInt64Ty(C);
    vty = FixedVectorType::get(f32, VF);
  }

  void build(const std::string& name) {
    auto* fty = FunctionType::get(Type::getVoidTy(C), {PointerType::getUnqual(C), i64, i64}, false);
    F = Function::Create(fty, Function::ExternalLinkage, name, M);
    F->addFnAttr(Attribute::NoUnwind);
    F->addFnAttr("min-legal-vector-width", std::to_string(VF * 32));
    F->addFnAttr("prefer-vector-width", std::to_string(VF * 32));
    BasicBlock* entry = BasicBlock::Create(C, "entry", F);
    B.SetInsertPoint(entry);
    Value* bufs = F->getArg(0);
    begin_ = F->getArg(1);
    end_ = F->getArg(2);
    for (int b = 0; b < P.num_bufs; ++b) {
      Value* slot = B.CreateGEP(PointerType::getUnqual(C), bufs, B.getInt64(b));
      base_.push_back(B.CreateLoad(PointerType::getUnqual(C), slot, "buf" + std::to_string(b)));
    }
    alias_scopes();
    if (N.flat) flat();
    else nest();
    B.CreateRetVoid();
  }

 private:
  LLVMContext& C;
  Module& M;
  IRBuilder<> B;
  const ew::Spec& S;
  const ew::Program& P;
  const ew::Nest& N;
  const int VF;
  Type *f32, *i64;
  VectorType* vty;
  Function* F = nullptr;
  Value *begin_ = nullptr, *end_ = nullptr;
  std::vector<Value*> base_;
  std::vector<bool> reduce_buf_;
  MDNode *scope_other_ = nullptr, *noalias_other_ = nullptr;
  std::vector<MDNode*> scope_of_, noalias_of_;

  // ------------------------------------------------------------ helpers

  void alias_scopes() {
    reduce_buf_.assign(P.num_bufs, false);
    for (const ew::Sink& k : P.sinks)
      if (k.red != Red::None) reduce_buf_[k.buf] = true;
    MDBuilder md(C);
    MDNode* domain = md.createAnonymousAliasScopeDomain("acnn");
    MDNode* other = md.createAnonymousAliasScope(domain, "other");
    std::vector<Metadata*> reduce_scopes;
    std::vector<MDNode*> scope(P.num_bufs, nullptr);
    for (int b = 0; b < P.num_bufs; ++b)
      if (reduce_buf_[b]) {
        scope[b] = md.createAnonymousAliasScope(domain, "reduce" + std::to_string(b));
        reduce_scopes.push_back(scope[b]);
      }
    scope_other_ = MDNode::get(C, {other});
    noalias_other_ = MDNode::get(C, reduce_scopes);
    scope_of_.assign(P.num_bufs, nullptr);
    noalias_of_.assign(P.num_bufs, nullptr);
    for (int b = 0; b < P.num_bufs; ++b) {
      if (!reduce_buf_[b]) continue;
      std::vector<Metadata*> others{other};
      for (int c = 0; c < P.num_bufs; ++c)
        if (c != b && reduce_buf_[c]) others.push_back(scope[c]);
      scope_of_[b] = MDNode::get(C, {scope[b]});
      noalias_of_[b] = MDNode::get(C, others);
    }
  }

  template <class I>
  I* tag(I* inst, int buf) {
    if (reduce_buf_[buf]) {
      inst->setMetadata(LLVMContext::MD_alias_scope, scope_of_[buf]);
      inst->setMetadata(LLVMContext::MD_noalias, noalias_of_[buf]);
    } else if (!reduce_buf_.empty()) {
      inst->setMetadata(LLVMContext::MD_alias_scope, scope_other_);
      inst->setMetadata(LLVMContext::MD_noalias, noalias_other_);
    }
    return inst;
  }

  Constant* splat(float v) { return ConstantVector::getSplat(ElementCount::getFixed(VF), ConstantFP::get(f32, v)); }
  Value* lanes() {
    std::vector<Constant*> l;
    for (int i = 0; i < VF; ++i) l.push_back(ConstantInt::get(i64, i));
    return ConstantVector::get(l);
  }
  Value* ptr(int buf, Value* off) { return B.CreateGEP(f32, base_[buf], off); }

  // Lanes [0, n) of a constant mask.
  Value* const_mask(int n) {
    std::vector<Constant*> l;
    for (int i = 0; i < VF; ++i) l.push_back(ConstantInt::get(Type::getInt1Ty(C), i < n));
    return ConstantVector::get(l);
  }

  Value* load(int buf, Value* off, int64_t stride, Value* mask) {
    if (stride == 0) {
      Value* s = tag(B.CreateAlignedLoad(f32, ptr(buf, off), Align(4)), buf);
      return B.CreateVectorSplat(VF, s);
    }
    if (stride == 1) {
      if (mask) return tag(B.CreateMaskedLoad(vty, ptr(buf, off), Align(4), mask, ConstantAggregateZero::get(vty)), buf);
      return tag(B.CreateAlignedLoad(vty, ptr(buf, off), Align(4)), buf);
    }
    Value* idx = B.CreateAdd(B.CreateVectorSplat(VF, off), B.CreateMul(lanes(), B.CreateVectorSplat(VF, B.getInt64(stride))));
    Value* ptrs = B.CreateGEP(f32, base_[buf], idx);
    return tag(B.CreateMaskedGather(vty, ptrs, Align(4), mask, ConstantAggregateZero::get(vty)), buf);
  }

  void store(int buf, Value* off, int64_t stride, Value* v, Value* mask) {
    if (stride == 1) {
      if (mask) tag(B.CreateMaskedStore(v, ptr(buf, off), Align(4), mask), buf);
      else tag(B.CreateAlignedStore(v, ptr(buf, off), Align(4)), buf);
      return;
    }
    if (stride == 0) {  // a one-point space: every lane names the same element
      tag(B.CreateAlignedStore(B.CreateExtractElement(v, B.getInt64(0)), ptr(buf, off), Align(4)), buf);
      return;
    }
    Value* idx = B.CreateAdd(B.CreateVectorSplat(VF, off), B.CreateMul(lanes(), B.CreateVectorSplat(VF, B.getInt64(stride))));
    Value* ptrs = B.CreateGEP(f32, base_[buf], idx);
    tag(B.CreateMaskedScatter(v, ptrs, Align(4), mask ? mask : const_mask(VF)), buf);
  }

  Value* lt(Value* a, Value* b) { return B.CreateFCmpOLT(a, b); }
  Value* combine(Red r, Value* acc, Value* v) {
    if (r == Red::Sum) return B.CreateFAdd(acc, v);
    return B.CreateSelect(lt(acc, v), v, acc);  // acc < v ? v : acc
  }
  float identity(Red r) { return r == Red::Max ? -std::numeric_limits<float>::infinity() : 0.f; }
  Value* hreduce(Red r, Value* v) {
    if (r == Red::Sum) {
      CallInst* c = B.CreateFAddReduce(ConstantFP::get(f32, -0.0), v);
      c->setHasAllowReassoc(true);
      return c;
    }
    Value* m = B.CreateExtractElement(v, B.getInt64(0));
    for (int i = 1; i < VF; ++i) {
      Value* e = B.CreateExtractElement(v, B.getInt64(i));
      m = B.CreateSelect(B.CreateFCmpOLT(m, e), e, m);
    }
    return m;
  }

  // exp(x) for a vector: Cephes-style range reduction and polynomial.
  Value* vexp(Value* x) {
    x = B.CreateSelect(lt(x, splat(-87.3365447f)), splat(-87.3365447f), x);
    x = B.CreateSelect(lt(splat(88.3762626f), x), splat(88.3762626f), x);
    Value* fx = B.CreateUnaryIntrinsic(Intrinsic::floor, B.CreateFAdd(B.CreateFMul(x, splat(1.44269504088896341f)), splat(0.5f)));
    x = B.CreateFSub(x, B.CreateFMul(fx, splat(0.693359375f)));
    x = B.CreateFSub(x, B.CreateFMul(fx, splat(-2.12194440e-4f)));
    Value* z = B.CreateFMul(x, x);
    Value* y = splat(1.9875691500E-4f);
    for (float c : {1.3981999507E-3f, 8.3334519073E-3f, 4.1665795894E-2f, 1.6666665459E-1f, 5.0000001201E-1f})
      y = B.CreateFAdd(B.CreateFMul(y, x), splat(c));
    y = B.CreateFAdd(B.CreateFAdd(B.CreateFMul(y, z), x), splat(1.f));
    auto* ity = FixedVectorType::get(Type::getInt32Ty(C), VF);
    Value* n = B.CreateFPToSI(fx, ity);
    Value* bits = B.CreateShl(B.CreateAdd(n, ConstantVector::getSplat(ElementCount::getFixed(VF), B.getInt32(127))),
                              ConstantVector::getSplat(ElementCount::getFixed(VF), B.getInt32(23)));
    return B.CreateFMul(y, B.CreateBitCast(bits, vty));
  }

  Value* vtanh(Value* x) {
    Value* ax = B.CreateUnaryIntrinsic(Intrinsic::fabs, x);
    Value* e = vexp(B.CreateFMul(ax, splat(2.f)));
    Value* t = B.CreateFSub(splat(1.f), B.CreateFDiv(splat(2.f), B.CreateFAdd(e, splat(1.f))));
    t = B.CreateBinaryIntrinsic(Intrinsic::copysign, t, x);
    Value* x2 = B.CreateFMul(x, x);
    Value* p = B.CreateFMul(x, B.CreateFAdd(splat(1.f), B.CreateFMul(x2, B.CreateFAdd(splat(-1.f / 3.f), B.CreateFMul(x2, splat(2.f / 15.f))))));
    return B.CreateSelect(lt(ax, splat(0.0625f)), p, t);
  }

  // The program at one vector of points: offs[b] is lane 0's element offset in
  // buffer b, strides[b] the step between lanes, mask the valid lanes (null:
  // all). accs holds the register accumulators of reductions kept in registers
  // (by sink index; null for sinks that go to memory).
  void program(const std::vector<Value*>& offs, const std::vector<int64_t>& strides, Value* mask,
               std::vector<Value*>& accs) {
    std::vector<Value*> r(P.code.size(), nullptr);
    for (size_t i = 0; i < P.code.size(); ++i) {
      const ew::Instr& in = P.code[i];
      Value* a = in.a >= 0 ? r[in.a] : nullptr;
      Value* b = in.b >= 0 ? r[in.b] : nullptr;
      Value* v = nullptr;
      switch (in.op) {
        case Op::Load: v = load(in.buf, offs[in.buf], strides[in.buf], mask); break;
        case Op::Const: v = splat(in.c0); break;
        case Op::Neg: v = B.CreateFNeg(a); break;
        case Op::Relu: v = B.CreateSelect(B.CreateFCmpOGT(a, splat(0.f)), a, splat(0.f)); break;
        case Op::Sigmoid: v = B.CreateFDiv(splat(1.f), B.CreateFAdd(splat(1.f), vexp(B.CreateFNeg(a)))); break;
        case Op::Tanh: v = vtanh(a); break;
        case Op::Exp: v = vexp(a); break;
        case Op::Log: v = B.CreateUnaryIntrinsic(Intrinsic::log, a); break;
        case Op::Sqrt: v = B.CreateUnaryIntrinsic(Intrinsic::sqrt, a); break;
        case Op::Square: v = B.CreateFMul(a, a); break;
        case Op::Abs: v = B.CreateUnaryIntrinsic(Intrinsic::fabs, a); break;
        case Op::Affine: v = B.CreateFAdd(B.CreateFMul(a, splat(in.c0)), splat(in.c1)); break;
        case Op::ReluBwd: v = B.CreateSelect(B.CreateFCmpOGT(b, splat(0.f)), a, splat(0.f)); break;
        case Op::SigmoidBwd: v = B.CreateFMul(B.CreateFMul(a, b), B.CreateFSub(splat(1.f), b)); break;
        case Op::TanhBwd: v = B.CreateFMul(a, B.CreateFSub(splat(1.f), B.CreateFMul(b, b))); break;
        case Op::Add: v = B.CreateFAdd(a, b); break;
        case Op::Sub: v = B.CreateFSub(a, b); break;
        case Op::Mul: v = B.CreateFMul(a, b); break;
        case Op::Div: v = B.CreateFDiv(a, b); break;
        case Op::Max: v = B.CreateSelect(lt(a, b), b, a); break;
        case Op::Min: v = B.CreateSelect(lt(b, a), b, a); break;
        case Op::Less: v = B.CreateSelect(lt(a, b), splat(1.f), splat(0.f)); break;
      }
      r[i] = v;
    }
    for (size_t k = 0; k < P.sinks.size(); ++k) {
      const ew::Sink& s = P.sinks[k];
      Value* v = r[s.reg];
      int64_t st = strides[s.buf];
      if (s.red == Red::None) {
        store(s.buf, offs[s.buf], st, v, mask);
        continue;
      }
      if (accs[k]) {  // in registers
        Value* next = combine(s.red, accs[k], v);
        accs[k] = mask ? B.CreateSelect(mask, next, accs[k]) : next;
        continue;
      }
      Value* old = load(s.buf, offs[s.buf], st, mask);
      store(s.buf, offs[s.buf], st, combine(s.red, old, v), mask);
    }
  }

  // Register accumulators for sinks whose buffer has stride 0 along the vector.
  std::vector<Value*> start_accs(const std::vector<int64_t>& strides) {
    std::vector<Value*> accs(P.sinks.size(), nullptr);
    for (size_t k = 0; k < P.sinks.size(); ++k)
      if (P.sinks[k].red != Red::None && strides[P.sinks[k].buf] == 0) accs[k] = splat(identity(P.sinks[k].red));
    return accs;
  }
  void finish_accs(const std::vector<Value*>& accs, const std::vector<Value*>& offs) {
    for (size_t k = 0; k < P.sinks.size(); ++k) {
      if (!accs[k]) continue;
      const ew::Sink& s = P.sinks[k];
      Value* p = ptr(s.buf, offs[s.buf]);
      Value* old = tag(B.CreateAlignedLoad(f32, p, Align(4)), s.buf);
      tag(B.CreateAlignedStore(combine(s.red, old, hreduce(s.red, accs[k])), p, Align(4)), s.buf);
    }
  }

  // A counted loop: body(i, accs) returns the updated accumulators.
  template <class Body>
  std::vector<Value*> loop(Value* start, Value* limit, int64_t step, std::vector<Value*> accs, Body body,
                           const char* name) {
    BasicBlock* pre = B.GetInsertBlock();
    BasicBlock* head = BasicBlock::Create(C, std::string(name) + ".head", F);
    BasicBlock* bodyb = BasicBlock::Create(C, std::string(name) + ".body", F);
    BasicBlock* exit = BasicBlock::Create(C, std::string(name) + ".exit", F);
    B.CreateBr(head);
    B.SetInsertPoint(head);
    PHINode* i = B.CreatePHI(i64, 2, name);
    i->addIncoming(start, pre);
    std::vector<PHINode*> phis(accs.size(), nullptr);
    std::vector<Value*> cur = accs;
    for (size_t k = 0; k < accs.size(); ++k)
      if (accs[k]) {
        phis[k] = B.CreatePHI(accs[k]->getType(), 2);
        phis[k]->addIncoming(accs[k], pre);
        cur[k] = phis[k];
      }
    Value* more = B.CreateICmpSLE(B.CreateAdd(i, B.getInt64(step)), limit);
    B.CreateCondBr(more, bodyb, exit);
    B.SetInsertPoint(bodyb);
    std::vector<Value*> next = body(static_cast<Value*>(i), cur);
    BasicBlock* latch = B.GetInsertBlock();
    i->addIncoming(B.CreateAdd(i, B.getInt64(step)), latch);
    for (size_t k = 0; k < accs.size(); ++k)
      if (phis[k]) phis[k]->addIncoming(next[k], latch);
    B.CreateBr(head);
    B.SetInsertPoint(exit);
    // i and the phis are the values at exit.
    last_index_ = i;
    return cur;
  }
  Value* last_index_ = nullptr;

  // ------------------------------------------------------------ flat

  void flat() {
    std::vector<int64_t> strides(P.num_bufs);
    for (int b = 0; b < P.num_bufs; ++b) strides[b] = N.stride[b][0];
    auto offs_at = [&](Value* i) {
      std::vector<Value*> o(P.num_bufs);
      for (int b = 0; b < P.num_bufs; ++b) o[b] = strides[b] ? i : B.getInt64(0);
      return o;
    };
    std::vector<Value*> accs = start_accs(strides);
    accs = loop(begin_, end_, VF, accs, [&](Value* i, std::vector<Value*> a) {
      program(offs_at(i), strides, nullptr, a);
      return a;
    }, "v");
    Value* i = last_index_;
    // Tail: the remaining < VF points under a mask.
    Value* rem = B.CreateSub(end_, i);
    BasicBlock* tail = BasicBlock::Create(C, "tail", F);
    BasicBlock* done = BasicBlock::Create(C, "done", F);
    BasicBlock* pre = B.GetInsertBlock();
    B.CreateCondBr(B.CreateICmpSGT(rem, B.getInt64(0)), tail, done);
    B.SetInsertPoint(tail);
    Value* mask = B.CreateICmpSLT(lanes(), B.CreateVectorSplat(VF, rem));
    std::vector<Value*> tail_accs = accs;
    program(offs_at(i), strides, mask, tail_accs);
    BasicBlock* tail_end = B.GetInsertBlock();
    B.CreateBr(done);
    B.SetInsertPoint(done);
    for (size_t k = 0; k < accs.size(); ++k) {
      if (!accs[k]) continue;
      PHINode* phi = B.CreatePHI(vty, 2);
      phi->addIncoming(accs[k], pre);
      phi->addIncoming(tail_accs[k], tail_end);
      accs[k] = phi;
    }
    finish_accs(accs, offs_at(B.getInt64(0)));
  }

  // ------------------------------------------------------------ static nest

  void nest() {
    const int k = static_cast<int>(N.extent.size());
    const int inner = k - 1;
    std::vector<int64_t> inner_strides(P.num_bufs);
    for (int b = 0; b < P.num_bufs; ++b) inner_strides[b] = N.stride[b][inner];
    loop(begin_, end_, 1, {}, [&](Value* o, std::vector<Value*> none) {
      // Offsets of this outer index.
      std::vector<Value*> offs(P.num_bufs, B.getInt64(0));
      Value* rem = o;
      for (int d = N.outer - 1; d >= 0; --d) {
        Value* id = d == 0 ? rem : B.CreateURem(rem, B.getInt64(N.extent[d]));
        if (d > 0) rem = B.CreateUDiv(rem, B.getInt64(N.extent[d]));
        for (int b = 0; b < P.num_bufs; ++b)
          if (N.stride[b][d]) offs[b] = B.CreateAdd(offs[b], B.CreateMul(id, B.getInt64(N.stride[b][d])));
      }
      middle(N.outer, offs, inner_strides);
      return none;
    }, "o");
  }

  void middle(int d, const std::vector<Value*>& offs, const std::vector<int64_t>& inner_strides) {
    const int inner = static_cast<int>(N.extent.size()) - 1;
    if (d == inner) {
      row(offs, inner_strides);
      return;
    }
    loop(B.getInt64(0), B.getInt64(N.extent[d]), 1, {}, [&](Value* j, std::vector<Value*> none) {
      std::vector<Value*> o2(P.num_bufs);
      for (int b = 0; b < P.num_bufs; ++b)
        o2[b] = N.stride[b][d] ? B.CreateAdd(offs[b], B.CreateMul(j, B.getInt64(N.stride[b][d]))) : offs[b];
      middle(d + 1, o2, inner_strides);
      return none;
    }, "m");
  }

  void row(const std::vector<Value*>& offs, const std::vector<int64_t>& st) {
    const int64_t E = N.extent.back();
    const int64_t full = E / VF * VF, tail = E - full;
    auto offs_at = [&](Value* i) {
      std::vector<Value*> o(P.num_bufs);
      for (int b = 0; b < P.num_bufs; ++b) o[b] = st[b] ? B.CreateAdd(offs[b], B.CreateMul(i, B.getInt64(st[b]))) : offs[b];
      return o;
    };
    std::vector<Value*> accs = start_accs(st);
    if (full > 0)
      accs = loop(B.getInt64(0), B.getInt64(full), VF, accs, [&](Value* i, std::vector<Value*> a) {
        program(offs_at(i), st, nullptr, a);
        return a;
      }, "r");
    if (tail > 0) program(offs_at(B.getInt64(full)), st, const_mask(static_cast<int>(tail)), accs);
    finish_accs(accs, offs);
  }
};

}  // namespace

std::unique_ptr<llvm::Module> generate(llvm::LLVMContext& ctx, const ew::Spec& spec, const std::string& name, int vf) {
  auto m = std::make_unique<llvm::Module>(name, ctx);
  Gen g(ctx, *m, spec, vf);
  g.build(name);
  return m;
}

}  // namespace acnn::cpu::jit
