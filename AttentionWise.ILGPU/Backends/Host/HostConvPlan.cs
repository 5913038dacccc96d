using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>The register tiles of the forward kernels (also used for stride-1 input gradients).</summary>
internal enum HostForwardTile
{
    /// <summary>2 channels × 4 columns, column stride 1.</summary>
    S1C2P4,

    /// <summary>2 channels × 4 columns, column stride 1, 3-column kernels.</summary>
    S1C2P4K3,

    /// <summary>1 channel × 6 columns, column stride 1 (few output channels).</summary>
    S1C1P6,

    /// <summary>1 channel × 8 columns, column stride 1, 3-column kernels (few output channels).</summary>
    S1C1P8K3,

    /// <summary>4 channels × 2 columns, any stride.</summary>
    C4P2,

    /// <summary>4 channels × 3 columns, any stride.</summary>
    C4P3,
}

/// <summary>The register tiles of the weight-gradient kernels.</summary>
internal enum HostWeightTile
{
    /// <summary>3 output channels × 3 taps, column stride 1, KW divisible by 3.</summary>
    S1C3K3,

    /// <summary>1 output channel × 2 input channels × 3 taps, column stride 1, KW divisible by 3.</summary>
    S1C1I2K3,

    /// <summary>4 output channels × 2 taps, any stride.</summary>
    C4K2,
}

/// <summary>
/// Host-side geometry of one convolution: which register tile each pass uses (chosen per shape), the
/// padded buffers, and the launches. The tiles are chosen so that few output channels do not waste work
/// (a 4-channel tile on a 1-channel convolution would compute 3 channels for nothing).
/// </summary>
internal sealed class HostConvPlan
{
    /// <summary>Bytes of input and output gradient per weight-gradient launch: a group of images that stays in cache.</summary>
    private const long WeightGradGroupBytes = 2L << 20;

    /// <summary>Multiply-adds a forward-family thread should at least do.</summary>
    private const long MinThreadWork = 2048;

    /// <summary>Below this many weight tiles, the weight gradient also splits the batch (partial sums per slice).</summary>
    private const int MinWeightTiles = 512;

    public HostConvPlan(ConvolutionGeometry geometry, ConvolutionOptions options)
    {
        Geometry = geometry;
        ForwardTileOption = options.ForwardTile;
        WeightTileOption = options.WeightTile;
    }

    public ConvolutionGeometry Geometry { get; }
    public int InChannels => Geometry.InChannels;
    public int OutChannels => Geometry.OutChannels;
    public (int H, int W) Kernel => Geometry.Kernel;
    public (int H, int W) Stride => Geometry.Stride;
    public (int H, int W) Padding => Geometry.Padding;
    public int Taps => Geometry.Taps;

    /// <summary>The forward tile asked for (<see cref="ConvolutionOptions.ForwardTile"/>), used where it applies (null: choose per shape).</summary>
    public HostForwardTile? ForwardTileOption { get; }

    /// <summary>The weight-gradient tile asked for (<see cref="ConvolutionOptions.WeightTile"/>), used where it applies (null: choose per shape).</summary>
    public HostWeightTile? WeightTileOption { get; }

    /// <summary>A valid-convolution pass over a padded buffer: its geometry and tile, the padded input shape and how to pad.</summary>
    public sealed record Pass(HostConvGeometry Geometry, HostForwardTile Tile, int BlockSize, Shape PaddedShape, HostPadGeometry Pad, bool NeedsPad)
    {
        public Shape BlockedShape => Shape.Of(Geometry.Blocks * Geometry.InChannels * Geometry.KernelH * Geometry.KernelW * BlockSize);
    }

    /// <summary>A weight-gradient plan: tile, tiles per launch, and how the batch is split.</summary>
    public sealed record WeightPlan(HostConvGeometry Geometry, HostWeightTile Tile, int Tiles, int Batch, bool Partial, int Slices, int ImagesPerSlice);

    private HostForwardTile ChooseForward(int outChannels, int outW, int strideX)
    {
        if (ForwardTileOption is { } forced && (forced is HostForwardTile.C4P2 or HostForwardTile.C4P3
            || (strideX == 1 && (forced is not (HostForwardTile.S1C1P8K3 or HostForwardTile.S1C2P4K3) || Kernel.W == 3))))
            return forced;
        if (strideX != 1)
        {
            // Cost model (measured µops per output column: 4×2 ≈ 19, 4×3 ≈ 16.3) times the columns computed,
            // including those a partial last tile computes for nothing.
            double c2 = 19.0 * ((outW + 1) / 2 * 2), c3 = 16.3 * ((outW + 2) / 3 * 3);
            return c3 < c2 ? HostForwardTile.C4P3 : HostForwardTile.C4P2;
        }
        if (outChannels >= 4)
            return Kernel.W == 3 ? HostForwardTile.S1C2P4K3 : HostForwardTile.S1C2P4;
        return Kernel.W == 3 ? HostForwardTile.S1C1P8K3 : HostForwardTile.S1C1P6;
    }

