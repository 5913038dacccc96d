using AttentionWise.Kernels;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionWise.Layers;

/// <summary>The tile of a forward-family product (forward or a phase of the input gradient) on a GPU-shaped device.</summary>
/// <param name="Narrow">GemmNarrow (every thread owns all rows, up to 4 a launch; M ≤ 8) instead of GemmWide.</param>
/// <param name="Rows">GemmWide: thread rows GM (8·GM output rows per group).</param>
/// <param name="Pixels">GemmWide: thread columns GP, a power of two (8·GP pixels per group); GemmNarrow: threads T (4·T pixels).</param>
internal readonly record struct GemmTile(bool Narrow, int Rows, int Pixels)
{
    public int Threads => Narrow ? Pixels : Rows * Pixels;
    public int RowsPerGroup => Narrow ? 0 : 8 * Rows;
    public int PixelsPerGroup => Narrow ? ConvGemmKernels.NarrowPixels * Pixels : 8 * Pixels;
}

/// <summary>The tile of a weight-gradient product on a GPU-shaped device.</summary>
/// <param name="Narrow">WeightGradNarrow (M ≤ 4) instead of WeightGradWide.</param>
/// <param name="Rows">Wide: thread rows GM (8·GM channels per group); narrow: pixel lanes GK (a power of two).</param>
/// <param name="Columns">Thread columns (8 weight columns each).</param>
/// <param name="Slices">Parts of the pixel reduction summed by different groups, then combined in order.</param>
/// <param name="PixelsPerSlice">Pixels of each slice.</param>
internal readonly record struct WgradTile(bool Narrow, int Rows, int Columns, int Slices, int PixelsPerSlice)
{
    public int Threads => Rows * Columns;
}

/// <summary>
/// Tests force tiles through these, so that every variant and tile shape is checked against the reference whatever
/// the chooser picks for the test shapes. Null: choose per shape.
/// </summary>
internal static class ConvGpuOverrides
{
    /// <summary>Forward-family tile (applied where it fits: Narrow only for M ≤ 8, Wide thread counts within the device's).</summary>
    public static GemmTile? Gemm { get; set; }

    /// <summary>Weight-gradient tile shape; its Slices, when positive, forces the split of the reduction.</summary>
    public static WgradTile? Wgrad { get; set; }

    public static void Clear()
    {
        Gemm = null;
        Wgrad = null;
    }
}

/// <summary>
/// A convolution's passes on a GPU-shaped device, as implicit GEMM (Kernels/ConvGemmKernels.cs): which tile each
/// product uses (a cost model over the device's limits), the k tables (built once per input size and kept), and
/// the launches. The weight is read in its own layout by every pass, so nothing depends on its values: there is no
/// re-laid-out copy that an optimiser step or an upload could leave stale.
/// </summary>
internal sealed class ConvGpu : IDisposable
{
    /// <summary>Cost of staging one float of a tile, in multiply-adds (a first-principles guess: an L2 read is some
    /// tens of FMA slots, most are reused through L1). Weighs square tiles against tiles that waste rows.</summary>
    private const double StagingCost = 8.0;

    /// <summary>Threads per group at most (enough for latency hiding with 8 × 8 register tiles; more would cap the groups per
    /// multiprocessor by registers).</summary>
    private const int MaxGroupThreads = 256;

    /// <summary>Weight gradient: groups wanted per multiprocessor, and the fewest pixels a slice reduces.</summary>
    private const int GroupsPerMultiprocessor = 4;
    private const int MinSlicePixels = 64 * ConvGemmKernels.Depth;

    private readonly ComputeDevice _device;
    private readonly ConvPlan _plan;
    private readonly Dictionary<(int H, int W), Tables> _tables = new();
    private DeviceTensor? _partials;

    public ConvGpu(ComputeDevice device, ConvPlan plan)
    {
        _device = device;
        _plan = plan;
    }

    private int MaxThreads => Math.Max(1, Math.Min(MaxGroupThreads, _device.MaxGroupThreads));
    private int Warp => Math.Max(1, _device.WarpSize);

