// Composite conv-gradient kernels for the tfjs 'wasm' and 'cpu' backends (tfjs 4.22).
// Why: the wasm backend has no Conv2DBackpropFilter kernel at all (so training any conv net on wasm
// throws), its Conv2DBackpropInput (tf.conv2dTranspose and the input-gradient of conv2d) is a naive
// scalar loop, and the cpu backend's Conv2DBackpropFilter is pathologically slow (TensorBuffer.get
// per multiply-add). Both gradients are plain convolutions in disguise, so they are rebuilt here
// from each backend's OWN registered fast kernels (Conv2D - XNNPACK on wasm - or BatchMatMul, plus
// Transpose / Reshape / PadV2 / Slice / Concat glue) working on TensorInfo objects. No tf.Tensor is
// created inside a kernel, and every intermediate is freed before the kernel returns.
//   Conv2DBackpropFilter = one stride-1 Conv2D of x^T with dy^T dilated by the stride.
//   Conv2DBackpropInput  = one stride-1 Conv2D of dy with all stride phases of the flipped filter
//                          stacked as output channels, then depth-to-space (no zero insertion).
//
// Call registerCompositeKernels(name) after the backend's package has been imported (for wasm:
// `import '@tensorflow/tfjs-backend-wasm'`), before or after tf.setBackend(name).
import * as tf from '@tensorflow/tfjs';

type TensorInfo = tf.TensorInfo;
type KernelConfig = tf.KernelConfig;
type DataId = TensorInfo['dataId'];
type NamedTensorInfoMap = Record<string, TensorInfo>;

/** The two backend methods used to free intermediates (wasm and cpu both have disposeData). */
interface FreeingBackend {
  disposeData(dataId: DataId, force?: boolean): boolean;
  disposeIntermediateTensorInfo?(info: TensorInfo): void;
}

type Pair = [number, number];
type ExplicitPad4 = [Pair, Pair, Pair, Pair];

const BACKPROP_FILTER = 'Conv2DBackpropFilter';
const BACKPROP_INPUT = 'Conv2DBackpropInput';

/**
 * Which composites each backend gets. Conv2DBackpropInput is not replaced on cpu: cpu's own kernel is
 * a reasonably tight loop, while on cpu the composite's Conv2D is an equally scalar loop and its glue
 * (Transpose/Slice/Concat) costs extra per-element passes; measured 1-4x slower than the original on
 * DCGAN shapes. (On wasm the composite's Conv2D is XNNPACK and wins by 5-10x.)
 */
const PLAN: Readonly<Record<string, readonly string[]>> = {
  wasm: [BACKPROP_FILTER, BACKPROP_INPUT],
  cpu: [BACKPROP_FILTER],
};

/** `${backend}/${kernel}` -> the config registered before ours (null when there was none). */
const originals = new Map<string, KernelConfig | null>();
/** Every config object this module registered, to recognise our own kernels in the registry. */
const ours = new WeakSet<KernelConfig>();

const key = (kernelName: string, backendName: string): string => `${backendName}/${kernelName}`;

/**
 * Runs the backend's own registered kernels and remembers every output, so that all intermediates
 * can be freed in one place (also when something throws half way).
 */
class KernelScope {
  private readonly temps: TensorInfo[] = [];

  constructor(
    private readonly backendName: string,
    private readonly backend: FreeingBackend,
  ) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: tf.NamedAttrMap): TensorInfo {
    const config = tf.getKernel(kernelName, this.backendName);
    if (config === undefined) {
      throw new Error(
        `composite kernels: '${kernelName}' is not registered for backend '${this.backendName}'`,
      );
    }
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs });
    if (Array.isArray(out)) {
      for (const o of out) this.free(o);
      throw new Error(`composite kernels: '${kernelName}' returned several outputs, expected one`);
    }
    this.temps.push(out);
    return out;
  }

  /** Takes `info` out of the scope so that dispose() leaves it alive (the kernel's result). */
  keep(info: TensorInfo): TensorInfo {
    const i = this.temps.lastIndexOf(info);
    if (i >= 0) this.temps.splice(i, 1);
    return info;
  }

  dispose(): void {
    // Each entry owns exactly one reference (Reshape outputs share a dataId with their input but
    // took their own reference via incRef), so one release per entry is balanced.
    for (const t of this.temps.splice(0)) this.free(t);
  }

  private free(info: TensorInfo): void {
    if (typeof this.backend.disposeIntermediateTensorInfo === 'function') {
      this.backend.disposeIntermediateTensorInfo(info); // cpu
    } else {
      this.backend.disposeData(info.dataId); // wasm (decrements the refCount, frees at zero)
    }
  }
}

