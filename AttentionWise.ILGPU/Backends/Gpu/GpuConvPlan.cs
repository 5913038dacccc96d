using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Backends;

/// <summary>The tile of a forward-family product (forward or a phase of the input gradient) on a GPU-shaped device.</summary>
/// <param name="Narrow">GemmNarrow (every thread owns all rows, up to 4 a launch; M ≤ 8) instead of GemmWide.</param>
/// <param name="Rows">GemmWide: thread rows GM (8·GM output rows per group).</param>
/// <param name="Pixels">GemmWide: thread columns GP, a power of two (8·GP pixels per group); GemmNarrow: threads T (4·T pixels).</param>
internal readonly record struct GemmTile(bool Narrow, int Rows, int Pixels)
{
    public int Threads => Narrow ? Pixels : Rows * Pixels;
    public int RowsPerGroup => Narrow ? 0 : 8 * Rows;
    public int PixelsPerGroup => Narrow ? GpuGemmKernels.NarrowPixels * Pixels : 8 * Pixels;
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
/// Which tile each product of a convolution uses on a GPU-shaped device: one cost model over the device's limits for
/// both product shapes (the forward family and the weight gradient), and the variants asked for in
/// <see cref="ConvolutionOptions"/> where they fit.
/// </summary>
internal sealed class GpuConvPlan
{
    /// <summary>Cost of staging one float of a tile, in multiply-adds (a first-principles guess: an L2 read is some
    /// tens of FMA slots, most are reused through L1). Weighs square tiles against tiles that waste rows.</summary>
    private const double StagingCost = 8.0;

    /// <summary>Threads per group at most (enough for latency hiding with 8 × 8 register tiles; more would cap the groups per
    /// multiprocessor by registers).</summary>
    private const int MaxGroupThreads = 256;

    /// <summary>Weight gradient: groups wanted per multiprocessor at least, and the fewest pixels a slice reduces.</summary>
    private const int GroupsPerMultiprocessor = 4;

    /// <summary>Weight gradient: the share of a multiprocessor's resident threads the slices should fill (latency is hidden
    /// from about half, as the performance model assumes), so that small groups get more of them: the attention layer's
    /// 160-thread groups fill 31 % of an H200 multiprocessor at 4 groups, 55 % at 7.</summary>
    private const double WantedResidentShare = 0.5;
    private const int MinSlicePixels = 64 * GpuGemmKernels.Depth;

    /// <summary>Rows up to which the forward family runs GemmNarrow, in launches of up to 4 rows: GemmWide's groups for so
    /// few rows are at most 32 threads (8 rows × 256 pixels) that each reserve its 16.5 KB of shared memory, 3 warps per
    /// multiprocessor on a T4 (the performance model: the attention layer's 8-row input gradient 3.9 → 0.8 ms a step on a
    /// T4), while GemmNarrow's groups are 256 threads with 1.8 KB.</summary>
    public const int NarrowMaxRows = 8;

    private readonly ConvolutionOptions _options;

    public GpuConvPlan(ComputeDevice device, ConvolutionOptions options)
    {
        _options = options;
        MaxThreads = Math.Max(1, Math.Min(MaxGroupThreads, device.MaxGroupThreads));
        Warp = Math.Max(1, device.WarpSize);
        Multiprocessors = device.Multiprocessors;
        ResidentThreads = Math.Max(1, device.MaxThreads / Math.Max(1, device.Multiprocessors));
    }

    private int MaxThreads { get; }
    private int ResidentThreads { get; }
    private int Warp { get; }
    private int Multiprocessors { get; }

    /// <summary>The forward-family tile for M rows over <paramref name="pixels"/> pixels on this device.</summary>
    public GemmTile ChooseGemm(int m, int pixels)
    {
        if (_options.Gemm is { } forced && forced.Threads <= MaxThreads && forced.Pixels >= 1
            && (forced.Narrow
                ? m <= NarrowMaxRows
                : forced.Rows is >= 1 and <= GpuGemmKernels.WideMaxRows / 8 && forced.Pixels is >= 2 and <= GpuGemmKernels.WideMaxPixels / 8
                  && (forced.Pixels & (forced.Pixels - 1)) == 0))
            return forced;
        return ChooseGemm(m, pixels, MaxThreads, Warp);
    }

    /// <summary>The forward-family cost model: GemmNarrow for M ≤ <see cref="NarrowMaxRows"/> (as many threads as the
    /// pixels fill, whole warps); otherwise the GemmWide shape <see cref="CheapestWide"/> finds among power-of-two thread
    /// columns.</summary>
    public static GemmTile ChooseGemm(int m, int pixels, int maxThreads, int warp)
    {
        if (m <= NarrowMaxRows)
        {
            int wanted = (int)Math.Min(maxThreads, RoundUp((pixels + GpuGemmKernels.NarrowPixels - 1) / GpuGemmKernels.NarrowPixels, warp));
            int threads = Math.Max(1, wanted >= warp ? wanted / warp * warp : wanted);
            return new GemmTile(true, 1, threads);
        }
        var (rows, columns) = CheapestWide(m, pixels, GpuGemmKernels.WideMaxRows / 8, GpuGemmKernels.WideMaxPixels / 8, powerOfTwoColumns: true,
            threadMultiple: 1, maxThreads, warp);
        return rows > 0 ? new GemmTile(false, rows, columns) : new GemmTile(false, 1, 2);
    }

    /// <summary>The weight-gradient tile for M channels × <paramref name="columns"/> weight columns on this device.</summary>
    public WgradTile ChooseWgrad(int m, int columns, int pixels)
    {
        var tile = ChooseWgrad(m, columns, pixels, MaxThreads, Warp, Multiprocessors, ResidentThreads);
        if (_options.Wgrad is { } forced)
        {
            bool shapeFits = forced.Rows >= 1 && forced.Columns >= 1 && forced.Threads <= MaxThreads && forced.Narrow == (m <= 4)
                && (forced.Narrow
                    ? forced.Rows >= 2 && (forced.Rows & (forced.Rows - 1)) == 0 && forced.Columns <= GpuGemmKernels.NarrowWgradMaxGroups
                    : forced.Threads % GpuGemmKernels.Depth == 0 && forced.Rows <= GpuGemmKernels.WgradMaxRows / 8
                      && forced.Columns is >= 2 and <= GpuGemmKernels.WgradMaxColumns / 8);
            if (shapeFits)
                tile = Slice(tile with { Rows = forced.Rows, Columns = forced.Columns }, m, columns, pixels, Multiprocessors, Warp, ResidentThreads);
            if (forced.Slices > 0)
            {
                int per = RoundUp((pixels + forced.Slices - 1) / forced.Slices, GpuGemmKernels.Depth);
                tile = tile with { Slices = (pixels + per - 1) / per, PixelsPerSlice = per };
            }
        }
        return tile;
    }

    /// <summary>The weight-gradient cost model: WeightGradNarrow for M ≤ 4 (column groups spread so that the last column
    /// tile is not mostly empty, as many pixel lanes as fit); otherwise the WeightGradWide shape
    /// <see cref="CheapestWide"/> finds among thread counts that are multiples of 8. Then the pixels are split into slices
    /// until there are about <see cref="GroupsPerMultiprocessor"/> groups per multiprocessor, or as many as fill
    /// <see cref="WantedResidentShare"/> of its <paramref name="residentThreads"/> (0: unknown) where the groups are
    /// small, each slice keeping at least <see cref="MinSlicePixels"/> pixels.</summary>
    public static WgradTile ChooseWgrad(int m, int columns, int pixels, int maxThreads, int warp, int multiprocessors, int residentThreads = 0)
    {
        WgradTile tile;
        if (m <= 4)
        {
            int groups = (columns + 7) / 8;
            int maxGroups = Math.Max(1, Math.Min(Math.Min(maxThreads / Math.Max(1, Math.Min(warp, maxThreads)), maxThreads / 2), GpuGemmKernels.NarrowWgradMaxGroups));
            int colTiles = (groups + maxGroups - 1) / maxGroups;
            int perTile = (groups + colTiles - 1) / colTiles;
            int lanes = 2;
            while (2 * lanes * perTile <= Math.Min(maxThreads, GpuGemmKernels.NarrowWgradMaxThreads))
                lanes *= 2;
            tile = new WgradTile(true, lanes, perTile, 1, pixels);
        }
        else
        {
            var (rows, cols) = CheapestWide(m, columns, GpuGemmKernels.WgradMaxRows / 8, GpuGemmKernels.WgradMaxColumns / 8, powerOfTwoColumns: false,
                threadMultiple: GpuGemmKernels.Depth, maxThreads, warp);
            if (rows == 0)
                throw new InvalidOperationException($"The device allows {maxThreads} threads per group; the weight-gradient kernel needs at least {GpuGemmKernels.Depth}.");
            tile = new WgradTile(false, rows, cols, 1, pixels);
        }
        return Slice(tile, m, columns, pixels, multiprocessors, warp, residentThreads);
    }

    /// <summary>
    /// The one cost model of the wide tiles (a group of GM × GN threads computing (8·GM) × (8·GN) outputs, 8 × 8 a
    /// thread): the shape with the least padded work (M and N rounded up to whole tiles) times the share of idle lanes in
    /// partly filled warps, plus the staging of both tiles per step of the reduction (<see cref="StagingCost"/>); ties go to
    /// more threads. GM runs over 1 … <paramref name="maxRows"/>, GN over 2 … <paramref name="maxColumns"/> (powers of two
    /// only where <paramref name="powerOfTwoColumns"/>); GM·GN at most <paramref name="maxThreads"/> and a multiple of
    /// <paramref name="threadMultiple"/>. (0, 0) when no shape is allowed.
    /// </summary>
    private static (int Rows, int Columns) CheapestWide(int m, int n, int maxRows, int maxColumns, bool powerOfTwoColumns, int threadMultiple,
        int maxThreads, int warp)
    {
        (int Rows, int Columns) best = (0, 0);
        int bestThreads = 0;
        double bestCost = double.PositiveInfinity;
        for (int gm = 1; gm <= maxRows; gm++)
        {
            for (int gn = 2; gn <= maxColumns; gn = powerOfTwoColumns ? 2 * gn : gn + 1)
            {
                int threads = gm * gn;
                if (threads > maxThreads || threads % threadMultiple != 0)
                    continue;
                int bm = 8 * gm, bn = 8 * gn;
                double work = (double)RoundUp(m, bm) * RoundUp(n, bn);
                double lanes = (double)RoundUp(threads, warp) / threads;
                double cost = work * (lanes + StagingCost * (1.0 / bm + 1.0 / bn));
                if (cost < bestCost * (1 - 1e-9) || (cost <= bestCost * (1 + 1e-9) && threads > bestThreads))
                {
                    best = (gm, gn);
                    bestThreads = threads;
                    bestCost = Math.Min(cost, bestCost);
                }
            }
        }
        return best;
    }

    private static WgradTile Slice(WgradTile tile, int m, int columns, int pixels, int multiprocessors, int warp, int residentThreads)
    {
        int tiles = tile.Narrow
            ? (columns + 8 * tile.Columns - 1) / (8 * tile.Columns)
            : (m + 8 * tile.Rows - 1) / (8 * tile.Rows) * ((columns + 8 * tile.Columns - 1) / (8 * tile.Columns));
        int groupThreads = RoundUp(Math.Max(1, tile.Threads), Math.Max(1, warp));
        int perMultiprocessor = Math.Max(GroupsPerMultiprocessor, (int)Math.Ceiling(WantedResidentShare * residentThreads / groupThreads));
        int wanted = (perMultiprocessor * Math.Max(1, multiprocessors) + tiles - 1) / tiles;
        int minPixels = tile.Narrow ? Math.Max(MinSlicePixels, 16 * tile.Rows) : MinSlicePixels;
        int slices = Math.Clamp(wanted, 1, Math.Max(1, pixels / minPixels));
        int per = RoundUp((pixels + slices - 1) / slices, GpuGemmKernels.Depth);
        return tile with { Slices = Math.Max(1, (pixels + per - 1) / per), PixelsPerSlice = per };
    }

    private static int RoundUp(int value, int step) => (value + step - 1) / step * step;
}