    /// <summary>y = conv(x) (+ bias).</summary>
    public void Forward(DeviceTensor y, DeviceTensor x, DeviceTensor weight, DeviceTensor? bias)
    {
        var s = x.Shape;
        var t = TablesFor(s.H, s.W);
        var o = y.Shape;
        int ci = _plan.InChannels, co = _plan.OutChannels;
        var g = new ConvGemmGeometry(co, ci * _plan.Taps, s.N, o.H, o.W,
            ci * s.H * s.W, s.H, s.W, _plan.Stride.H, _plan.Stride.W, -_plan.Padding.H, -_plan.Padding.W, ci * _plan.Taps,
            co * o.H * o.W, o.H * o.W, o.W, 1, 1, 0, 0, t.ForwardOffset, bias is null ? 0 : 1, 0);
        Launch(y, x, weight, bias ?? weight, t, g);
    }

    /// <summary>gx = the input gradient for gy: one product per phase of the stride (every input pixel is written by
    /// exactly one phase; a phase with no taps writes zeros).</summary>
    public void InputGradient(DeviceTensor gx, DeviceTensor gy, DeviceTensor weight)
    {
        var s = gx.Shape;
        var o = gy.Shape;
        var t = TablesFor(s.H, s.W);
        int ci = _plan.InChannels, co = _plan.OutChannels;
        foreach (var ph in t.Phases)
        {
            if (ph.Rows == 0 || ph.Columns == 0)
                continue;
            var g = new ConvGemmGeometry(ci, ph.K, s.N, ph.Rows, ph.Columns,
                co * o.H * o.W, o.H, o.W, 1, 1, ph.FirstRow, ph.FirstColumn, _plan.Taps,
                ci * s.H * s.W, s.H * s.W, s.W, _plan.Stride.H, _plan.Stride.W, ph.OutRow, ph.OutColumn, ph.Offset, 0, 0);
            Launch(gx, gy, weight, weight, t, g);
        }
    }

    /// <summary>gw += the weight gradient for gy and the forward's input x (through per-slice sums in a tensor of this
    /// object when the reduction is split).</summary>
    public void WeightGradient(DeviceTensor gw, DeviceTensor gy, DeviceTensor x)
    {
        var s = x.Shape;
        var o = gy.Shape;
        int pixels = o.N * o.H * o.W;
        if (pixels == 0)
            return;
        var t = TablesFor(s.H, s.W);
        int co = _plan.OutChannels, columns = _plan.InChannels * _plan.Taps;
        var tile = ChooseWgrad(co, columns, pixels);
        bool split = tile.Slices > 1;
        var g = new ConvWgradGeometry(co, columns, o.N, o.H, o.W, _plan.InChannels * s.H * s.W, s.H, s.W,
            _plan.Stride.H, _plan.Stride.W, _plan.Padding.H, _plan.Padding.W, t.ForwardOffset, tile.PixelsPerSlice, split ? 1 : 0, gw.Length);
        var k = _device.Kernels<Conv2dKernelSet>();
        DeviceTensor? partials = null;
        if (split)
        {
            var shape = Shape.Of(tile.Slices * gw.Length);
            _partials ??= _device.Allocate(shape);
            if (!_partials.Shape.Equals(shape))
                _partials.Resize(shape);
            partials = _partials;
        }
        var target = partials ?? gw;
        _device.Work(2.0 * co * columns * pixels);
        if (tile.Narrow)
        {
            int colTiles = (columns + 8 * tile.Columns - 1) / (8 * tile.Columns);
            var config = new KernelConfig(new Index2D(colTiles, tile.Slices), new Index2D(tile.Rows, tile.Columns));
            var kernel = co switch
            {
                1 => k.WeightGradNarrow1,
                2 => k.WeightGradNarrow2,
                3 => k.WeightGradNarrow3,
                _ => k.WeightGradNarrow4,
            };
            kernel!(config, target.View, gy.View, x.View, t.View, g);
        }
        else
        {
            int rowTiles = (co + 8 * tile.Rows - 1) / (8 * tile.Rows);
            int colTiles = (columns + 8 * tile.Columns - 1) / (8 * tile.Columns);
            var config = new KernelConfig(new Index3D(colTiles, rowTiles, tile.Slices), new Index3D(tile.Columns, tile.Rows, 1));
            k.WeightGradWide!(config, target.View, gy.View, x.View, t.View, g);
        }
        if (partials is not null)
        {
            var layout = _device.Layout(gw.Length);
            k.WeightGradCombine(layout.Threads, gw.View, partials.View, tile.Slices, layout);
        }
    }