    private static (int Block, int Columns) TileSize(HostForwardTile tile) => tile switch
    {
        HostForwardTile.S1C2P4 => (2, 4),
        HostForwardTile.S1C2P4K3 => (2, 4),
        HostForwardTile.S1C1P6 => (1, 6),
        HostForwardTile.S1C1P8K3 => (1, 8),
        HostForwardTile.C4P2 => (4, 2),
        _ => (4, 3),
    };

    /// <summary>A valid convolution with <paramref name="outChannels"/> outputs over a source of srcH×srcW placed at
    /// (offY, offX) in a zero-bordered buffer that the kernel reads.</summary>
    private Pass MakePass(int batch, int inChannels, int outChannels, int srcH, int srcW, int outH, int outW,
        (int H, int W) stride, int offY, int offX, int minH, int minW)
    {
        var tile = ChooseForward(outChannels, outW, stride.W);
        var (block, cols) = TileSize(tile);
        int tilesX = (outW + cols - 1) / cols;
        int hp = minH;
        // Sliding-row tiles (stride 1) read up to the last tile's end; the strided tiles clamp their columns.
        int wp = tile is HostForwardTile.C4P2 or HostForwardTile.C4P3 ? minW : Math.Max(minW, (tilesX * cols - 1) * stride.W + Kernel.W);
        // Rows per thread: enough multiply-adds per thread (≥ MinThreadWork) to amortise the cost of a thread.
        long perRow = (long)block * cols * inChannels * Kernel.H * Kernel.W;
        int rows = (int)Math.Clamp((MinThreadWork + perRow - 1) / perRow, 1, Math.Max(1, outH));
        var g = new HostConvGeometry(batch, inChannels, outChannels, hp, wp, outH, outW, Kernel.H, Kernel.W, stride.H, stride.W,
            tilesX, (outChannels + block - 1) / block, rows);
        var pad = new HostPadGeometry(batch * inChannels, srcH, srcW, hp, wp, offY, offX);
        bool needsPad = offY != 0 || offX != 0 || hp != srcH || wp != srcW;
        return new Pass(g, tile, block, Shape.Of(batch, inChannels, hp, wp), pad, needsPad);
    }

    public Pass Forward(Shape input)
    {
        var output = Geometry.OutputShape(input, "Conv2d input");
        return MakePass(input.N, InChannels, OutChannels, input.H, input.W, output.H, output.W, Stride, Padding.H, Padding.W,
            input.H + 2 * Padding.H, input.W + 2 * Padding.W);
    }

    /// <summary>The stride-1 input gradient as a forward pass over the gradient padded by K − 1 − P.</summary>
    public Pass BackwardInput(Shape input, Shape output) =>
        MakePass(input.N, OutChannels, InChannels, output.H, output.W, input.H, input.W, (1, 1),
            Kernel.H - 1 - Padding.H, Kernel.W - 1 - Padding.W, input.H + Kernel.H - 1, input.W + Kernel.W - 1);

    public WeightPlan WeightGradient(Pass forward)
    {
        var g = forward.Geometry;
        HostWeightTile tile;
        if (WeightTileOption is { } forced && (forced == HostWeightTile.C4K2 || (g.StrideX == 1 && g.KernelW % 3 == 0)))
            tile = forced;
        else if (g.StrideX == 1 && g.KernelW % 3 == 0)
            tile = g.OutChannels >= 3 ? HostWeightTile.S1C3K3 : HostWeightTile.S1C1I2K3;
        else
            tile = HostWeightTile.C4K2;
        int tiles = tile switch
        {
            HostWeightTile.S1C3K3 => (g.OutChannels + 2) / 3 * g.InChannels * g.KernelH * (g.KernelW / 3),
            HostWeightTile.S1C1I2K3 => g.OutChannels * ((g.InChannels + 1) / 2) * g.KernelH * (g.KernelW / 3),
            _ => (g.OutChannels + 3) / 4 * g.InChannels * g.KernelH * ((g.KernelW + 1) / 2),
        };
        int batch = g.Batch;
        if (tiles >= MinWeightTiles || batch <= 1)
        {
            long bytesPerImage = 4L * (g.InChannels * (long)g.InH * g.InW + g.OutChannels * (long)g.OutH * g.OutW);
            int group = (int)Math.Clamp(WeightGradGroupBytes / Math.Max(1, bytesPerImage), 1, Math.Max(1, batch));
            return new WeightPlan(g, tile, tiles, batch, false, 1, group);
        }
        // Few weights: split the batch into slices reduced in parallel, then fold the partial sums in order.
        int slices = Math.Clamp((4 * MinWeightTiles + tiles - 1) / tiles, 1, batch);
        int perSlice = (batch + slices - 1) / slices;
        slices = (batch + perSlice - 1) / perSlice;
        return new WeightPlan(g, tile, tiles, batch, true, slices, perSlice);
    }

