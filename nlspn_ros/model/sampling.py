"""Non-local propagation as a fixed sparse linear map, built once ("sampling plan").

The official NLSPN samples every neighbour with a modulated deformable convolution
(bilinear, zero outside the image) in each of its ``prop_time`` iterations. Positions and
affinities do not change between iterations, so one propagation step is a fixed linear
map: row ``p`` holds the four bilinear corner weights (times the affinity) of each tap; the
reference weight of ``p`` itself is applied beside it. The plan builds that matrix once, in
CSR form with a fixed number of entries per row (corners outside the image land in a zero
border), and an iteration is one sparse matrix-vector product.

``NonLocalPropagation`` is one autograd node for the set-up and all the iterations. Its
backward gets the matrix gradient of every iteration in one sampled matrix product, the
gradient w.r.t. each iteration's input from the transposed matrix (built once, one row per
image column, from one sort of the top-left corners), and the gradients w.r.t. the
offsets and tap weights in closed form from the bilinear weights, so the set-up records no
autograd graph of its own.
"""
from __future__ import annotations

import threading
import warnings

import torch
import torch.nn.functional as F

# Zero border around the image in the plan's column space: one pixel before, two after, so
# that every corner of a position clamped to [-1, H] x [-1, W] falls inside the padded image.
PAD_BEFORE, PAD_AFTER = 1, 2


def corner_steps(padded_width: int) -> tuple[int, int, int, int]:
    """Column steps from a top-left corner to the four bilinear corners in the flattened padded
    image: top-left, top-right, bottom-left, bottom-right."""
    return (0, 1, padded_width, padded_width + 1)


class _Scratch(threading.local):
    """The matrix arrays of the last plan built for inference in this thread, reused by the next
    one of the same size: on CPU, fresh arrays of tens of MB cost a page fault per 4 KB on first
    write, as much as filling them (docs/model.md). Only for plans that die with their forward
    (nothing kept for a backward), so a buffer is never handed out while in use."""

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() != numel or buffer.dtype != dtype or buffer.device != device:
            self.buffers.pop(name, None)
            buffer = self.buffers[name] = torch.empty(numel, dtype=dtype, device=device)
        return buffer


_SCRATCH = _Scratch()


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