function as4D(shape: number[], what: string): [number, number, number, number] {
  if (shape.length !== 4)
    throw new Error(`composite kernels: ${what} must be rank 4, got [${shape.join(',')}]`);
  return [shape[0], shape[1], shape[2], shape[3]];
}

function checkShape(actual: number[], expected: number[], what: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new Error(
      `composite kernels: ${what} has shape [${actual.join(',')}], expected [${expected.join(',')}]`,
    );
  }
}

/**
 * dW[kh,kw,ci,co] = sum_{n,oh,ow} x[n, oh*sH+kh-padTop, ow*sW+kw-padLeft, ci] * dy[n,oh,ow,co]
 *
 * is a stride-1 convolution of x^T = [Ci,H,W,N] (batch <- Ci, channels <- N) with the "filter"
 * dy^T = [OH,OW,N,Co] dilated by the original stride, padded so that the output is exactly KH x KW:
 * [Ci,KH,KW,Co], then transposed to [KH,KW,Ci,Co].
 */
function makeBackpropFilter(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
      attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
    const info = tf.backend_util.computeConv2DInfo(
      as4D(x.shape, 'x'),
      as4D(filterShape, 'filterShape'),
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      format,
    );
    const channelsLast = info.dataFormat === 'channelsLast';
    const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
    const { strideHeight: sH, strideWidth: sW, padInfo } = info;
    checkShape(dy.shape, info.outShape, 'dy');

    const scope = new KernelScope(backendName, backend as FreeingBackend);
    try {
      // x -> [Ci,H,W,N], dy -> [OH,OW,N,Co]
      let xT = scope.run('Transpose', { x }, { perm: channelsLast ? [3, 1, 2, 0] : [1, 2, 3, 0] });
      const dyT = scope.run('Transpose', { x: dy }, { perm: channelsLast ? [1, 2, 0, 3] : [2, 3, 0, 1] });

      // Output height of the inner conv: H + top + bottom - ((OH-1)*sH + 1) + 1 must equal KH.
      const top = padInfo.top;
      const left = padInfo.left;
      let bottom = KH + (OH - 1) * sH - H - top;
      let right = KW + (OW - 1) * sW - W - left;
      if (bottom < 0 || right < 0) {
        // Trailing rows/cols of x that no (output, tap) pair ever reads: cut them off instead of
        // padding negatively (XNNPACK / cpu Conv2D only take non-negative padding).
        const [ci, , , n] = xT.shape;
        const size = [ci, H + Math.min(bottom, 0), W + Math.min(right, 0), n];
        xT = scope.run('Slice', { x: xT }, { begin: [0, 0, 0, 0], size });
        bottom = Math.max(bottom, 0);
        right = Math.max(right, 0);
      }
      const explicit: ExplicitPad4 = [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ];
      const dW = scope.run(
        'Conv2D',
        { x: xT, filter: dyT },
        { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [sH, sW] },
      ); // [Ci,KH,KW,Co]
      const out = scope.run('Transpose', { x: dW }, { perm: [1, 2, 0, 3] }); // [KH,KW,Ci,Co]
      return scope.keep(out);
    } finally {
      scope.dispose();
    }
  };
}