    private void Launch(DeviceTensor output, DeviceTensor source, DeviceTensor weight, DeviceTensor bias, Tables t, ConvGemmGeometry g)
    {
        if (g.Pixels == 0 || g.M == 0)
            return;
        var k = _device.Kernels<Conv2dKernelSet>();
        var tile = ChooseGemm(g.M, g.Pixels);
        int pixelTiles = (g.Pixels + tile.PixelsPerGroup - 1) / tile.PixelsPerGroup;
        if (tile.Narrow)
        {
            // Up to 4 rows a launch: rows r0.. are rows 0.. of views that start at row r0 of the output, the weight and the
            // bias (the kernel addresses each linearly in the row).
            for (int r0 = 0; r0 < g.M; r0 += 4)
            {
                int rows = Math.Min(4, g.M - r0);
                var kernel = rows switch
                {
                    1 => k.GemmNarrow1,
                    2 => k.GemmNarrow2,
                    3 => k.GemmNarrow3,
                    _ => k.GemmNarrow4,
                };
                // The least traffic of this launch: the whole source, its rows of the output and of the weight, the table.
                _device.Work(2.0 * rows * g.K * g.Pixels, 4L * (source.Length + (long)rows * g.Pixels + (long)rows * g.K + t.View.Length));
                kernel!(new KernelConfig(pixelTiles, tile.Pixels), From(output.View, (long)r0 * g.OutChannel), source.View,
                    From(weight.View, (long)r0 * g.WeightStride), g.HasBias != 0 ? From(bias.View, r0) : bias.View, t.View, g);
            }
        }
        else
        {
            _device.Work(2.0 * g.M * g.K * g.Pixels);
            var wide = new ConvGemmGeometry(g, System.Numerics.BitOperations.Log2((uint)tile.PixelsPerGroup));
            int rowTiles = (g.M + tile.RowsPerGroup - 1) / tile.RowsPerGroup;
            k.GemmWide!(new KernelConfig(new Index2D(pixelTiles, rowTiles), new Index2D(tile.Pixels, tile.Rows)),
                output.View, source.View, weight.View, bias.View, t.View, wide);
        }
    }

    private static ArrayView<float> From(ArrayView<float> view, long offset) => offset == 0 ? view : view.SubView(offset, view.Length - offset);

    /// <summary>Rows up to which the forward family runs GemmNarrow, in launches of up to 4 rows: GemmWide's groups for so
    /// few rows are at most 32 threads (8 rows × 256 pixels) that each reserve its 16.5 KB of shared memory, 3 warps per
    /// multiprocessor on a T4 (the performance model: the attention layer's 8-row input gradient 3.9 → 0.8 ms a step on a
    /// T4), while GemmNarrow's groups are 256 threads with 1.8 KB.</summary>
    public const int NarrowMaxRows = 8;

    /// <summary>The forward-family tile for M rows over <paramref name="pixels"/> pixels on this device.</summary>
    public GemmTile ChooseGemm(int m, int pixels)
    {
        if (ConvGpuOverrides.Gemm is { } forced && forced.Threads <= MaxThreads && forced.Pixels >= 1
            && (forced.Narrow
                ? m <= NarrowMaxRows
                : forced.Rows is >= 1 and <= ConvGemmKernels.WideMaxRows / 8 && forced.Pixels is >= 2 and <= ConvGemmKernels.WideMaxPixels / 8
                  && (forced.Pixels & (forced.Pixels - 1)) == 0))
            return forced;
        return ChooseGemm(m, pixels, MaxThreads, Warp);
    }

