"""Bilinear sampling at fractional positions as a precomputed sparse matrix ("sampling plan").

The official NLSPN samples every neighbour with a modulated deformable convolution
(bilinear, zero outside the image) in each of its ``prop_time`` iterations. Positions and
affinities do not change between iterations, so one propagation step is a fixed linear
map: row ``p`` holds the four bilinear corner weights (times the affinity) of each tap, plus
the reference weight of ``p`` itself. The plan builds that matrix once, in CSR form with a
fixed number of entries per row (corners outside the image get weight 0), and an
iteration is one sparse matrix-vector product. ``PlanPropagation`` runs all the iterations
as one autograd node, whose backward gets the matrix gradient of every iteration in a single
sampled matrix product instead of one gather per iteration, and the gradient w.r.t. each
iteration's input from the transposed matrix (built once by one sort) instead of a scatter-add.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F


class PlanPropagation(torch.autograd.Function):
    """All ``steps`` iterations ``x = keep * y + fixed`` (when ``keep`` is given, else ``x = y``),
    ``y = A pad(x) + ref * x``, starting from ``y = feat``; returns every ``y`` (steps, B, 1, H, W).

    Differentiable in ``values``, ``ref_weight``, ``feat`` and ``fixed``; ``keep`` is a constant.
    """

    @staticmethod
    def forward(ctx, values: torch.Tensor, ref_weight: torch.Tensor | None, feat: torch.Tensor,
                fixed: torch.Tensor | None, keep: torch.Tensor | None, plan: SamplingPlan,
                steps: int) -> torch.Tensor:
        matrix = plan.matrix()
        inputs, outputs = [], []
        for _ in range(steps):
            if keep is not None:
                feat = torch.addcmul(fixed, keep, feat) if fixed is not None else keep * feat
            padded = F.pad(feat, (PAD_BEFORE, PAD_AFTER, PAD_BEFORE, PAD_AFTER))
            inputs.append(padded.reshape(-1))
            out = (matrix @ padded.reshape(-1)).view_as(feat)
            if ref_weight is not None:
                out = torch.addcmul(out, ref_weight, feat)
            outputs.append(out)
            feat = out
        ctx.save_for_backward(values, ref_weight, keep, torch.stack(inputs))
        ctx.plan = plan
        return torch.stack(outputs)

    @staticmethod
    def backward(ctx, grad_outputs: torch.Tensor):
        values, ref_weight, keep, inputs = ctx.saved_tensors
        plan = ctx.plan
        steps = grad_outputs.shape[0]
        rows = plan.batch * plan.height * plan.width
        grad_ref = torch.zeros_like(ref_weight) if ref_weight is not None else None
        grad_fixed = torch.zeros_like(grad_outputs[0]) if ctx.needs_input_grad[3] else None
        grad_steps = grad_outputs.new_empty(steps, rows)  # row i: the gradient w.r.t. y_i
        grad_feat = torch.zeros_like(grad_outputs[0])
        pad = PAD_BEFORE + PAD_AFTER
        padded_shape = (plan.batch, 1, plan.height + pad, plan.width + pad)
        transposed = plan.transposed_matrix()  # A^T in 4 blocks: an SpMV instead of a scatter-add
        for i in reversed(range(steps)):
            grad_y = grad_outputs[i] + grad_feat
            grad_steps[i] = grad_y.reshape(-1)
            padded_x = inputs[i].view(padded_shape)
            x = padded_x[..., PAD_BEFORE:PAD_BEFORE + plan.height, PAD_BEFORE:PAD_BEFORE + plan.width]
            grad_x = (transposed @ grad_y.reshape(-1)).view(4, -1).sum(0).view(padded_shape)
            grad_x = grad_x[..., PAD_BEFORE:PAD_BEFORE + plan.height, PAD_BEFORE:PAD_BEFORE + plan.width]
            if ref_weight is not None:
                grad_ref.addcmul_(grad_y, x)
                grad_x = torch.addcmul(grad_x, ref_weight, grad_y)
            if grad_fixed is not None:
                grad_fixed += grad_x
            grad_feat = keep * grad_x if keep is not None else grad_x
        grad_values = None
        if ctx.needs_input_grad[0]:
            pattern = plan.matrix()
            grad_values = torch.sparse.sampled_addmm(pattern, grad_steps.t(), inputs, beta=0.0).values()
        if grad_ref is not None and not ctx.needs_input_grad[1]:
            grad_ref = None
        return grad_values, grad_ref, grad_feat, grad_fixed, None, None, None


# Zero border around the image in the plan's column space: one pixel before, two after, so
# that every corner of a position clamped to [-1, H] x [-1, W] falls inside the padded image.
PAD_BEFORE, PAD_AFTER = 1, 2


def corner_steps(padded_width: int) -> tuple[int, int, int, int]:
    """Column steps from a top-left corner to the four bilinear corners in the flattened padded
    image: top-left, top-right, bottom-left, bottom-right."""
    return (0, 1, padded_width, padded_width + 1)


def bilinear_corners(offset_y: torch.Tensor, offset_x: torch.Tensor, height: int, width: int,
                     tap_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Corners of bilinear sampling at ``pixel + offset``; inputs (B, H, W, T), pixel-major.

    Returns int32 ``index`` (B, H, W, 4, T) into the flattened *padded* image ((H + 3) x (W + 3),
    see ``PAD_BEFORE``/``PAD_AFTER``) and the matching ``weight`` (B, H, W, 4, T), corners in
    the order top-left, top-right, bottom-left, bottom-right, times ``tap_weight`` if given.
    Positions are first clamped to one pixel outside the image, where the padding is zero:
    outside samples read zeros and get no gradient, as in the deformable convolution. The
    fractional part comes from the offset alone, so float32 keeps its precision however wide
    the image.
    """
    device, dtype = offset_y.device, offset_y.dtype
    ys = torch.arange(height, dtype=dtype, device=device).view(1, height, 1, 1)
    xs = torch.arange(width, dtype=dtype, device=device).view(1, 1, width, 1)
    offset_y = torch.clamp(offset_y, min=-1.0 - ys, max=height - ys)
    offset_x = torch.clamp(offset_x, min=-1.0 - xs, max=width - xs)
    fy = torch.floor(offset_y)
    fx = torch.floor(offset_x)
    ly = offset_y - fy
    lx = offset_x - fx
    padded_width = width + PAD_BEFORE + PAD_AFTER
    rows = torch.arange(height, dtype=torch.int32, device=device).view(1, height, 1, 1) + PAD_BEFORE
    cols = torch.arange(width, dtype=torch.int32, device=device).view(1, 1, width, 1) + PAD_BEFORE
    top_left = (fy.int() + rows) * padded_width + (fx.int() + cols)
    # Corner-major within a pixel's row, (B, H, W, 4, T): every write below is a contiguous run.
    corner_step = torch.tensor(corner_steps(padded_width), dtype=torch.int32, device=device)
    index = top_left.unsqueeze(-2) + corner_step.view(4, 1)
    hy = 1.0 - ly
    hx = 1.0 - lx
    if tap_weight is not None:
        hy = hy * tap_weight
        ly = ly * tap_weight
    weight = torch.stack((hy * hx, hy * lx, ly * hx, ly * lx), dim=-2)
    return index, weight