/** The geometry both input-gradient formulations start from (the forward conv's info). */
function backpropInputInfo(inputs: unknown, attrs: unknown) {
  const { dy, filter } = inputs as unknown as { dy: TensorInfo; filter: TensorInfo };
  const { inputShape, strides, pad, dataFormat, dimRoundingMode } =
    attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    as4D(inputShape, 'inputShape'),
    as4D(filter.shape, 'filter'),
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    format,
  );
  return { dy, filter, info, channelsLast: info.dataFormat === 'channelsLast' };
}

/**
 * dx[n,h,w,ci] = sum_{oh,ow,kh,kw : oh*sH+kh-padTop = h, ow*sW+kw-padLeft = w} dy[n,oh,ow,co] * W[kh,kw,ci,co]
 *
 * is a stride-1 VALID convolution of dy with (stride-1) zeros inserted between its rows/columns,
 * padded by KH-1-padTop on top (and whatever makes the output exactly H rows at the bottom), with the
 * filter rotated by 180 degrees spatially and its in/out channels swapped ([KH,KW,Co,Ci]).
 * Not registered: at stride s it multiplies through s*s times the work of the forward conv (almost all
 * of it zeros); makeBackpropInputPhases below computes the same thing at forward-conv cost.
 */
function makeBackpropInputZeroInsert(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter, info, channelsLast } = backpropInputInfo(inputs, attrs);
    const { batchSize: N, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, outChannels: Co } = info;
    const { filterHeight: KH, filterWidth: KW, strideHeight: sH, strideWidth: sW, padInfo } = info;
    checkShape(dy.shape, info.outShape, 'dy');

    const scope = new KernelScope(backendName, backend as FreeingBackend);
    try {
      let g = channelsLast ? dy : scope.run('Transpose', { x: dy }, { perm: [0, 2, 3, 1] }); // [N,OH,OW,Co]

      // Zero insertion: [N,OH,1,OW,1,Co] -pad-> [N,OH,sH,OW,sW,Co] -> [N,OH*sH,OW*sW,Co]. Row oh of dy
      // lands on row oh*sH; the sH-1 zero rows after the last one are harmless (or sliced below).
      if (sH > 1 || sW > 1) {
        const r6 = scope.run('Reshape', { x: g }, { shape: [N, OH, 1, OW, 1, Co] });
        const p6 = scope.run(
          'PadV2',
          { x: r6 },
          {
            paddings: [
              [0, 0],
              [0, 0],
              [0, sH - 1],
              [0, 0],
              [0, sW - 1],
              [0, 0],
            ],
            constantValue: 0,
          },
        );
        g = scope.run('Reshape', { x: p6 }, { shape: [N, OH * sH, OW * sW, Co] });
      }
      const LH = OH * sH;
      const LW = OW * sW;

      // VALID stride-1 output length = top + L + bottom - K + 1 must equal H.
      let top = KH - 1 - padInfo.top;
      let left = KW - 1 - padInfo.left;
      let bottom = H + KH - 1 - top - LH;
      let right = W + KW - 1 - left - LW;
      if (top < 0 || left < 0 || bottom < 0 || right < 0) {
        // Negative padding = rows/cols of (zero-inserted) dy that only ever meet padding of x:
        // slice them away, then pad the rest with the conv's own (non-negative) explicit padding.
        const beginH = Math.max(0, -top);
        const beginW = Math.max(0, -left);
        const sizeH = LH - beginH - Math.max(0, -bottom);
        const sizeW = LW - beginW - Math.max(0, -right);
        if (sizeH <= 0 || sizeW <= 0) {
          throw new Error(
            'composite Conv2DBackpropInput: padding larger than the receptive field is not supported',
          );
        }
        g = scope.run('Slice', { x: g }, { begin: [0, beginH, beginW, 0], size: [N, sizeH, sizeW, Co] });
        top = Math.max(top, 0);
        left = Math.max(left, 0);
        bottom = Math.max(bottom, 0);
        right = Math.max(right, 0);
      }

      // Filter [KH,KW,Ci,Co] rotated 180 degrees and with channels swapped -> [KH,KW,Co,Ci].
      const flipped = scope.run('Reverse', { x: filter }, { dims: [0, 1] });
      const rotated = scope.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });

      const explicit: ExplicitPad4 = [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ];
      let dx = scope.run(
        'Conv2D',
        { x: g, filter: rotated },
        { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [1, 1] },
      ); // [N,H,W,Ci]
      if (!channelsLast) dx = scope.run('Transpose', { x: dx }, { perm: [0, 3, 1, 2] });
      return scope.keep(dx);
    } finally {
      scope.dispose();
    }
  };
}

