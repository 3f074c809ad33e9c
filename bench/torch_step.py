"""The PyTorch side of bench/run_bench.py: one model, one mode, one process.

Builds a plain-PyTorch mirror of stdlib/resnet.acnn's `resnet` network (the
same tweaks: ResNet-D, selective kernels, anti-aliased blur pooling,
Big-Little, DropBlock; torchvision's ResNet-50 v1.5 when no tweak is on) for
the model files the benchmark uses, then times eager training steps
(forward, cross entropy with the recipe's label smoothing, backward, SGD with
the recipe's momentum / Nesterov / weight decay on conv and linear weights) or
inference steps (eval mode, no_grad) on random data with
torch.set_num_threads(threads). Prints one JSON object like acnn_step_bench.

    python bench/torch_step.py --model resnet50 --mode train --batch 32 --threads 2
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The model files' networks and recipes (see models/*.acnn and stdlib/recipe.acnn).
MODELS = {
    "fashion_baseline": dict(depths=[1, 1, 1], stem="small", small_stride=2, width=16, classes=10, size=28, in_channels=1,
                             batch=128, smoothing=0.0, nesterov=True, wd=5e-4, keep=1.0),
    "fashion_assemble": dict(depths=[1, 1, 1], stem="small", small_stride=2, width=16, classes=10, size=28,
                             in_channels=1, resnet_d=True, sk=True, sk_min=8,
                             batch=128, smoothing=0.1, nesterov=True, wd=5e-4, keep=1.0),
    "resnet50": dict(depths=[3, 4, 6, 3], batch=32, smoothing=0.0, nesterov=False, wd=1e-4, keep=1.0),
    "assemble_resnet50": dict(depths=[3, 4, 6, 3], resnet_d=True, sk=True, big_little=True, anti_alias=True,
                              dropblock=True, size=256, batch=32, smoothing=0.1, nesterov=False, wd=1e-4, keep=0.9),
}


def bl_reference(t):
    """As `bl_reference` in stdlib/resnet.acnn: Big-Little as the reference
    implementation has it (ImageNet stems), or the small stem's variant."""
    return bool(t.get("big_little")) and t.get("stem") != "small"


def stage_stride(t, s, stages):
    """As `stage_stride` in stdlib/resnet.acnn: [2, 2, 1, 2] for reference
    Big-Little, else [1, 2, 2, 2]."""
    if bl_reference(t):
        return 1 if s == stages - 2 else 2
    return 1 if s == 0 else 2


def conv(cin, cout, k=3, stride=1, groups=1):
    return nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)


class ConvBn(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1, act=True):
        super().__init__(conv(cin, cout, k, stride), nn.BatchNorm2d(cout), *([nn.ReLU(inplace=True)] if act else []))


class BlurPool(nn.Module):
    def __init__(self, channels, size=3, stride=2):
        super().__init__()
        row = torch.tensor([[1.0], [1.0, 1.0], [1.0, 2.0, 1.0], [1.0, 3.0, 3.0, 1.0], [1.0, 4.0, 6.0, 4.0, 1.0]][size - 1])
        f = row[:, None] * row[None, :]
        self.register_buffer("filt", (f / f.sum()).expand(channels, 1, size, size).contiguous())
        self.stride, self.lo, self.hi, self.c = stride, (size - 1) // 2, size - 1 - (size - 1) // 2, channels

    def forward(self, x):
        x = F.pad(x, (self.lo, self.hi, self.lo, self.hi), mode="reflect")
        return F.conv2d(x, self.filt, stride=self.stride, groups=self.c)


class DropBlock(nn.Module):
    """As stdlib/dropblock.acnn: one mask for the whole batch, rescaled."""

    def __init__(self, scale, keep, size=7):
        super().__init__()
        self.scale, self.keep, self.size = scale, keep, size

    def forward(self, x):
        if not self.training or self.keep >= 1.0:
            return x
        _, c, h, w = x.shape
        b = min(self.size, h, w)
        vh, vw = h - b + 1, w - b + 1
        gamma = (1.0 - self.keep) * (self.scale * h * w / (b * b) / (vh * vw))
        seeds = (torch.rand(1, c, vh, vw) < gamma).float()
        lo, hi = b // 2, (b - 1) // 2
        seeds = F.pad(seeds, (lo, hi, lo, hi))
        dropped = F.max_pool2d(F.pad(seeds, (hi, lo, hi, lo)), b, stride=1)
        mask = 1.0 - dropped
        return x * mask * (c * h * w / mask.sum())


