// The structures device code shares with the host, written once: the
// per-step parameters every kernel may read (seed, step, training flag,
// runtime scalars such as the learning rate) and the status block kernels
// write (an out-of-range label, the fp16 overflow flag, the dynamic loss
// scale). The same text is compiled into the host code, into kernels.cu and,
// as a string, into every NVRTC program, so the layouts cannot drift apart.
#pragma once

#define ACNN_DEVICE_ABI                                                                      \
  struct AcnnParams {                                                                        \
    unsigned long long seed;                                                                 \
    long long step;                                                                          \
    int training;                                                                            \
    int nscalars;                                                                            \
    float scalars[60];                                                                       \
  };                                                                                         \
  struct AcnnStatus {                                                                        \
    int label_error;                                                                         \
    int overflow;                                                                            \
    float loss_scale;                                                                        \
    int good_steps;                                                                          \
    int skipped_steps;                                                                       \
    int pad0;                                                                                \
    int pad1;                                                                                \
    int pad2;                                                                                \
  };                                                                                         \
  struct AcnnItem {                                                                          \
    void* ptr[14];                                                                           \
    unsigned long long n;                                                                    \
    unsigned long long pad;                                                                  \
  };                                                                                         \
  struct AcnnChunk {                                                                         \
    unsigned int item;                                                                       \
    unsigned int pad;                                                                        \
    unsigned long long begin;                                                                \
  };

#define ACNN_STRINGIFY2(...) #__VA_ARGS__
#define ACNN_STRINGIFY(...) ACNN_STRINGIFY2(__VA_ARGS__)

namespace acnn::cuda {

ACNN_DEVICE_ABI

constexpr int kMaxScalars = 60;
constexpr int kMaxItemPointers = 14;
// The text of ACNN_DEVICE_ABI for NVRTC programs.
inline const char* device_abi_text() { return ACNN_STRINGIFY(ACNN_DEVICE_ABI); }

// fp16 dynamic loss scaling: start, growth interval and bounds.
constexpr float kInitialLossScale = 65536.0f;
constexpr int kLossScaleGrowthInterval = 2000;
constexpr float kMaxLossScale = 16777216.0f;

}  // namespace acnn::cuda