/**
 * The same input gradient / conv-transpose without multiplying through inserted zeros ("sub-pixel" or
 * phase decomposition; the default). With h' = h + padTop = m*sH + r (0 <= r < sH), only the taps
 * kh = r + sH*j contribute, with oh = m - j:
 *
 *   dx[h] = sum_j dy[m-j] * W[r + sH*j]
 *
 * so every output phase r is a plain stride-1 convolution of dy with the sub-filter W[r::sH] flipped.
 * All sH*sW phases share the same input and (after zero-padding KH up to TH*sH) the same sub-filter
 * size TH = ceil(KH/sH), so they run as ONE Conv2D with the phase sub-filters stacked along the output
 * channels ([TH,TW,Co,sH*sW*Ci]); a reshape/transpose (depth-to-space) interleaves the phases into
 * rows m*sH + r, and a slice drops the padTop mod sH leading (and any trailing) rows. About the
 * multiply-adds of the forward conv (plus one phase row/column of slack when padTop mod sH != 0),
 * versus sH*sW times that for the zero-insertion formulation. The 1x1-dy VALID case (DCGAN
 * generator's first layer) is a plain BatchMatMul instead.
 */
function makeBackpropInputPhases(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter, info, channelsLast } = backpropInputInfo(inputs, attrs);
    const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW } = info;
    const { outChannels: Co, filterHeight: KH, filterWidth: KW, strideHeight: sH, strideWidth: sW } = info;
    const { top: padTop, left: padLeft } = info.padInfo;
    checkShape(dy.shape, info.outShape, 'dy');

    const TH = Math.ceil(KH / sH);
    const TW = Math.ceil(KW / sW);
    // Phase rows needed: m from floor(padTop/sH) to floor((padTop+H-1)/sH).
    const m0H = Math.floor(padTop / sH);
    const m0W = Math.floor(padLeft / sW);
    const MH = Math.floor((padTop + H - 1) / sH) - m0H + 1;
    const MW = Math.floor((padLeft + W - 1) / sW) - m0W + 1;
    // Conv output u = m - m0 reads dy[u + m0 - (T-1) + t]: pad T-1-m0 before, and whatever makes the
    // output exactly M long after (negative = rows of dy that only reach padding: sliced away).
    let top = TH - 1 - m0H;
    let left = TW - 1 - m0W;
    let bottom = MH + TH - 1 - OH - top;
    let right = MW + TW - 1 - OW - left;

    const scope = new KernelScope(backendName, backend as FreeingBackend);
    try {
      if (OH === 1 && OW === 1 && H === KH && W === KW && padTop === 0 && padLeft === 0) {
        // 1x1 dy over a VALID, filter-sized input (generator's first layer 1 -> KxK, and the input
        // gradient of a discriminator/encoder head KxK -> 1): dx[n,(kh,kw,ci)] = sum_co dy[n,co] *
        // W[(kh,kw,ci),co], a plain matmul. As a conv it would mostly multiply padding zeros.
        // Computed as dx^T = W . dy^T: wasm's BatchMatMul has a fast (XNNPACK) path only without
        // transposeA/B, and transposing dy and the result is cheaper than transposing W.
        const dy2 = scope.run('Reshape', { x: dy }, { shape: [N, Co] }); // NHWC == NCHW for 1x1
        const dyT = scope.run('Transpose', { x: dy2 }, { perm: [1, 0] });
        const b = scope.run('Reshape', { x: dyT }, { shape: [1, Co, N] });
        const a = scope.run('Reshape', { x: filter }, { shape: [1, KH * KW * Ci, Co] });
        const m = scope.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
        const m3 = scope.run('Reshape', { x: m }, { shape: [KH * KW, Ci, N] });
        // [(kh,kw),ci,n] -> NHWC [n,(kh,kw),ci] or NCHW [n,ci,(kh,kw)]
        const t = scope.run('Transpose', { x: m3 }, { perm: channelsLast ? [2, 0, 1] : [2, 1, 0] });
        const out = scope.run(
          'Reshape',
          { x: t },
          { shape: channelsLast ? [N, KH, KW, Ci] : [N, Ci, KH, KW] },
        );
        return scope.keep(out);
      }
      let g = channelsLast ? dy : scope.run('Transpose', { x: dy }, { perm: [0, 2, 3, 1] }); // [N,OH,OW,Co]
      if (top < 0 || left < 0 || bottom < 0 || right < 0) {
        const beginH = Math.max(0, -top);
        const beginW = Math.max(0, -left);
        const sizeH = OH - beginH - Math.max(0, -bottom);
        const sizeW = OW - beginW - Math.max(0, -right);
        if (sizeH <= 0 || sizeW <= 0) {
          throw new Error(
            'composite Conv2DBackpropInput: padding larger than the receptive field is not supported',
          );
        }
        g = scope.run('Slice', { x: g }, { begin: [0, beginH, beginW, 0], size: [N, sizeH, sizeW, Co] });
        top = Math.max(top, 0);
        left = Math.max(left, 0);
        bottom = Math.max(bottom, 0);
        right = Math.max(right, 0);
      }

      // Phase filters: f[t,u,co,(rH,rW,ci)] = W[rH + sH*(TH-1-t), rW + sW*(TW-1-u), ci, co].
      let f = filter;
      if (TH * sH !== KH || TW * sW !== KW) {
        f = scope.run(
          'PadV2',
          { x: f },
          {
            paddings: [
              [0, TH * sH - KH],
              [0, TW * sW - KW],
              [0, 0],
              [0, 0],
            ],
            constantValue: 0,
          },
        );
      }
      // [TH,sH,TW,(sW,Ci),Co] -> [TH,TW,Co,sH,(sW,Ci)]: one 5D transpose (wasm drops size-1 dims).
      f = scope.run('Reshape', { x: f }, { shape: [TH, sH, TW, sW * Ci, Co] });
      f = scope.run('Transpose', { x: f }, { perm: [0, 2, 4, 1, 3] });
      if (TH * TW > 1) {
        // Flip t and u together = reverse the flattened leading (TH*TW) axis. Done as contiguous
        // Slices + one Concat: ~4x faster than wasm's generic per-element Reverse kernel.
        const rowLen = Co * sH * sW * Ci;
        const flat = scope.run('Reshape', { x: f }, { shape: [TH * TW, rowLen] });
        const rows: TensorInfo[] = [];
        for (let i = TH * TW - 1; i >= 0; i--) {
          rows.push(scope.run('Slice', { x: flat }, { begin: [i, 0], size: [1, rowLen] }));
        }
        f = scope.run('Concat', rows as unknown as NamedTensorInfoMap, { axis: 0 });
      }
      f = scope.run('Reshape', { x: f }, { shape: [TH, TW, Co, sH * sW * Ci] });

      const explicit: ExplicitPad4 = [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ];
      let dx = scope.run(
        'Conv2D',
        { x: g, filter: f },
        { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [1, 1] },
      ); // [N,MH,MW,(sH,sW,Ci)]

      if (sH * sW > 1) {
        // depth-to-space: [N*MH, MW, sH, sW*Ci] -> [N*MH, sH, MW, sW*Ci] == [N, MH*sH, MW*sW, Ci]
        dx = scope.run('Reshape', { x: dx }, { shape: [N * MH, MW, sH, sW * Ci] });
        dx = scope.run('Transpose', { x: dx }, { perm: [0, 2, 1, 3] });
      }
      // Row 0 of dx is h' = m0H*sH, i.e. h = m0H*sH - padTop. Columns and channels are contiguous
      // within a row, so the crop is a 3D slice with long contiguous runs (W*Ci floats).
      const offH = padTop - m0H * sH;
      const offW = padLeft - m0W * sW;
      if (offH !== 0 || offW !== 0 || MH * sH !== H || MW * sW !== W) {
        dx = scope.run('Reshape', { x: dx }, { shape: [N, MH * sH, MW * sW * Ci] });
        dx = scope.run('Slice', { x: dx }, { begin: [0, offH, offW * Ci], size: [N, H, W * Ci] });
      }
      dx = scope.run('Reshape', { x: dx }, { shape: [N, H, W, Ci] });
      if (!channelsLast) dx = scope.run('Transpose', { x: dx }, { perm: [0, 3, 1, 2] });
      return scope.keep(dx);
    } finally {
      scope.dispose();
    }
  };
}

