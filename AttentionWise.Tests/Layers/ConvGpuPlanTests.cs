using AttentionWise.Backends;
using AttentionWise.Kernels;
using AttentionWise.Ops;

namespace AttentionWise.Tests.Layers;

/// <summary>The host side of the GPU convolution: the fast divisor, the k tables and the tile choice (no device needed).</summary>
public sealed class ConvGpuPlanTests
{
    [Fact]
    public void FastDivisionMatchesIntegerDivision()
    {
        var rng = new Random(7);
        int[] divisors = [1, 2, 3, 5, 7, 9, 28, 49, 196, 784, 1000, 4095, 65536, 65537, 1 << 20, 123_457, int.MaxValue / 3, int.MaxValue];
        foreach (int d in divisors)
        {
            var f = new FastDivisor(d);
            int[] edges = [0, 1, d - 1, d, d + 1, int.MaxValue, int.MaxValue - 1, int.MaxValue / d * d, int.MaxValue / d * d - 1];
            foreach (int n in edges.Where(v => v >= 0))
                Assert.True(n / d == f.Divide(n), $"{n} / {d}: got {f.Divide(n)}");
            for (int i = 0; i < 20_000; i++)
            {
                int n = i < 10_000 ? rng.Next(0, (int)Math.Min(int.MaxValue, 64L * d)) : rng.Next();
                Assert.True(n / d == f.Divide(n), $"{n} / {d}: got {f.Divide(n)}");
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new FastDivisor(0));
    }

    public static TheoryData<int, int, int, int, int, int, int, int, int, int> Geometries => new()
    {
        // Ci, Co, H, W, KH, KW, SY, SX, PY, PX
        { 100, 100, 28, 28, 3, 3, 1, 1, 1, 1 },
        { 100, 100, 28, 28, 2, 2, 2, 2, 0, 0 },
        { 4, 3, 6, 5, 3, 3, 2, 2, 1, 1 },
        { 3, 2, 6, 7, 3, 2, 2, 1, 2, 0 },
        { 5, 6, 5, 5, 1, 1, 2, 2, 0, 0 },
        { 2, 3, 4, 4, 2, 2, 1, 1, 2, 2 },
        { 2, 2, 7, 9, 3, 3, 3, 2, 1, 2 },
    };

    /// <summary>The input-gradient phases partition the input pixels, and together they list every (co, tap) of every input
    /// channel exactly once, each with the output-gradient position that the convolution pairs with it.</summary>
    [Theory]
    [MemberData(nameof(Geometries))]
    public void ThePhasesCoverEveryInputPixelAndEveryTapOnce(int ci, int co, int h, int w, int kh, int kw, int sy, int sx, int py, int px)
    {
        var geometry = new ConvolutionGeometry(ci, co, (kh, kw), (sy, sx), (py, px));
        var data = GpuConvTables.Data(geometry, h, w, out var phases);
        int ho = (h + 2 * py - kh) / sy + 1, wo = (w + 2 * px - kw) / sx + 1;
        int taps = kh * kw;
        Assert.Equal(sy * sx, phases.Count);
        Assert.Equal(0, data.Length / 4 % GpuGemmKernels.Depth);

        // Forward table: k = (c, ky, kx) in order.
        for (int k = 0; k < ci * taps; k++)
        {
            int c = k / taps, ky = k % taps / kw, kx = k % kw;
            Assert.Equal(new[] { c * h * w + ky * w + kx, ky, kx, k }, data[(4 * k)..(4 * k + 4)]);
        }
        // So the forward's kernels index the weight by k (GpuGemmGeometry.DirectWeight) instead of loading it from the table.
        Assert.True(GpuConvTables.WeightOffsetsAreK(data, 0, ci * taps));

        var covered = new int[h, w];
        foreach (var ph in phases)
        {
            var pairs = new HashSet<(int Co, int Tap)>();
            for (int k = 0; k < ph.K; k++)
            {
                int e = ph.Offset + 4 * k;
                int wc = data[e + 3] / (ci * taps), tap = data[e + 3] % taps;
                Assert.True(data[e + 3] % (ci * taps) < taps, "the weight offset points at input channel 0");
                Assert.True(pairs.Add((wc, tap)), $"tap ({wc}, {tap}) twice in a phase");
                int ky = tap / kw, kx = tap % kw;
                for (int j = 0; j < ph.Rows; j++)
                {
                    for (int i = 0; i < ph.Columns; i++)
                    {
                        int y = j * sy + ph.OutRow, x = i * sx + ph.OutColumn;
                        int gyRow = j + ph.FirstRow + data[e + 1], gyCol = i + ph.FirstColumn + data[e + 2];
                        // The convolution pairs input (y, x) and tap (ky, kx) with output ((y + py − ky) / sy, …).
                        Assert.Equal(0, (y + py - ky) % sy);
                        Assert.Equal(0, (x + px - kx) % sx);
                        Assert.Equal((y + py - ky) / sy, gyRow);
                        Assert.Equal((x + px - kx) / sx, gyCol);
                        Assert.Equal(wc * ho * wo + gyRow * wo + gyCol, data[e] + (j + ph.FirstRow) * wo + i + ph.FirstColumn);
                    }
                }
            }
            for (int j = 0; j < ph.Rows; j++)
                for (int i = 0; i < ph.Columns; i++)
                    covered[j * sy + ph.OutRow, i * sx + ph.OutColumn]++;
            // Every (co, tap) whose tap belongs to this phase is listed.
            int expected = Enumerable.Range(0, taps).Count(t => ph.Rows > 0 && ph.Columns > 0
                && ((t / kw) % sy == (ph.OutRow + py) % sy) && ((t % kw) % sx == (ph.OutColumn + px) % sx)) * co;
            if (ph.Rows > 0 && ph.Columns > 0)
                Assert.Equal(expected, ph.K);
        }
        foreach (int v in covered)
            Assert.Equal(1, v);
    }

    [Theory]
    [InlineData(256, 32)]
    [InlineData(1024, 32)]
    [InlineData(16, 4)]
    [InlineData(4096, 8)]
    public void TheForwardTileFitsTheDeviceAndWastesLittle(int maxThreads, int warp)
    {
        int limit = Math.Min(maxThreads, 256);
        foreach (int m in new[] { 1, 3, 4, 5, 8 })
        {
            var t = GpuConvPlan.ChooseGemm(m, 3_211_264, limit, warp);
            Assert.True(t.Narrow, $"M = {m}: the narrow kernel");
            Assert.InRange(t.Threads, 1, limit);
            Assert.Equal(0, t.Threads % Math.Min(warp, limit));
        }
        foreach (int m in new[] { 9, 24, 100, 200 })
        {
            var t = GpuConvPlan.ChooseGemm(m, 200_704, limit, warp);
            Assert.False(t.Narrow);
            Assert.InRange(t.Threads, 2, limit);
            Assert.True(t.Pixels >= 2, $"{t}: at least two thread columns");
            Assert.Equal(0, t.Pixels & (t.Pixels - 1));
            int rows = (m + t.RowsPerGroup - 1) / t.RowsPerGroup * t.RowsPerGroup;
            Assert.True(rows <= Math.Max((m + 7) / 8 * 8, 1.3 * m), $"M = {m}: {rows} rows computed with tile {t}");
        }
        // The control model's channel counts come out with few wasted rows on a GPU.
        if (warp == 32)
        {
            foreach (int m in new[] { 100, 200 })
            {
                var t = GpuConvPlan.ChooseGemm(m, 200_704, limit, warp);
                int rows = (m + t.RowsPerGroup - 1) / t.RowsPerGroup * t.RowsPerGroup;
                Assert.True(rows <= m * 1.05, $"M = {m}: {rows} rows with tile {t}");
                Assert.True(t.Threads >= 128, $"M = {m}: {t}");
            }
        }
    }

    [Theory]
    [InlineData(256, 32, 132)]
    [InlineData(16, 4, 1)]
    [InlineData(4096, 8, 4)]
    public void TheWeightGradientTileFitsAndSplitsLongReductions(int maxThreads, int warp, int multiprocessors)
    {
        int limit = Math.Min(maxThreads, 256);
        foreach (var (m, columns, pixels) in new[] { (1, 72, 3_211_264), (3, 216, 1_048_576), (100, 900, 200_704), (200, 1800, 50_176), (9, 54, 70) })
        {
            var t = GpuConvPlan.ChooseWgrad(m, columns, pixels, limit, warp, multiprocessors);
            Assert.Equal(m <= 4, t.Narrow);
            Assert.InRange(t.Threads, 1, limit);
            if (t.Narrow)
            {
                Assert.True(t.Rows >= 2, $"{t}: at least two pixel lanes");
                Assert.Equal(0, t.Rows & (t.Rows - 1));
                Assert.InRange(t.Columns, 1, GpuGemmKernels.NarrowWgradMaxGroups);
            }
            else
            {
                Assert.Equal(0, t.Threads % GpuGemmKernels.Depth);
                Assert.True(t.Columns >= 2, $"{t}: at least two thread columns");
            }
            Assert.InRange(t.Slices, 1, pixels);
            Assert.True((long)t.Slices * t.PixelsPerSlice >= pixels && (long)(t.Slices - 1) * t.PixelsPerSlice < pixels, $"{t} for {pixels} pixels");
            if (pixels > 1_000_000 && multiprocessors > 1)
                Assert.True(t.Slices > 1, $"{pixels} pixels in one slice on {multiprocessors} multiprocessors: {t}");
        }
    }

    /// <summary>Small weight-gradient groups get more slices, so that they fill half of a multiprocessor's resident
    /// threads: the attention layer's 8 → 1 convolution (72 weight columns, 4,096 images of 28 × 28) on an H200-sized
    /// device (132 multiprocessors, 2,048 threads each) gets at least 7 groups of its 160-thread tile per multiprocessor,
    /// where 4 groups a multiprocessor (the floor, and all that is asked without the resident-thread count) fill 31 %.</summary>
    [Fact]
    public void SmallWeightGradientGroupsFillHalfAMultiprocessor()
    {
        var floor = GpuConvPlan.ChooseWgrad(1, 72, 3_211_264, 256, 32, 132);
        var filled = GpuConvPlan.ChooseWgrad(1, 72, 3_211_264, 256, 32, 132, residentThreads: 2048);
        Assert.Equal((floor.Rows, floor.Columns), (filled.Rows, filled.Columns));
        int warps = (filled.Threads + 31) / 32;
        Assert.True(warps < 8, $"{filled}: the case needs groups of fewer than 8 warps");
        int tiles = (72 + 8 * filled.Columns - 1) / (8 * filled.Columns);
        Assert.InRange(floor.Slices * tiles, 4 * 132, 5 * 132);
        Assert.True(filled.Slices * tiles * warps * 32 >= 0.5 * 2048 * 132, $"{filled}: {filled.Slices * tiles} groups");
        // Groups of 256 threads or more keep the floor of 4 a multiprocessor.
        var wide = GpuConvPlan.ChooseWgrad(128, 1152, 50_176, 256, 32, 132);
        Assert.Equal(wide, GpuConvPlan.ChooseWgrad(128, 1152, 50_176, 256, 32, 132, residentThreads: 2048));
    }
}