def bilinear_sample(image: torch.Tensor, offset_y: torch.Tensor, offset_x: torch.Tensor) -> torch.Tensor:
    """Sample a (B, 1, H, W) image at ``pixel + offset``, offsets (B, T, H, W) -> (B, T, H, W).

    Bilinear with zeros outside the image (``grid_sample``, ``align_corners=True``, with the
    coordinates in float64 so the round trip to pixels is exact); used once per forward (the
    confidence of every neighbour), not in the propagation loop.
    """
    batch, taps, height, width = offset_y.shape
    dtype = image.dtype
    # align_corners=True needs at least two pixels per axis; extra zero pixels change nothing.
    image = F.pad(image, (0, max(0, 2 - width), 0, max(0, 2 - height)))
    rows, cols = image.shape[-2:]
    ys = torch.arange(height, dtype=torch.float64, device=image.device).view(height, 1)
    xs = torch.arange(width, dtype=torch.float64, device=image.device)
    grid = torch.stack(((offset_x.double() + xs) * (2.0 / (cols - 1)) - 1.0,
                        (offset_y.double() + ys) * (2.0 / (rows - 1)) - 1.0), dim=-1)
    out = F.grid_sample(image.double(), grid.view(batch, taps * height, width, 2), mode="bilinear",
                        padding_mode="zeros", align_corners=True)
    return out.view(batch, taps, height, width).to(dtype)