const FACTORIES: Readonly<Record<string, (backendName: string) => tf.KernelFunc>> = {
  [BACKPROP_FILTER]: makeBackpropFilter,
  [BACKPROP_INPUT]: makeBackpropInputPhases,
};

/**
 * Registers the composite conv-gradient kernels for `backendName` ('wasm' or 'cpu'), replacing
 * whatever was registered for those kernel names (tf.unregisterKernel, then tf.registerKernel).
 * Returns the names of the composite kernels now in place for that backend (the same list on every
 * call: a repeated call changes nothing). Returns [] for other backends, and for 'wasm'/'cpu' when
 * the backend's own Conv2D kernel is not registered yet (its package was not imported) - call again
 * after importing it.
 */
export function registerCompositeKernels(backendName: string): string[] {
  const plan = PLAN[backendName];
  if (plan === undefined) return [];
  if (tf.getKernel('Conv2D', backendName) === undefined) return [];

  for (const kernelName of plan) {
    const current = tf.getKernel(kernelName, backendName);
    if (current !== undefined && ours.has(current)) continue; // already ours: idempotent
    originals.set(key(kernelName, backendName), current ?? null);
    if (current !== undefined) tf.unregisterKernel(kernelName, backendName);
    const config: KernelConfig = {
      kernelName,
      backendName,
      kernelFunc: FACTORIES[kernelName](backendName),
      // Keep the replaced kernel's one-time setup (wasm: cwrap of its C entry point) running at backend
      // init, so originalKernel(...) stays callable even when this ran before tf.setBackend(...).
      ...(current?.setupFunc !== undefined ? { setupFunc: current.setupFunc } : {}),
    };
    ours.add(config);
    tf.registerKernel(config);
  }
  return [...plan];
}

