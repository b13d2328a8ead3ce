"""The hoisted recurrence of the fused layers (`tf_nnrnn.layers`).

`h_t = σ(z_t + h_{t-1} @ W)` over precomputed input projections `z_t`,
unrolled a few steps per loop iteration, with a hand-written backward pass
(back-propagation through time) for modReLU: per step
`dz_t = (dh_t + c) σ'`, `c = dz_t Wᵀ`; per chunk `dW += H_prevᵀ dZ`,
`dkernel += Xᵀ dZ`. modReLU's derivative is read from the stored outputs
(`σ'(z) = 1[h ≠ 0]`, `∂σ/∂b = sign(h)`), so only `H` is kept.
"""

from __future__ import annotations

import tensorflow as tf

#: Steps unrolled inside one iteration of the time loop (about).
UNROLL = 8
#: Most elements (steps × batch × units) in one chunk of the fused loop.
#: 2^21 (8 MiB of float32) lets PTB (batch 128, n = 1024) run 10 steps per
#: chunk instead of 2: its weight-gradient products `H_prevᵀ dZ` then have
#: an inner dimension of 1280 instead of 256, and a training step of the
#: loop took 0.90× the time (psMNIST, 8 steps instead of 4: 0.98×; issue
#: 16, `benchmarks/README.md`).
CHUNK_ELEMENTS = 2**21
#: Loop iterations in flight: 2 lets the next chunk's recurrence overlap
#: this chunk's weight-gradient matmuls without holding the temporaries of
#: ten chunks (TensorFlow's default); measured as fast, less memory.
PARALLEL = 2


