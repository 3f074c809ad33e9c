#!/usr/bin/env python3
"""Checks that acnn's safetensors files and PyTorch's agree, both ways.

Not part of the test suite (it needs torch and the safetensors package):
run it by hand after changing runtime/train/safetensors.*:

    pip install torch safetensors numpy
    python3 tests/python/check_safetensors_interop.py [build/tests/acnn_tests]

1. acnn writes files (hidden Catch2 test "[.interop]" with ACNN_INTEROP_WRITE);
   safetensors.torch.load_file must load them with the expected dtypes, shapes,
   bytes and metadata, and the checkpoint's parameters must load into a torch
   module with load_state_dict.
2. safetensors.torch.save_file writes a file; acnn must read it back
   (ACNN_INTEROP_READ).

Both sides use one pattern: tensor named by dtype code, shape [3, 5], byte i of
dtype number d is (7 * d + 1 + 31 * i) mod 256.
"""
import os
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

CODES = ["F32", "F64", "F16", "BF16", "I32", "I64", "U8"]
TORCH = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
         "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8}


def pattern(d, code):
    size = torch.empty(0, dtype=TORCH[code]).element_size() * 15
    raw = bytes((7 * d + 1 + 31 * i) % 256 for i in range(size))
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(TORCH[code]).reshape(3, 5)


def raw_bytes(t):
    return t.contiguous().view(torch.uint8).numpy().tobytes()


def run_acnn(exe, **env):
    full = dict(os.environ, **env)
    r = subprocess.run([exe, "[.interop]"], env=full, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"acnn_tests failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "tests", "acnn_tests")
    with tempfile.TemporaryDirectory() as tmp:
        # 1. acnn -> torch
        run_acnn(exe, ACNN_INTEROP_WRITE=tmp)
        path = os.path.join(tmp, "acnn_dtypes.safetensors")
        loaded = load_file(path)
        assert sorted(loaded) == sorted(CODES), sorted(loaded)
        for d, code in enumerate(CODES):
            t = loaded[code]
            assert t.dtype == TORCH[code], (code, t.dtype)
            assert tuple(t.shape) == (3, 5), (code, t.shape)
            assert raw_bytes(t) == raw_bytes(pattern(d, code)), code
        with safe_open(path, framework="pt") as f:
            assert f.metadata() == {"producer": "acnn"}, f.metadata()

        ck_path = os.path.join(tmp, "acnn_checkpoint.safetensors")
        ck = load_file(ck_path)
        w = ck["layer1.0.conv1.weight"]
        assert w.dtype == torch.float32 and tuple(w.shape) == (4, 3, 3, 3)
        assert torch.equal(w.flatten(), torch.arange(108, dtype=torch.float32) * 0.5 - 7.0)
        assert torch.equal(ck["layer1.0.conv1.weight.momentum"], torch.full((4, 3, 3, 3), 0.25))
        assert ck["layer1.0.bn1.num_batches_tracked"].shape == ()
        assert ck["layer1.0.bn1.num_batches_tracked"].item() == 1234567890123
        with safe_open(ck_path, framework="pt") as f:
            meta = f.metadata()
        assert meta["acnn.format"] == "checkpoint/1", meta
        assert meta["acnn.epoch"] == "3" and meta["acnn.global_step"] == "317", meta
        assert float(meta["acnn.best_metric"]) == 0.8125, meta
        # The parameters drop into a torch module as they are.
        conv = torch.nn.Conv2d(3, 4, 3, bias=False)
        conv.load_state_dict({"weight": w})
        bn = torch.nn.BatchNorm2d(4)
        bn.load_state_dict({"weight": torch.ones(4), "bias": torch.zeros(4), "running_mean": torch.zeros(4),
                            "running_var": ck["layer1.0.bn1.running_var"],
                            "num_batches_tracked": ck["layer1.0.bn1.num_batches_tracked"]})
        print(f"torch {torch.__version__} loaded acnn's files: {len(loaded)} dtypes, checkpoint with "
              f"{len(ck)} tensors and {len(meta)} metadata keys")

        # 2. torch -> acnn
        out = {code: pattern(d, code) for d, code in enumerate(CODES)}
        out["scalar"] = torch.tensor(2.5, dtype=torch.float32)
        out["empty"] = torch.zeros(0, 4, dtype=torch.float16)
        torch_path = os.path.join(tmp, "from_torch.safetensors")
        save_file(out, torch_path, metadata={"producer": "torch"})
        run_acnn(exe, ACNN_INTEROP_READ=torch_path)
        print(f"acnn loaded torch's file: {len(out)} tensors")
    print("interop OK")


if __name__ == "__main__":
    main()