    /// <summary>The cost model (public for tests): GemmNarrow for M ≤ <see cref="NarrowMaxRows"/>; otherwise the GemmWide shape with the least
    /// padded work (rows and pixels rounded up to whole tiles) times the share of idle lanes in partly filled warps, plus
    /// the staging of both tiles per k (<see cref="StagingCost"/>); ties go to more threads.</summary>
    public static GemmTile ChooseGemm(int m, int pixels, int maxThreads, int warp)
    {
        if (m <= NarrowMaxRows)
        {
            int wanted = (int)Math.Min(maxThreads, RoundUp((pixels + ConvGemmKernels.NarrowPixels - 1) / ConvGemmKernels.NarrowPixels, warp));
            int threads = Math.Max(1, wanted >= warp ? wanted / warp * warp : wanted);
            return new GemmTile(true, 1, threads);
        }
        GemmTile best = default;
        double bestCost = double.PositiveInfinity;
        for (int gm = 1; gm <= ConvGemmKernels.WideMaxRows / 8; gm++)
        {
            for (int gp = 2; gp <= ConvGemmKernels.WideMaxPixels / 8; gp *= 2)
            {
                int threads = gm * gp;
                if (threads > maxThreads)
                    continue;
                int bm = 8 * gm, bp = 8 * gp;
                double work = (double)RoundUp(m, bm) * RoundUp(pixels, bp);
                double lanes = (double)RoundUp(threads, warp) / threads;
                double cost = work * (lanes + StagingCost * (1.0 / bm + 1.0 / bp));
                if (cost < bestCost * (1 - 1e-9) || (cost <= bestCost * (1 + 1e-9) && threads > best.Threads))
                {
                    best = new GemmTile(false, gm, gp);
                    bestCost = Math.Min(cost, bestCost);
                }
            }
        }
        return best.Rows > 0 ? best : new GemmTile(false, 1, 2);
    }

    /// <summary>The weight-gradient tile for M channels × <paramref name="columns"/> weight columns on this device.</summary>
    public WgradTile ChooseWgrad(int m, int columns, int pixels)
    {
        var tile = ChooseWgrad(m, columns, pixels, MaxThreads, Warp, _device.Multiprocessors);
        if (ConvGpuOverrides.Wgrad is { } forced)
        {
            bool shapeFits = forced.Rows >= 1 && forced.Columns >= 1 && forced.Threads <= MaxThreads && forced.Narrow == (m <= 4)
                && (forced.Narrow
                    ? forced.Rows >= 2 && (forced.Rows & (forced.Rows - 1)) == 0 && forced.Columns <= ConvGemmKernels.NarrowWgradMaxGroups
                    : forced.Threads % ConvGemmKernels.Depth == 0 && forced.Rows <= ConvGemmKernels.WgradMaxRows / 8
                      && forced.Columns is >= 2 and <= ConvGemmKernels.WgradMaxColumns / 8);
            if (shapeFits)
                tile = Slice(tile with { Rows = forced.Rows, Columns = forced.Columns }, m, columns, pixels, _device.Multiprocessors);
            if (forced.Slices > 0)
            {
                int per = RoundUp((pixels + forced.Slices - 1) / forced.Slices, ConvGemmKernels.Depth);
                tile = tile with { Slices = (pixels + per - 1) / per, PixelsPerSlice = per };
            }
        }
        return tile;
    }