def _unroll_for(steps, width=None) -> int:
    """Steps per loop iteration: about `UNROLL`, preferably dividing `steps`.

    A divisor of a static `steps` avoids padding the time axis. When one
    step's state is large (`width` = batch × units), fewer steps per chunk
    keep the chunk-sized temporaries small; the loop's per-iteration
    overhead is then negligible next to a step.
    """
    most = UNROLL + 2
    if width:  # None (unknown) or 0 (an empty batch): no bound
        most = max(1, min(most, CHUNK_ELEMENTS // width))
    if isinstance(steps, int):
        for k in range(most, 0, -1):
            if steps % k == 0 and k >= most // 2:
                return k
    return min(UNROLL, most)


def _chunk(x, k):
    """`(T, ...)` → `(ceil(T/k), k, ...)`, zero-padded at the end in time.

    A reshape (no copy) when `T` is statically a multiple of `k`.
    """
    steps = x.shape[0]
    if steps is None or steps % k:
        pad = -tf.shape(x)[0] % k
        paddings = tf.concat(
            [[[0, pad]], tf.zeros((tf.rank(x) - 1, 2), tf.int32)], 0
        )
        x = tf.pad(x, paddings)
    # The chunk count is explicit: with an empty batch a -1 is ambiguous.
    rows = x.shape[0]
    chunks = [rows // k] if rows is not None else tf.shape(x)[:1] // k
    return tf.reshape(x, tf.concat([chunks, [k], tf.shape(x)[1:]], 0))


def _unchunk(x, steps):
    """Inverse of `_chunk`: `(C, k, ...)` → `(steps, ...)`."""
    shape = tf.shape(x)
    rows = shape[:1] * shape[1:2]  # explicit: a -1 is ambiguous if empty
    if x.shape[0] is not None and x.shape[1] is not None:
        rows = [x.shape[0] * x.shape[1]]
    flat = tf.reshape(x, tf.concat([rows, shape[2:]], 0))
    if isinstance(steps, int) and x.shape[0] is not None:
        if x.shape[0] * x.shape[1] == steps:
            return flat
    return flat[:steps]


def _chunked_mask(mask, steps, k):
    """Chunked step mask, padded steps masked out; None if not needed.

    `mask`: boolean `(T, B, 1)` or None. Padded steps count as masked, so
    the state (and, backwards, the gradient) passes through them.
    """
    padded = not isinstance(steps, int) or steps % k
    if mask is None and not padded:
        return None
    if mask is None:
        mask = tf.ones((steps, 1, 1), tf.bool)
    return _chunk(mask, k)  # zero padding is False


def _modrelu(bias):
    def activate(z):
        return tf.sign(z) * tf.nn.relu(tf.abs(z) + bias)

    return activate


def _loop(xz, w, h0, activate, mask=None, rec_mask=None):
    """`H[t] = σ(xz[t] + h_{t-1} @ W)`, time-major `xz` `(T, B, n)`.

    The path of automatic differentiation (any activation, recurrent
    dropout): TensorArrays hold the inputs, so that the gradient of the
    inputs is kept per step. Masked steps (`mask[t]` False, `(T, B, 1)`)
    carry the state over; `rec_mask` `(B, n)` is recurrent dropout applied
    to `h_{t-1}`. The loop runs over chunks of a few steps, unrolled in
    its body, to pay the per-iteration overhead once per chunk.
    """
    steps = xz.shape[0] if xz.shape[0] is not None else tf.shape(xz)[0]
    k = _unroll_for(steps)
    chunks = _chunk(xz, k)
    num = tf.shape(chunks)[0]
    inputs = tf.TensorArray(xz.dtype, size=num).unstack(chunks)
    mchunks = _chunked_mask(mask, steps, k)
    if mchunks is not None:
        masks = tf.TensorArray(tf.bool, size=num).unstack(mchunks)

    def body(c, h, outputs):
        xs = tf.unstack(inputs.read(c), num=k)
        ms = None if mchunks is None else tf.unstack(masks.read(c), num=k)
        hs = []
        for i in range(k):
            prev = h if rec_mask is None else h * rec_mask
            new = activate(xs[i] + tf.matmul(prev, w))
            h = new if ms is None else tf.where(ms[i], new, h)
            hs.append(h)
        return c + 1, h, outputs.write(c, tf.stack(hs))

    outputs = tf.TensorArray(xz.dtype, size=num)
    _, _, outputs = tf.while_loop(
        lambda c, *_: c < num, body, (tf.constant(0), h0, outputs)
    )
    return _unchunk(outputs.stack(), steps)


def _modrelu_rnn(x, kernel, in_bias, w, h0, bias, mask, sequences):
    """The whole modReLU recurrence as one op with a hand-written gradient.

    Forward, over time-major `x` `(T, B, F)`, chunk by chunk:
    `Z_x = X_c @ kernel + in_bias` for the chunk's steps in one matmul,
    then `h_t = modReLU(Z_x[t] + h_{t-1} @ W)`. Returns `(H, h_T)` if
    `sequences` (`H` batch-major, `(B, T, units)`, as the layer outputs
    it) else `(h_T,)`; only `H` is kept for the backward pass, and the
    batch-major `H` is the one kept: it is needed as the output anyway, so
    `H` is held once, and the upstream gradient is read chunk by chunk
    without a time-major copy.

    Backward (back-propagation through time), chunk by chunk in reverse,
    with `D_t = 1[h_t ≠ 0]` (modReLU's derivative; 0 on masked steps) and
    the carried gradient `c` (initially `dL/dh_T`):
    `dz_t = (dH_t + c) D_t`, `c ← dz_t Wᵀ (+ (dH_t + c)(1 − m_t))`, and per
    chunk `dW += H_{prev}ᵀ dz`, `dkernel += X_cᵀ dz`, `dX_c = dz kernelᵀ`,
    `db += Σ dz sign(H)`. Nothing of size `(T, B, units)` is made besides
    `H` (and `dH` when the sequence is an output).
    """
    steps = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
    width = None
    if x.shape[1] is not None and w.shape[0] is not None:
        width = x.shape[1] * w.shape[0]
    k = _unroll_for(steps, width)
    mchunks = _chunked_mask(mask, steps, k)

    def project(xc, kernel, in_bias):
        flat = tf.reshape(xc, (-1, tf.shape(xc)[-1]))
        z = tf.matmul(flat, kernel) + in_bias
        # Explicit sizes: with an empty batch a -1 is ambiguous.
        units = tf.shape(kernel)[1:]
        return tf.reshape(z, tf.concat([tf.shape(xc)[:2], units], 0))

    @tf.custom_gradient
    def run(x, kernel, in_bias, w, h0, bias):
        xchunks = _chunk(x, k)
        num = tf.shape(xchunks)[0]
        activate = _modrelu(bias)

        def body(c, h, outputs):
            zs = tf.unstack(project(xchunks[c], kernel, in_bias), num=k)
            ms = None if mchunks is None else tf.unstack(mchunks[c], num=k)
            hs = []
            for i in range(k):
                new = activate(zs[i] + tf.matmul(h, w))
                h = new if ms is None else tf.where(ms[i], new, h)
                hs.append(h)
            return c + 1, h, outputs.write(c, tf.stack(hs))

        # Read twice backwards (a chunk, then its last row for the next).
        outputs = tf.TensorArray(x.dtype, size=num, clear_after_read=False)
        init = (tf.constant(0), h0, outputs)
        _, last, outputs = tf.while_loop(
            lambda c, *_: c < num, body, init, parallel_iterations=PARALLEL
        )
        # Kept for the gradient: the batch-major H when it is an output
        # anyway (the TensorArray is then freed), else the TensorArray
        # itself, so that H is never held twice.
        if sequences:
            hstack = outputs.stack()  # (C, k, B, n)
            shape = tf.shape(hstack)
            hb = tf.transpose(
                tf.reshape(hstack, (shape[0] * shape[1], shape[2], shape[3])),
                (1, 0, 2),
            )  # (B, C·k, n), padded steps last

            def batch_slice(t, c):  # steps [ck, ck + k) of (B, C·k, n)
                # tf.slice: a static size k, so XLA sees a dynamic slice.
                return tf.slice(t, [0, c * k, 0], [-1, k, -1])

            def hlast(c):  # the state after chunk c, (B, n)
                return tf.slice(hb, [0, c * k + k - 1, 0], [-1, 1, -1])[:, 0]

        else:
            hchunk = outputs.read

            def hlast(c):
                return outputs.read(c)[-1]

        def grad(*upstream):
            with tf.name_scope("modrelu_rnn_gradient"):
                return backward(*upstream)

        def backward(*upstream):
            dlast = upstream[-1]
            n = tf.shape(w)[0]
            dhb = None
            if sequences:
                dhb = upstream[0]
                pad = num * k - tf.shape(dhb)[1]
                if not (isinstance(steps, int) and steps % k == 0):
                    dhb = tf.pad(dhb, [[0, 0], [0, pad], [0, 0]])

            def body(c, carry, dw, dk, dib, db, dxs):
                # Sequences: H and dH are batch-major, the chunk (B, k, n)
                # is unstacked along time directly (a transpose per chunk
                # costs more); otherwise the chunk is time-major (k, B, n).
                axis = 1 if sequences else 0
                hc = batch_slice(hb, c) if sequences else hchunk(c)
                gate = tf.not_equal(hc, 0)
                if mchunks is not None:
                    mc = mchunks[c]  # (k, B, 1)
                    if sequences:
                        mc = tf.transpose(mc, (1, 0, 2))
                    gate = tf.logical_and(gate, mc)
                    keeps = tf.unstack(
                        1 - tf.cast(mc, hc.dtype), num=k, axis=axis
                    )
                gates = tf.unstack(tf.cast(gate, hc.dtype), num=k, axis=axis)
                ups = None
                if dhb is not None:
                    ups = tf.unstack(batch_slice(dhb, c), num=k, axis=1)
                out = [None] * k
                for i in reversed(range(k)):
                    dh = carry if ups is None else ups[i] + carry
                    out[i] = dh * gates[i]
                    carry = tf.matmul(out[i], w, transpose_b=True)
                    if mchunks is not None:
                        carry = carry + dh * keeps[i]
                # dz in time-major rows (for the input kernel and dX) and,
                # for W and the bias, in the rows' order of H's chunk.
                dz = tf.reshape(tf.stack(out), (-1, n))
                dz_h = tf.reshape(tf.stack(out, axis=axis), (-1, n))
                # h_{t-1} of the chunk's first step: the previous chunk's
                # last state, h0 for the first chunk.
                first = tf.where(c > 0, hlast(tf.maximum(c - 1, 0)), h0)
                if sequences:
                    prev = tf.concat([first[:, None], hc[:, :-1]], axis=1)
                else:
                    prev = tf.concat([first[None], hc[:-1]], axis=0)
                dw += tf.matmul(
                    tf.reshape(prev, (-1, n)), dz_h, transpose_a=True
                )
                db += tf.reduce_sum(dz_h * tf.reshape(tf.sign(hc), (-1, n)), 0)
                xc = xchunks[c]
                xflat = tf.reshape(xc, (-1, tf.shape(xc)[-1]))
                dk += tf.matmul(xflat, dz, transpose_a=True)
                dib += tf.reduce_sum(dz, axis=0)
                dx = tf.matmul(dz, kernel, transpose_b=True)
                return (
                    c - 1,
                    carry,
                    dw,
                    dk,
                    dib,
                    db,
                    dxs.write(c, tf.reshape(dx, tf.shape(xc))),
                )

            init = (
                num - 1,
                dlast,
                tf.zeros_like(w),
                tf.zeros_like(kernel),
                tf.zeros_like(in_bias),
                tf.zeros_like(bias),
                tf.TensorArray(x.dtype, size=num),
            )
            _, dh0, dw, dk, dib, db, dxs = tf.while_loop(
                lambda c, *_: c >= 0, body, init, parallel_iterations=PARALLEL
            )
            dx = _unchunk(dxs.stack(), steps)
            return dx, dk, dib, dw, dh0, db

        if sequences:
            if isinstance(steps, int) and steps % k == 0:
                return (hb, last), grad
            return (hb[:, :steps], last), grad
        return (last,), grad

    return run(x, kernel, in_bias, w, h0, bias)