class SamplingPlan:
    """The taps of every pixel as a sparse matrix: ``feat -> sum_t w_t(p) * bilinear(feat, p + o_t(p))``.

    Built without autograd from (B, T, H, W) offsets ``o_t = (offset_y, offset_x)`` and tap
    weights ``w_t``. Positions are first clamped to one pixel outside the image, where the
    padding is zero: outside samples read zeros and get no gradient, as in the deformable
    convolution. The fractional part comes from the offset alone, so float32 keeps its
    precision however wide the image. ``tap_shift`` (T, 2) adds a constant (dy, dx) to each
    tap's offsets (the kernel grid). With ``for_gradient`` the plan keeps what
    :meth:`input_gradients` needs. With ``scratch`` the matrix arrays reuse this thread's scratch
    buffers, so such a plan must not outlive the next one built in the same thread (inference).
    """

    def __init__(self, offset_y: torch.Tensor, offset_x: torch.Tensor, tap_weight: torch.Tensor,
                 for_gradient: bool = False, tap_shift: torch.Tensor | None = None,
                 scratch: bool = False) -> None:
        batch, taps, height, width = offset_y.shape
        pad = PAD_BEFORE + PAD_AFTER
        if batch * (height + pad) * (width + pad) * taps * 4 >= 2 ** 31:
            raise ValueError(f"image batch too large for one sampling plan: {tuple(offset_y.shape)}")
        if taps % 2:
            raise ValueError(f"the sampling plan needs an even number of taps (k*k - 1 of an odd kernel), "
                             f"got {taps}")
        self.batch, self.taps, self.height, self.width = batch, taps, height, width
        self.padded_width = width + pad
        self.columns = batch * (height + pad) * self.padded_width
        self.rows = batch * height * width
        device, dtype, entries = offset_y.device, offset_y.dtype, self.rows * 4 * taps
        # What a backward needs, pixel-major (B, H, W, T): the top-left columns for the transpose,
        # the fractional parts, tap weights and unclamped masks for the offset and tap gradients.
        pixel_shape = (batch, height, width, taps)
        self.top_left = None if scratch else torch.empty(pixel_shape, dtype=torch.int32, device=device)
        self.frac_y = self.frac_x = self.tap_weight = self.inside = None
        if for_gradient:
            self.frac_y, self.frac_x, self.tap_weight = (offset_y.new_empty(pixel_shape) for _ in range(3))
            self.inside = tuple(torch.empty(pixel_shape, dtype=torch.bool, device=device) for _ in range(2))
        self.col = (_SCRATCH.get("col", entries, torch.int32, device) if scratch
                    else torch.empty(entries, dtype=torch.int32, device=device))
        self.values = (_SCRATCH.get("values", entries, dtype, device) if scratch
                       else offset_y.new_empty(entries))
        # Image by image: the temporaries stay the size of one image (whole-batch temporaries of
        # tens of MB were page-faulted anew every forward; docs/model.md has the A/B).
        with torch.no_grad():
            for b in range(batch):
                self._write_image(b, offset_y[b], offset_x[b], tap_weight[b], tap_shift)
        self._matrix: torch.Tensor | None = None
        self._transposed: torch.Tensor | None = None

    def _write_image(self, b: int, offset_y: torch.Tensor, offset_x: torch.Tensor, tap_weight: torch.Tensor,
                     tap_shift: torch.Tensor | None) -> None:
        """The matrix rows of image ``b`` from its (T, H, W) offsets and tap weights (and what a
        backward keeps of them). A row is corner-major, (4, T), corners (iy, ix) = (0, 0), (0, 1),
        (1, 0), (1, 1): every write is a run of T."""
        taps, height, width = self.taps, self.height, self.width
        kept = self.frac_y is not None
        whole_y, frac_y = self._split(offset_y, tap_shift, 0, b)
        whole_x, frac_x = self._split(offset_x, tap_shift, 1, b)
        weight = self.tap_weight[b] if kept else offset_y.new_empty(height, width, taps)
        weight.copy_(tap_weight.permute(1, 2, 0))
        # Columns of the top-left corners in the flattened, zero-padded batch.
        top_left = whole_y.mul_(self.padded_width).add_(whole_x)
        device = top_left.device
        rows = torch.arange(PAD_BEFORE, height + PAD_BEFORE, dtype=torch.int32, device=device).view(-1, 1, 1)
        cols = torch.arange(PAD_BEFORE, width + PAD_BEFORE, dtype=torch.int32, device=device).view(1, -1, 1)
        top_left += rows * self.padded_width + cols + b * (self.columns // self.batch)
        if self.top_left is not None:
            self.top_left[b] = top_left
        # The four corners' columns, two at a time: every column is below 2**31 (checked above),
        # so two packed in an int64 take the same step without a carry between them. Half the
        # runs of the int32 add (runs of T/2 instead of T), which torch's loops pay per run.
        col = self.col.view(torch.int64).view(self.batch, height, width, 4, taps // 2)[b]
        steps = torch.tensor([step * (1 + 2 ** 32) for step in corner_steps(self.padded_width)],
                             dtype=torch.int64, device=device)
        torch.add(top_left.view(torch.int64).unsqueeze(-2), steps.view(4, 1), out=col)
        values = self.values.view(self.batch, height, width, 2, 2, taps)[b]
        weight_y = frac_y.new_empty(height, width, 2, taps)
        torch.mul(frac_y, weight, out=weight_y[..., 1, :])
        torch.sub(weight, weight_y[..., 1, :], out=weight_y[..., 0, :])
        torch.mul(weight_y, frac_x.unsqueeze(-2), out=values[..., 1, :])
        torch.sub(weight_y, values[..., 1, :], out=values[..., 0, :])

    def _split(self, offset: torch.Tensor, tap_shift: torch.Tensor | None, axis: int, b: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole (int32) and fractional parts of image ``b``'s clamped offsets (T, H, W) along
        ``axis``, pixel-major (H, W, T); kept with the unclamped mask when the plan is for a gradient."""
        size = (self.height, self.width)[axis]
        shape = (size, 1, 1) if axis == 0 else (1, size, 1)
        pixel = torch.arange(size, dtype=offset.dtype, device=offset.device).view(shape)
        kept = self.frac_y is not None
        position = ((self.frac_y, self.frac_x)[axis][b] if kept
                    else offset.new_empty(self.height, self.width, self.taps))
        if tap_shift is None:
            position.copy_(offset.permute(1, 2, 0))
        else:
            torch.add(offset.permute(1, 2, 0), tap_shift[:, axis], out=position)
        # A NaN offset samples outside the image (zero), as DCNv2's bounds test reads it; left
        # NaN it would become an arbitrary column index. +-inf clamp like any far offset.
        torch.nan_to_num_(position, nan=-2.0 - size, posinf=float(size), neginf=-2.0 - size)
        low, high = -1.0 - pixel, size - pixel
        if kept:
            torch.logical_and(position >= low, position <= high, out=self.inside[axis][b])
        torch.clamp(position, low, high, out=position)
        whole = torch.floor(position)
        return whole.to(torch.int32), position.sub_(whole)

    def interior(self, padded: torch.Tensor) -> torch.Tensor:
        """The (B, 1, H, W) image inside a flat vector of the zero-padded column space."""
        padded = padded.view(self.batch, 1, self.height + PAD_BEFORE + PAD_AFTER, self.padded_width)
        return padded[..., PAD_BEFORE:PAD_BEFORE + self.height, PAD_BEFORE:PAD_BEFORE + self.width]

    def matrix(self) -> torch.Tensor:
        """The (B*H*W) x (padded columns) CSR matrix of the taps, built on first use."""
        if self._matrix is None:
            per_row = 4 * self.taps
            crow = torch.arange(0, self.rows * per_row + 1, per_row, dtype=torch.int32,
                                device=self.col.device)
            self._matrix = _csr(crow, self.col, self.values, (self.rows, self.columns))
        return self._matrix

    def transposed_matrix(self) -> torch.Tensor:
        """The transpose of :meth:`matrix`, (padded columns) x (B*H*W) CSR, built on first use.

        One row per image column, holding every (pixel, tap, corner) that reads it: an SpMV
        instead of a scatter-add, with rows as long as the forward's (short rows cost MKL more
        than their entries). One sort of the top-left corners serves all four corners:
        corner ``c`` of a tap lands at its top-left column plus a fixed step, so row ``j``
        holds, corner after corner, the taps whose top-left column is ``j - step_c``.
        """
        if self._transposed is None:
            device = self.col.device
            top_left = self.top_left.view(-1)  # entry e = pixel * taps + tap
            keys, order = torch.sort(top_left)
            keys = keys.long()  # torch.gather of int32 values by an int64 index: the fast pairing here
            counts = torch.bincount(top_left, minlength=self.columns)
            steps = corner_steps(self.padded_width)
            # shifted[c][j] = counts[j - step_c]: how many entries row j gets from corner c
            shifted = [F.pad(counts, (step, 0))[: self.columns] for step in steps]
            crow = torch.zeros(self.columns + 1, dtype=torch.int64, device=device)
            torch.cumsum(sum(shifted), 0, out=crow[1:])
            # Sorted entry s (top-left key k) goes, for corner c, to s + row_start_c[k + step_c]
            # - group_start[k]: its row's start past the corners before c, plus its rank in its group.
            group_start = torch.cumsum(counts, 0) - counts
            position = torch.arange(keys.numel(), device=device)
            pixel = torch.div(order, self.taps, rounding_mode="trunc")
            source = order.add_(pixel, alpha=3 * self.taps)  # corner 0 of the entry in self.values
            col = torch.empty(4 * keys.numel(), dtype=torch.int32, device=device)
            values = torch.empty(4 * keys.numel(), dtype=self.values.dtype, device=device)
            pixel = pixel.int()
            row_start = crow[:-1].clone()
            for corner, step in enumerate(steps):
                shift = (row_start[step:] - group_start[: self.columns - step]).int()
                dest = torch.gather(shift, 0, keys).long().add_(position)
                col.index_copy_(0, dest, pixel)
                values.index_copy_(0, dest, torch.gather(self.values, 0, source))
                source += self.taps
                row_start += shifted[corner]
            self._transposed = _csr(crow.int(), col, values, (self.columns, self.rows))
        return self._transposed

    def input_gradients(self, grad_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gradients w.r.t. ``offset_y``, ``offset_x`` and ``tap_weight`` (B, T, H, W) from the
        gradient of the matrix entries, in closed form (needs ``for_gradient``)."""
        grad = grad_values.view(self.batch, self.height, self.width, 2, 2, self.taps)  # (iy, ix) corners
        left = grad[..., 0, :]
        step_x = grad[..., 1, :] - left  # right minus left, for the top and the bottom row
        rows = torch.addcmul(left, step_x, self.frac_x.unsqueeze(-2))  # top and bottom, interpolated in x
        step_y = rows[..., 1, :] - rows[..., 0, :]
        grad_weight = torch.addcmul(rows[..., 0, :], step_y, self.frac_y)
        grad_y = step_y.mul_(self.tap_weight).mul_(self.inside[0])
        grad_x = torch.lerp(step_x[..., 0, :], step_x[..., 1, :], self.frac_y)
        grad_x = grad_x.mul_(self.tap_weight).mul_(self.inside[1])

        def official_layout(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.permute(0, 3, 1, 2)

        return official_layout(grad_y), official_layout(grad_x), official_layout(grad_weight)


class NonLocalPropagation(torch.autograd.Function):
    """``steps`` iterations ``x = keep * y + fixed`` (when ``keep`` and ``fixed`` are given, else ``x = y``),
    ``y = A pad(x) + ref * x``, starting from ``y = feat``, with ``A`` the :class:`SamplingPlan`
    of ``(offset_y, offset_x, tap_weight)``; returns every ``y`` (steps, B, 1, H, W).

    Differentiable in the offsets, ``tap_weight``, ``ref_weight``, ``feat`` and ``fixed``;
    ``keep`` is a constant.
    """

    @staticmethod
    def forward(ctx, offset_y: torch.Tensor, offset_x: torch.Tensor, tap_weight: torch.Tensor,
                ref_weight: torch.Tensor, feat: torch.Tensor, fixed: torch.Tensor | None,
                keep: torch.Tensor | None, steps: int, tap_shift: torch.Tensor | None) -> torch.Tensor:
        plan_gradient = any(ctx.needs_input_grad[:3])
        saving = any(ctx.needs_input_grad)
        plan = SamplingPlan(offset_y, offset_x, tap_weight, for_gradient=plan_gradient, tap_shift=tap_shift,
                            scratch=not saving)
        matrix = plan.matrix()
        # Every iteration's input in the zero-padded column space, written in place (the border
        # stays zero); all of them are kept for the backward, else two alternate.
        inputs = feat.new_zeros(steps if saving else min(steps, 2), plan.columns)
        outputs = feat.new_empty(steps, *feat.shape)
        for i in range(steps):
            padded = inputs[i % inputs.shape[0]]
            x = plan.interior(padded)
            if keep is not None:
                torch.addcmul(fixed, keep, feat, out=x)
            else:
                x.copy_(feat)
            feat = torch.addcmul((matrix @ padded).view_as(feat), ref_weight, x, out=outputs[i])
        ctx.plan_gradient = plan_gradient
        if saving:
            ctx.save_for_backward(ref_weight, keep, inputs)
            ctx.plan = plan
        return outputs

    @staticmethod
    def backward(ctx, grad_outputs: torch.Tensor):
        ref_weight, keep, inputs = ctx.saved_tensors
        plan = ctx.plan
        steps = grad_outputs.shape[0]
        grad_ref = torch.zeros_like(ref_weight)
        grad_fixed = torch.zeros_like(grad_outputs[0]) if ctx.needs_input_grad[5] else None
        grad_steps = grad_outputs.new_empty(steps, plan.rows)  # row i: the gradient w.r.t. y_i
        grad_feat = torch.zeros_like(grad_outputs[0])
        transposed = plan.transposed_matrix()
        for i in reversed(range(steps)):
            grad_y = torch.add(grad_outputs[i], grad_feat, out=grad_steps[i].view_as(grad_feat))
            grad_x = plan.interior(transposed @ grad_steps[i])
            grad_ref.addcmul_(grad_y, plan.interior(inputs[i]))
            grad_x = torch.addcmul(grad_x, ref_weight, grad_y)
            if grad_fixed is not None:
                grad_fixed += grad_x
            grad_feat = keep * grad_x if keep is not None else grad_x
        grad_offset_y = grad_offset_x = grad_tap = None
        if ctx.plan_gradient:
            # sampled_addmm wants both factors with the step axis innermost; its vectorized dot
            # products slow down on a remainder, so the axis is zero-padded to 8k.
            depth = -(-steps // 8) * 8
            grad_values = torch.sparse.sampled_addmm(plan.matrix(), _transpose(grad_steps, depth),
                                                     _transpose(inputs, depth).t(), beta=0.0).values()
            grad_offset_y, grad_offset_x, grad_tap = plan.input_gradients(grad_values)
        return (grad_offset_y, grad_offset_x, grad_tap, grad_ref if ctx.needs_input_grad[3] else None,
                grad_feat, grad_fixed, None, None, None)


def _transpose(matrix: torch.Tensor, depth: int, block: int = 16384) -> torch.Tensor:
    """(S, N) -> contiguous (N, depth), zero beyond column S; in blocks of columns that stay in
    cache (a one-shot ``.t().contiguous()`` of such a long, flat matrix is several times slower)."""
    steps, count = matrix.shape
    out = matrix.new_zeros(count, depth) if depth > steps else matrix.new_empty(count, depth)
    for start in range(0, count, block):
        out[start:start + block, :steps] = matrix[:, start:start + block].t()
    return out


def propagate(offset_y: torch.Tensor, offset_x: torch.Tensor, tap_weight: torch.Tensor,
              ref_weight: torch.Tensor, feat: torch.Tensor, steps: int, keep: torch.Tensor | None = None,
              fixed: torch.Tensor | None = None, tap_shift: torch.Tensor | None = None) -> torch.Tensor:
    """``steps`` propagation iterations of (B, 1, H, W) ``feat``: tap ``t`` of pixel ``p`` samples
    at ``p + (offset_y, offset_x)`` (B, T, H, W) with weight ``tap_weight`` (B, T, H, W), the
    pixel itself gets ``ref_weight`` (B, 1, H, W); each iteration is preceded by
    ``feat = keep * feat + fixed`` when ``keep`` and ``fixed`` are given (both or neither,
    as ``preserve_input`` makes them). ``tap_shift`` (T, 2): a constant
    (dy, dx) added to the offsets of each tap (the kernel grid). Returns (steps, B, 1, H, W)."""
    if (keep is None) != (fixed is None):
        raise ValueError("keep and fixed come together (the preserved sparse input) or not at all")
    if steps == 0:
        return feat.new_empty(0, *feat.shape)
    return NonLocalPropagation.apply(offset_y, offset_x, tap_weight, ref_weight, feat, fixed,
                                     None if keep is None else keep.detach(), steps, tap_shift)


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