    public HostPhaseGeometry Phased(Shape input, Shape output)
    {
        int sy = Stride.H, sx = Stride.W;
        int offY = (Kernel.H - 1) / sy, offX = (Kernel.W - 1) / sx;
        int tilesQ = 1, maxQlo = 0;
        for (int r = 0; r < sx; r++)
        {
            int a = Padding.W - r;
            int qlo = a > 0 ? (a + sx - 1) / sx : 0;
            int qhi = (input.W - 1 + Padding.W - r) >= 0 ? (input.W - 1 + Padding.W - r) / sx : -1;
            int count = qhi - qlo + 1;
            tilesQ = Math.Max(tilesQ, (count + 1) / 2);
            maxQlo = Math.Max(maxQlo, qlo);
        }
        int hg = Math.Max(output.H, (input.H - 1 + Padding.H) / sy + 1) + offY;
        int wg = Math.Max(output.W, maxQlo + 2 * tilesQ) + offX;
        return new HostPhaseGeometry(InChannels, OutChannels, input.H, input.W, Kernel.H, Kernel.W, sy, sx, Padding.H, Padding.W,
            hg, wg, offY, offX, tilesQ);
    }

    public static void LaunchPad(HostConvKernelSet k, DeviceTensor dst, DeviceTensor src, HostPadGeometry pad)
    {
        int rows = pad.Planes * pad.DstH;
        if (rows > 0)
            k.Pad(rows, dst.View, src.View, pad);
    }

    /// <summary>Re-lays the weight out for a pass (mode 0 forward, 1 transposed and flipped for the input gradient).</summary>
    public static void LaunchBlockWeights(HostConvKernelSet k, DeviceTensor wb, DeviceTensor w, Pass pass, int mode)
    {
        var g = pass.Geometry;
        k.BlockWeights(new Index2D(g.InChannels, g.Blocks), wb.View, w.View, g.OutChannels, g.InChannels, g.KernelH * g.KernelW, pass.BlockSize, mode);
    }

    public static void LaunchForward(HostConvKernelSet k, DeviceTensor y, DeviceTensor xp, DeviceTensor wb, DeviceTensor bias, Pass pass, bool hasBias)
    {
        var g = pass.Geometry;
        if (g.Batch == 0)
            return;
        var kernel = pass.Tile switch
        {
            HostForwardTile.S1C2P4 => k.ForwardS1C2P4,
            HostForwardTile.S1C2P4K3 => k.ForwardS1C2P4K3,
            HostForwardTile.S1C1P6 => k.ForwardS1C1P6,
            HostForwardTile.S1C1P8K3 => k.ForwardS1C1P8K3,
            HostForwardTile.C4P2 => k.ForwardC4P2,
            _ => k.ForwardC4P3,
        };
        kernel(new Index3D(g.ThreadsX, g.Blocks, g.Batch), y.View, xp.View, wb.View, bias.View, g, hasBias ? 1 : 0);
    }

    public static void LaunchWeightGrad(HostConvKernelSet k, WeightPlan plan, DeviceTensor target, DeviceTensor gy, DeviceTensor xp, HostWeightGradRange range)
    {
        var kernel = plan.Tile switch
        {
            HostWeightTile.S1C3K3 => k.WeightGradS1C3K3,
            HostWeightTile.S1C1I2K3 => k.WeightGradS1C1I2K3,
            _ => k.WeightGradC4K2,
        };
        int slices = range.Partial != 0 ? plan.Slices : 1;
        kernel(new Index2D(plan.Tiles, slices), target.View, gy.View, xp.View, plan.Geometry, range);
    }
}