/**
 * The kernel config that was registered for (kernelName, backendName) before
 * registerCompositeKernels replaced it; undefined when there was none (e.g. wasm
 * Conv2DBackpropFilter). Before registerCompositeKernels ran for that backend this is simply the
 * currently registered config. Meant for tests and benchmarks that compare against the original.
 */
export function originalKernel(kernelName: string, backendName: string): KernelConfig | undefined {
  const k = key(kernelName, backendName);
  if (originals.has(k)) return originals.get(k) ?? undefined;
  const current = tf.getKernel(kernelName, backendName);
  return current !== undefined && !ours.has(current) ? current : undefined;
}

/**
 * A fresh composite kernel function for (kernelName, backendName) without registering anything
 * (undefined for kernels this module does not compose). Lets benchmarks and tests run a composite
 * that is not registered by default, e.g. Conv2DBackpropInput on cpu. variant 'zero-insert' gives the
 * textbook zero-insertion Conv2DBackpropInput instead (never registered; kept for comparison).
 */
export function compositeKernelFunc(
  kernelName: string,
  backendName: string,
  variant: 'default' | 'zero-insert' = 'default',
): tf.KernelFunc | undefined {
  if (variant === 'zero-insert')
    return kernelName === BACKPROP_INPUT ? makeBackpropInputZeroInsert(backendName) : undefined;
  const factory = FACTORIES[kernelName];
  return factory === undefined ? undefined : factory(backendName);
}