class SamplingPlan:
    """A fixed linear map of (B, 1, H, W) images, built from (B, T, H, W) tap offsets:
    ``feat -> sum_t w_t(p) * bilinear(feat, q_t(p)) + w_ref(p) * feat(p)``, applied ``steps``
    times by :meth:`propagate`."""

    def __init__(self, col: torch.Tensor, values: torch.Tensor, ref_weight: torch.Tensor | None,
                 shape: tuple[int, int, int, int]) -> None:
        self.col = col  # (B*H*W*T*4,) int32 columns in the flattened, zero-padded batch
        self.values = values  # (B*H*W*T*4,) matrix entries (differentiable)
        self.ref_weight = ref_weight  # (B, 1, H, W) or None
        self.batch, self.taps, self.height, self.width = shape
        self.per_row = self.taps * 4
        self._matrix: torch.Tensor | None = None
        self._transposed: torch.Tensor | None = None

    @classmethod
    def build(cls, offset_y: torch.Tensor, offset_x: torch.Tensor, tap_weight: torch.Tensor | None = None,
              ref_weight: torch.Tensor | None = None) -> SamplingPlan:
        """``offset_*`` (B, T, H, W): tap ``t`` of pixel ``p`` samples at ``p + offset``;
        ``tap_weight`` (B, T, H, W) or None; ``ref_weight`` (B, 1, H, W) or None. Gradients
        flow to offsets and weights."""
        batch, taps, height, width = offset_y.shape
        if batch * (height + 3) * (width + 3) * taps * 4 >= 2 ** 31:
            raise ValueError(f"image batch too large for one sampling plan: {tuple(offset_y.shape)}")

        # Pixel-major (B, H, W, T): the entries of one output pixel (one matrix row) are contiguous.
        def pixel_major(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.permute(0, 2, 3, 1).contiguous()

        col, values = bilinear_corners(pixel_major(offset_y), pixel_major(offset_x), height, width,
                                       None if tap_weight is None else pixel_major(tap_weight))
        if batch > 1:
            padded = (height + PAD_BEFORE + PAD_AFTER) * (width + PAD_BEFORE + PAD_AFTER)
            col += torch.arange(batch, dtype=torch.int32, device=col.device).view(-1, 1, 1, 1, 1) * padded
        return cls(col.view(-1), values.view(-1), ref_weight, (batch, taps, height, width))

    def matrix(self) -> torch.Tensor:
        """The (B*H*W) x (B*H*W) CSR matrix of the taps, built on first use."""
        if self._matrix is None:
            rows = self.batch * self.height * self.width
            pad = PAD_BEFORE + PAD_AFTER
            columns = self.batch * (self.height + pad) * (self.width + pad)
            crow = torch.arange(0, rows * self.per_row + 1, self.per_row, dtype=torch.int32,
                                device=self.col.device)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                self._matrix = torch.sparse_csr_tensor(crow, self.col, self.values.detach(),
                                                       size=(rows, columns), check_invariants=False)
        return self._matrix

    def transposed_matrix(self) -> torch.Tensor:
        """The transpose of :meth:`matrix` in four row blocks, one per bilinear corner, as a
        (4 x columns) x rows CSR matrix built on first use (by the backward): ``A^T g`` is
        ``(M @ g).view(4, -1).sum(0)``, a sparse matrix-vector product instead of a scatter-add
        (about 10x faster).

        One sort of the top-left corners serves all four blocks: corner ``c`` of a tap lands at
        its top-left column plus a fixed step, so its rows are the top-left rows shifted by it.
        """
        if self._transposed is None:
            rows = self.batch * self.height * self.width
            pad = PAD_BEFORE + PAD_AFTER
            padded_width = self.width + pad
            columns = self.batch * (self.height + pad) * padded_width
            device = self.col.device
            top_left = self.col.view(rows, 4, self.taps)[:, 0].reshape(-1)  # (pixel, tap), pixel-major
            sorted_top_left, order = torch.sort(top_left, stable=True)
            crow_top_left = torch.zeros(columns + 1, dtype=torch.int64, device=device)
            crow_top_left[1:] = torch.cumsum(torch.bincount(sorted_top_left, minlength=columns), 0)
            positions = torch.arange(columns + 1, device=device)
            entries = top_left.numel()
            crows = [
                crow_top_left[(positions - step).clamp(min=0)] + corner * entries
                for corner, step in enumerate(corner_steps(padded_width))
            ]
            crow = torch.cat([c[:-1] for c in crows[:-1]] + [crows[-1]]).int()
            pixel = torch.div(order, self.taps, rounding_mode="floor").int()
            values = self.values.detach().view(rows, 4, self.taps).transpose(0, 1).reshape(4, -1)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                self._transposed = torch.sparse_csr_tensor(
                    crow, pixel.repeat(4), values[:, order].reshape(-1), size=(4 * columns, rows),
                    check_invariants=False,
                )
        return self._transposed

    def propagate(self, feat: torch.Tensor, steps: int, keep: torch.Tensor | None = None,
                  fixed: torch.Tensor | None = None) -> torch.Tensor:
        """``steps`` applications from (B, 1, H, W) ``feat``, each preceded by
        ``feat = keep * feat + fixed`` when ``keep`` is given; returns (steps, B, 1, H, W)."""
        if steps == 0:
            return feat.new_empty(0, *feat.shape)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return PlanPropagation.apply(self.values, self.ref_weight, feat, fixed,
                                         None if keep is None else keep.detach(), self, steps)