    /// <summary>The weight-gradient cost model (public for tests): WeightGradNarrow for M ≤ 4 (column groups spread so
    /// that the last column tile is not mostly empty, as many pixel lanes as fit); otherwise the WeightGradWide shape with
    /// the least padded work, as <see cref="ChooseGemm(int, int, int, int)"/>, among thread counts that are multiples of
    /// 8. Then the pixels are split into slices until there are about <see cref="GroupsPerMultiprocessor"/> groups per
    /// multiprocessor, each slice keeping at least <see cref="MinSlicePixels"/> pixels.</summary>
    public static WgradTile ChooseWgrad(int m, int columns, int pixels, int maxThreads, int warp, int multiprocessors)
    {
        WgradTile tile;
        if (m <= 4)
        {
            int groups = (columns + 7) / 8;
            int maxGroups = Math.Max(1, Math.Min(Math.Min(maxThreads / Math.Max(1, Math.Min(warp, maxThreads)), maxThreads / 2), ConvGemmKernels.NarrowWgradMaxGroups));
            int colTiles = (groups + maxGroups - 1) / maxGroups;
            int perTile = (groups + colTiles - 1) / colTiles;
            int lanes = 2;
            while (2 * lanes * perTile <= Math.Min(maxThreads, ConvGemmKernels.NarrowWgradMaxThreads))
                lanes *= 2;
            tile = new WgradTile(true, lanes, perTile, 1, pixels);
        }
        else
        {
            tile = default;
            double bestCost = double.PositiveInfinity;
            for (int gm = 1; gm <= ConvGemmKernels.WgradMaxRows / 8; gm++)
            {
                for (int gn = 2; gn <= ConvGemmKernels.WgradMaxColumns / 8; gn++)
                {
                    int threads = gm * gn;
                    if (threads > maxThreads || threads % ConvGemmKernels.Depth != 0)
                        continue;
                    int bm = 8 * gm, bn = 8 * gn;
                    double work = (double)RoundUp(m, bm) * RoundUp(columns, bn);
                    double lanes = (double)RoundUp(threads, warp) / threads;
                    double cost = work * (lanes + StagingCost * (1.0 / bm + 1.0 / bn));
                    if (cost < bestCost * (1 - 1e-9) || (cost <= bestCost * (1 + 1e-9) && threads > tile.Threads))
                    {
                        tile = new WgradTile(false, gm, gn, 1, pixels);
                        bestCost = Math.Min(cost, bestCost);
                    }
                }
            }
            if (tile.Rows == 0)
                throw new InvalidOperationException($"The device allows {maxThreads} threads per group; the weight-gradient kernel needs at least {ConvGemmKernels.Depth}.");
        }
        return Slice(tile, m, columns, pixels, multiprocessors);
    }

    private static WgradTile Slice(WgradTile tile, int m, int columns, int pixels, int multiprocessors)
    {
        int tiles = tile.Narrow
            ? (columns + 8 * tile.Columns - 1) / (8 * tile.Columns)
            : (m + 8 * tile.Rows - 1) / (8 * tile.Rows) * ((columns + 8 * tile.Columns - 1) / (8 * tile.Columns));
        int wanted = (GroupsPerMultiprocessor * Math.Max(1, multiprocessors) + tiles - 1) / tiles;
        int minPixels = tile.Narrow ? Math.Max(MinSlicePixels, 16 * tile.Rows) : MinSlicePixels;
        int slices = Math.Clamp(wanted, 1, Math.Max(1, pixels / minPixels));
        int per = RoundUp((pixels + slices - 1) / slices, ConvGemmKernels.Depth);
        return tile with { Slices = Math.Max(1, (pixels + per - 1) / per), PixelsPerSlice = per };
    }

    private static int RoundUp(int value, int step) => (value + step - 1) / step * step;