class SK(nn.Module):
    def __init__(self, cin, width, stride, r=2, L=32):
        super().__init__()
        self.conv = ConvBn(cin, 2 * width, 3, stride)
        d = max(width // r, L)
        self.fc = ConvBn(width, d, 1)
        self.fc_select = conv(d, 2 * width, 1)
        self.width = width

    def forward(self, x):
        u = self.conv(x)
        u0, u1 = u[:, :self.width], u[:, self.width:]
        s = F.adaptive_avg_pool2d(u0 + u1, 1)
        a = self.fc_select(self.fc(s)).view(x.shape[0], 2, self.width, 1, 1).softmax(dim=1)
        return a[:, 0] * u0 + a[:, 1] * u1


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride, t, project, drop, last_relu=True):
        super().__init__()
        out = width * 4
        aa = t.get("anti_alias") and stride > 1
        s2 = 1 if aa else stride
        self.conv1, self.bn1 = conv(cin, width, 1), nn.BatchNorm2d(width)
        self.drop = DropBlock(drop, t["keep"]) if drop > 0 else nn.Identity()
        if t.get("sk"):
            self.mid = SK(width, width, s2, 2, t.get("sk_min", 32))
        else:
            self.mid = nn.Sequential(conv(width, width, 3, s2), nn.BatchNorm2d(width), self.drop, nn.ReLU(inplace=True))
        self.blur = BlurPool(width, 3, stride) if aa else nn.Identity()
        self.conv3, self.bn3 = conv(width, out, 1), nn.BatchNorm2d(out)
        self.short = None
        if project:
            if t.get("big_little"):
                pool = nn.AvgPool2d(3, stride, 1, count_include_pad=bl_reference(t)) if stride > 1 else nn.Identity()
                self.short = nn.Sequential(pool, conv(cin, out, 1), nn.BatchNorm2d(out))
            elif t.get("resnet_d"):
                pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
                self.short = nn.Sequential(pool, conv(cin, out, 1), nn.BatchNorm2d(out))
            else:
                self.short = nn.Sequential(conv(cin, out, 1, stride), nn.BatchNorm2d(out))
        self.last_relu = last_relu

    def forward(self, x):
        y = F.relu(self.drop(self.bn1(self.conv1(x))), inplace=True)
        y = self.blur(self.mid(y))
        y = self.drop(self.bn3(self.conv3(y)))
        y = y + (self.drop(self.short(x)) if self.short is not None else x)
        return F.relu(y, inplace=True) if self.last_relu else y


class BigLittleStage(nn.Module):
    def __init__(self, cin, width, n, stride, t, drop):
        super().__init__()
        out, alpha, beta = width * 4, t.get("bl_alpha", 2), t.get("bl_beta", 4)
        big, c = [], cin
        for i in range(n - 1):
            last_relu = i != n - 2 or (n == 2 and bl_reference(t))
            big.append(Bottleneck(c, width, 2 if i == 0 else 1, t, i == 0, drop, last_relu))
            c = out
        little, c = [], cin
        for i in range(max(1, n // beta - 1)):
            little.append(Bottleneck(c, width // alpha, 1, t, i == 0, drop))
            c = width // alpha * 4
        self.big, self.little = nn.Sequential(*big), nn.Sequential(*little)
        self.little_proj = ConvBn(c, out, 1, act=False)
        self.merge = Bottleneck(out, width, stride, t, True, drop)

    def forward(self, x):
        m = F.relu(self.little_proj(self.little(x)) + F.interpolate(self.big(x), scale_factor=2, mode="nearest"))
        return self.merge(m)


class BigLittleStem(nn.Module):
    """Never anti-aliased, as in the reference."""

    def __init__(self, width, t):
        super().__init__()
        lw = width // t.get("bl_alpha", 2)
        self.big = ConvBn(width, width, 3, 2, act=False)
        self.little = nn.Sequential(ConvBn(width, lw, 3), ConvBn(lw, lw, 3, 2), ConvBn(lw, width, 1, act=False))
        self.merge = ConvBn(width, width, 1)

    def forward(self, x):
        return self.merge(F.relu(self.big(x) + self.little(x)))


class ResNet(nn.Module):
    def __init__(self, t):
        super().__init__()
        w, cin = t.get("width", 64), t.get("in_channels", 3)
        if t.get("stem") == "small":
            self.stem = ConvBn(cin, w, 3, t.get("small_stride", 1))
        elif t.get("big_little"):
            self.stem = nn.Sequential(ConvBn(cin, w, 7, 2), BigLittleStem(w, t))
        elif t.get("resnet_d"):
            self.stem = nn.Sequential(ConvBn(cin, w // 2, 3, 2), ConvBn(w // 2, w // 2, 3), conv(w // 2, w, 3),
                                      nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        else:
            self.stem = nn.Sequential(ConvBn(cin, w, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, c = [], w
        for s, n in enumerate(t["depths"]):
            width, stride = w * 2 ** s, stage_stride(t, s, len(t["depths"]))
            drop = {3: 0.25, 4: 1.0}.get(s + 1, 0.0) if t.get("dropblock") else 0.0
            if t.get("big_little") and s < len(t["depths"]) - 1:
                stages.append(BigLittleStage(c, width, n, stride, t, drop))
            else:
                for i in range(n):
                    project = i == 0 and (stride != 1 or c != width * 4)
                    stages.append(Bottleneck(c, width, stride if i == 0 else 1, t, project, drop))
                    c = width * 4
            c = width * 4
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(c, t.get("classes", 1000))

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.stages(self.stem(x)), 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--mode", default="train", choices=["train", "eval"])
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t = MODELS[a.model]
    batch = a.batch or t["batch"]
    t0 = time.perf_counter()
    model = ResNet(t)
    size, cin = t.get("size", 224), t.get("in_channels", 3)
    x = torch.randn(batch, cin, size, size)
    y = torch.randint(0, t.get("classes", 1000), (batch,))
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": t["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9, nesterov=t["nesterov"])
    model.train(a.mode == "train")
    setup = time.perf_counter() - t0
    times = []
    for s in range(a.warmup + a.steps):
        t1 = time.perf_counter()
        if a.mode == "train":
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y, label_smoothing=t["smoothing"])
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)
        if s >= a.warmup:
            times.append((time.perf_counter() - t1) * 1e3)
    med = statistics.median(times)
    print(json.dumps({"engine": "pytorch", "model": a.model, "mode": a.mode, "batch": batch, "threads": a.threads,
                      "torch": torch.__version__, "setup_s": setup, "step_ms": times, "median_ms": med,
                      "img_s": batch * 1e3 / med, "params": sum(p.numel() for p in model.parameters()),
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
