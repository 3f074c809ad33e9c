// What the CUDA backend will run for a graph, printed without a GPU: the
// device-independent plan (lowering.h) of a graph as `acnn dump --stage
// device` shows it. One line per kernel unit (what it computes, its scope,
// the values it reads and writes with their storage formats), then a table
// per kind of kernel: launches, bytes moved through device memory and
// floating-point work, and the time floor those imply on a given card
// (bytes / bandwidth and FLOPs / peak, whichever is larger, per kernel). The
// floor counts the conversions the runner adds in front of convolutions (the
// image feed's cast, half-precision weight copies) but no others, nor cuDNN
// workspaces or cache effects: it says where the step's time can go, not what
// it will be.
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/lowering.h"

namespace acnn::cuda {

struct PlanReportOptions {
  bool units = true;             // one line per kernel unit (false: the summary only)
  std::string scope;             // only units with a node in this scope (prefix match)
  double bandwidth_gbs = 3350;   // device memory, GB/s (H100 SXM: 3.35 TB/s)
  double tflops_half = 989;      // dense bf16/fp16 tensor-core peak (H100 SXM)
  double tflops_fp32 = 67;       // fp32 (non-tensor) peak, for fp32 plans
};

// The options for a GPU by its name (cudaDeviceProp::name): the memory
// bandwidth of an H200 (4.8 TB/s) or an H100 PCIe (2.0 TB/s) instead of the
// H100 SXM's default; the same peak FLOPs.
PlanReportOptions report_options_for(const std::string& gpu_name);

// The table's rows for the conversions the runner adds (also the names its
// profile uses for them).
inline constexpr const char* kWeightCastsRow = "weight casts (one launch)";
inline constexpr const char* kConversionRow = "format conversion (runner)";

// The totals of the table's last row.
struct PlanTotals {
  int launches = 0;
  double read = 0, written = 0, flops = 0;
  double floor_s = 0;
};

// The report; `totals`, when given, receives the table's totals (`acnn bench`
// sets its measured step time against the floor).
std::string plan_report(const DevicePlan& plan, const PlanReportOptions& o = {}, PlanTotals* totals = nullptr);

// Per unit of the plan (in order), what the table counts for it: its row
// (kind), launches, bytes read and written, FLOPs and floor. Units that run
// no kernel (sources, reshapes) have an empty kind and cost nothing. The
// runner's profile (`acnn bench --profile`) sets measured times against these.
struct UnitCost {
  std::string kind;
  int launches = 0;
  double read = 0, written = 0, flops = 0, floor_s = 0;
};
std::vector<UnitCost> unit_costs(const DevicePlan& plan, const PlanReportOptions& o = {});

// The memory the plan needs, estimated from liveness: each value a kernel
// writes lives, in its preferred format, from its producer unit to its last
// reader (through reshapes, which are views). The runner's arena packs the
// same intervals; not counted here: the format conversions it adds (the
// image feed cast to the activation type, each conv weight's half-precision
// copy), copies a reshape of an NHWC value forces, and state updates it
// writes in place (counted here as living to the end of the step).
struct PlanMemory {
  double peak = 0;        // bytes of temporaries live at once, at most
  int peak_unit = -1;     // the unit after which they peak
  double persistent = 0;  // parameters and state
  double feeds = 0;       // graph inputs
};
PlanMemory plan_memory(const DevicePlan& plan);

}  // namespace acnn::cuda