    private Tables TablesFor(int h, int w)
    {
        if (!_tables.TryGetValue((h, w), out var t))
        {
            t = Tables.Build(_device, _plan, h, w);
            _tables[(h, w)] = t;
        }
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _tables.Values)
            t.Dispose();
        _tables.Clear();
        _partials?.Dispose();
        _partials = null;
    }

    /// <summary>One phase (ry, rx) of the input gradient: its taps, the input pixels it writes, and where it starts.</summary>
    internal sealed record Phase(int K, int Rows, int Columns, int FirstRow, int FirstColumn, int OutRow, int OutColumn, int Offset);

    /// <summary>The k tables of one input size on the device: the forward's (also the weight gradient's columns), then every
    /// phase of the input gradient, each padded with sentinels to a multiple of Depth entries.</summary>
    internal sealed class Tables : IDisposable
    {
        private readonly MemoryBuffer1D<int, Stride1D.Dense> _buffer;
        private readonly ComputeDevice _device;

        private Tables(ComputeDevice device, int[] data, IReadOnlyList<Phase> phases)
        {
            _device = device;
            _buffer = device.Accelerator.Allocate1D(data);
            device.TrackAllocation(_buffer.LengthInBytes);
            Phases = phases;
            Entries = data;
        }

        public int ForwardOffset => 0;
        public IReadOnlyList<Phase> Phases { get; }
        public ArrayView<int> View => _buffer.View;

        /// <summary>The table as uploaded (for tests).</summary>
        public int[] Entries { get; }

        public static Tables Build(ComputeDevice device, ConvPlan plan, int h, int w) => new(device, Data(plan, h, w, out var phases), phases);

        /// <summary>The table data and the phases for an input of h × w (see Kernels/ConvGemmKernels.cs).</summary>
        public static int[] Data(ConvPlan plan, int h, int w, out List<Phase> phases)
        {
            int ci = plan.InChannels, co = plan.OutChannels, kh = plan.Kernel.H, kw = plan.Kernel.W, taps = plan.Taps;
            int sy = plan.Stride.H, sx = plan.Stride.W, py = plan.Padding.H, px = plan.Padding.W;
            int ho = (h + 2 * py - kh) / sy + 1, wo = (w + 2 * px - kw) / sx + 1;
            var data = new List<int>();
            for (int c = 0; c < ci; c++)
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++)
                        data.AddRange([c * h * w + ky * w + kx, ky, kx, (c * kh + ky) * kw + kx]);
            Pad(data);
            phases = new List<Phase>();
            for (int ry = 0; ry < sy; ry++)
            {
                for (int rx = 0; rx < sx; rx++)
                {
                    int offset = data.Count;
                    int tapsY = ry < kh ? (kh - ry + sy - 1) / sy : 0;
                    int tapsX = rx < kw ? (kw - rx + sx - 1) / sx : 0;
                    for (int c = 0; c < co; c++)
                        for (int a = 0; a < tapsY; a++)
                            for (int b = 0; b < tapsX; b++)
                                data.AddRange([c * ho * wo - a * wo - b, -a, -b, c * ci * taps + (ry + sy * a) * kw + rx + sx * b]);
                    Pad(data);
                    // Input rows y = j·sy + ry − py inside [0, h): j from jlo, in phase coordinates j − jlo.
                    var (firstY, rows) = Span(h, sy, ry, py);
                    var (firstX, columns) = Span(w, sx, rx, px);
                    phases.Add(new Phase(co * tapsY * tapsX, rows, columns, firstY, firstX, firstY * sy + ry - py, firstX * sx + rx - px, offset));
                }
            }
            return data.ToArray();
        }

        /// <summary>The first j ≥ 0 with j·s + r − p ≥ 0 and the count of j with j·s + r − p &lt; size.</summary>
        private static (int First, int Count) Span(int size, int s, int r, int p)
        {
            int first = p - r > 0 ? (p - r + s - 1) / s : 0;
            int last = size - 1 + p - r >= 0 ? (size - 1 + p - r) / s : -1;
            return (first, Math.Max(0, last - first + 1));
        }

        private static void Pad(List<int> data)
        {
            while (data.Count / 4 % ConvGemmKernels.Depth != 0)
                data.AddRange([0, ConvGemmKernels.Outside, ConvGemmKernels.Outside, 0]);
        }

        public void Dispose()
        {
            _device.TrackAllocation(-_buffer.LengthInBytes);
            _buffer.Dispose();
        }
    }
}
