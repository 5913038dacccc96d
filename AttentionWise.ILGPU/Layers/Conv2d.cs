using AttentionWise.Host;
using AttentionWise.Kernels;
using ILGPU;

namespace AttentionWise.Layers;

/// <summary>
/// 2-D convolution over NCHW input, as PyTorch's nn.Conv2d (cross-correlation, zero padding, no dilation
/// or groups). Parameters: "weight" [Co, Ci, kH, kW] (normal init) and optional "bias" [Co] (zeros).
/// Keeps a reference to its input (not a copy) for the backward pass, so the input must not change
/// between Forward and Backward. Zero-bordered copies live in one workspace per device shared by every
/// convolution (they are transient: the backward pass makes its own). On the cpu device with a BLAS, convolutions
/// with at least <see cref="HostMinOutChannels"/> output channels run as im2col and BLAS products
/// (<see cref="HostConv"/>); the others run the register-tiled kernels. GPU-shaped devices (cuda, opencl, cpu-sim) run
/// every pass as implicit GEMM in shared memory (<see cref="ConvGpu"/>, Kernels/ConvGemmKernels.cs), reading the weight
/// in its own layout.
/// </summary>
public sealed unsafe class Conv2d : Module
{
    /// <summary>Output channels from which the cpu device's BLAS path pays (measured: below, the products are too thin
    /// and the register-tiled kernels are faster).</summary>
    public const int HostMinOutChannels = 16;

    private readonly ConvPlan _plan;
    private DeviceTensor? _input;
    private DeviceTensor? _blocked;
    private DeviceTensor? _output;
    private DeviceTensor? _gradInput;
    private DeviceTensor? _workspace;
    private DeviceTensor? _partials;
    private ConvPlan.Pass? _pass;
    private Shape? _inputShape;
    private bool _host;
    private ConvGpu? _gpu;

    public Conv2d(ComputeDevice device, int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, bool bias = true)
        : this(device, inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding), bias)
    {
    }

    public Conv2d(ComputeDevice device, int inChannels, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding, bool bias)
        : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel.H, nameof(kernel));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kernel.W, nameof(kernel));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride.H, nameof(stride));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride.W, nameof(stride));
        ArgumentOutOfRangeException.ThrowIfNegative(padding.H, nameof(padding));
        ArgumentOutOfRangeException.ThrowIfNegative(padding.W, nameof(padding));
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        Weight = AddParameter("weight", Shape.Of(outChannels, inChannels, kernel.H, kernel.W), ParameterInit.Normal);
        Bias = bias ? AddParameter("bias", Shape.Of(outChannels), ParameterInit.Zeros) : null;
        _plan = new ConvPlan(inChannels, outChannels, kernel, stride, padding);
        if (device.GpuShaped)
            _gpu = new ConvGpu(device, _plan);
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }

    /// <summary>"weight" [Co, Ci, kH, kW].</summary>
    public Parameter Weight { get; }

    /// <summary>"bias" [Co], or null without bias.</summary>
    public Parameter? Bias { get; }

    public override Shape OutputShape(Shape input) => _plan.OutputShape(input, "Conv2d input");

    /// <summary>True when this convolution runs as host code (im2col and BLAS) on this device.</summary>
    public bool RunsOnHost => HostPasses.On(Device) && OutChannels >= HostMinOutChannels;

    /// <summary>True when this convolution runs as vectorised direct host code (<see cref="HostNarrowConv"/>) on this
    /// device: the cpu device with host passes, fewer than <see cref="HostMinOutChannels"/> output channels, stride 1
    /// and padding below the kernel size (the attention layers' K·C → C convolutions).</summary>
    public bool RunsNarrowOnHost => HostPasses.VectorOn(Device) && OutChannels < HostMinOutChannels && Stride == (1, 1)
        && HostNarrowConv.Supports(Kernel.H, Kernel.W, Padding.H, Padding.W);

    private HostNarrowConv? _narrow;
    private bool _narrowRan;

    private ConvShape HostShape(Shape input) =>
        new(input.N, InChannels, input.H, input.W, OutChannels, Kernel.H, Kernel.W, Stride.H, Stride.W, Padding.H, Padding.W);

    public override DeviceTensor Forward(DeviceTensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var outShape = OutputShape(input.Shape);
        var y = Scratch(ref _output, outShape);
        var fwd = _plan.Forward(input.Shape);
        _host = RunsOnHost;
        _narrowRan = !_host && RunsNarrowOnHost;
        if (_narrowRan)
        {
            _narrow ??= new HostNarrowConv(InChannels, OutChannels, Kernel.H, Kernel.W, Padding.H, Padding.W, HostPasses.Width(Device), HostLauncher.Shared);
            if (input.Shape.N > 0)
                _narrow.Forward(input.Shape.N, input.Shape.H, input.Shape.W, input.HostPointer, Weight.Value.HostPointer,
                    Bias is null ? null : Bias.Value.HostPointer, y.HostPointer);
            _pass = fwd;
            _input = input;
            _inputShape = input.Shape;
            return y;
        }
        if (_host)
        {
            HostConv.Forward(HostShape(input.Shape), input.HostPointer, Weight.Value.HostPointer, Bias is null ? null : Bias.Value.HostPointer, y.HostPointer);
            _pass = fwd;
            _input = input;
            _inputShape = input.Shape;
            return y;
        }
        if (_gpu is not null)
        {
            if (input.Shape.N > 0)
                _gpu.Forward(y, input, Weight.Value, Bias?.Value);
            _pass = fwd;
            _input = input;
            _inputShape = input.Shape;
            return y;
        }
        var k = Device.Kernels<Conv2dKernelSet>();

        var xp = PaddedInput(input, fwd);
        var wb = Scratch(ref _blocked, fwd.BlockedShape);
        ConvPlan.LaunchBlockWeights(k, wb, Weight.Value, fwd, mode: 0);
        ConvPlan.LaunchForward(k, y, xp, wb, Bias?.Value ?? wb, fwd, Bias is not null);
        _pass = fwd;
        _input = input;
        _inputShape = input.Shape;
        return y;
    }

    /// <summary>The input as the kernels read it: itself when it needs no border, else a zero-bordered copy in the
    /// shared workspace (valid until the next convolution call on this device).</summary>
    private DeviceTensor PaddedInput(DeviceTensor input, ConvPlan.Pass pass)
    {
        if (!pass.NeedsPad)
            return input;
        var xp = ConvWorkspace.Rent(Device, pass.PaddedShape);
        ConvPlan.LaunchPad(Device.Kernels<Conv2dKernelSet>(), xp, input, pass.Pad);
        return xp;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        BackwardParameters(gradOutput);
        return ComputeInputGradient ? BackwardInput(gradOutput) : null;
    }

    /// <summary>Adds the weight and bias gradients of the latest Forward for <paramref name="gradOutput"/> (half of
    /// <see cref="Backward"/>).</summary>
    public void BackwardParameters(DeviceTensor gradOutput)
    {
        CheckBackward(gradOutput);
        if (_narrowRan)
        {
            var xs = _inputShape!;
            var partials = Scratch(ref _partials, Shape.Of(checked((int)Math.Max(1, _narrow!.WeightGradientScratch(xs.N)))));
            _narrow.WeightGradient(xs.N, xs.H, xs.W, _input!.HostPointer, gradOutput.HostPointer, Weight.Gradient.HostPointer, partials.HostPointer);
            if (Bias is not null)
                ChannelReductions.Sum(gradOutput, Bias.Gradient, accumulate: true, Scratch(ref _workspace, Shape.Of(1)));
            return;
        }
        if (_host)
        {
            var shape = HostShape(_inputShape!);
            var partials = Scratch(ref _partials, Shape.Of(checked((int)HostConv.WeightGradientScratch(shape))));
            HostConv.WeightGradient(shape, _input!.HostPointer, gradOutput.HostPointer, Weight.Gradient.HostPointer, partials.HostPointer);
            if (Bias is not null)
                ChannelReductions.Sum(gradOutput, Bias.Gradient, accumulate: true, Scratch(ref _workspace, Shape.Of(1)));
            return;
        }
        if (_gpu is not null)
        {
            _gpu.WeightGradient(Weight.Gradient, gradOutput, _input!);
            if (Bias is not null)
                ChannelReductions.Sum(gradOutput, Bias.Gradient, accumulate: true, Scratch(ref _workspace, Shape.Of(1)));
            return;
        }
        var k = Device.Kernels<Conv2dKernelSet>();
        var xp = PaddedInput(_input!, _pass!);
        var plan = _plan.WeightGradient(_pass!);
        if (plan.Partial)
        {
            var partials = Scratch(ref _partials, Shape.Of(plan.Slices * Weight.Length));
            ConvPlan.LaunchWeightGrad(k, plan, partials, gradOutput, xp, new WeightGradRange(0, plan.Batch, plan.ImagesPerSlice, 1, Weight.Length));
            var layout = Device.Layout(Weight.Length);
            k.WeightGradCombine(layout.Threads, Weight.Gradient.View, partials.View, plan.Slices, layout);
        }
        else
        {
            for (int first = 0; first < plan.Batch; first += plan.ImagesPerSlice)
            {
                int end = Math.Min(plan.Batch, first + plan.ImagesPerSlice);
                ConvPlan.LaunchWeightGrad(k, plan, Weight.Gradient, gradOutput, xp, new WeightGradRange(first, end, end - first, 0, Weight.Length));
            }
        }
        if (Bias is not null)
            ChannelReductions.Sum(gradOutput, Bias.Gradient, accumulate: true, Scratch(ref _workspace, Shape.Of(1)));
    }

    /// <summary>The input gradient (module-owned) of the latest Forward for <paramref name="gradOutput"/>, whatever
    /// <see cref="Module.ComputeInputGradient"/> says (the other half of <see cref="Backward"/>).</summary>
    public DeviceTensor BackwardInput(DeviceTensor gradOutput)
    {
        CheckBackward(gradOutput);
        var xShape = _inputShape!;
        var gx = Scratch(ref _gradInput, xShape);
        if (xShape.N == 0)
            return gx;
        if (_narrowRan)
        {
            var transposed = Scratch(ref _blocked, Shape.Of(_narrow!.TransposedLength));
            _narrow.InputGradient(xShape.N, xShape.H, xShape.W, Weight.Value.HostPointer, gradOutput.HostPointer, gx.HostPointer, transposed.HostPointer);
            return gx;
        }
        if (_host)
        {
            var shape = HostShape(xShape);
            long transposedLength = HostConv.TransposedWeightLength(shape);
            var transposed = transposedLength > 0 ? Scratch(ref _blocked, Shape.Of(checked((int)transposedLength))).HostPointer : null;
            HostConv.InputGradient(shape, Weight.Value.HostPointer, gradOutput.HostPointer, gx.HostPointer, transposed);
            return gx;
        }
        if (_gpu is not null)
        {
            _gpu.InputGradient(gx, gradOutput, Weight.Value);
            return gx;
        }
        var k = Device.Kernels<Conv2dKernelSet>();
        if (Stride.W == 1 && Stride.H == 1)
        {
            // A stride-1 convolution's input gradient is the forward kernel over the gradient padded by K − 1 − P,
            // with the weight transposed and flipped.
            var bwd = _plan.BackwardInput(xShape, gradOutput.Shape);
            var gp = ConvWorkspace.Rent(Device, bwd.PaddedShape);
            ConvPlan.LaunchPad(k, gp, gradOutput, bwd.Pad);
            var wb = Scratch(ref _blocked, bwd.BlockedShape);
            ConvPlan.LaunchBlockWeights(k, wb, Weight.Value, bwd, mode: 1);
            ConvPlan.LaunchForward(k, gx, gp, wb, wb, bwd, hasBias: false);
        }
        else
        {
            var ph = _plan.Phased(xShape, gradOutput.Shape);
            var gp = ConvWorkspace.Rent(Device, Shape.Of(xShape.N, OutChannels, ph.Hg, ph.Wg));
            ConvPlan.LaunchPad(k, gp, gradOutput, new PadGeometry(xShape.N * OutChannels, gradOutput.Shape.H, gradOutput.Shape.W, ph.Hg, ph.Wg, ph.OffY, ph.OffX));
            int blocks = (InChannels + 3) / 4;
            var wb = Scratch(ref _blocked, Shape.Of(blocks * OutChannels * _plan.Taps * 4));
            k.BlockWeights!(new Index2D(OutChannels, blocks), wb.View, Weight.Value.View, InChannels, OutChannels, _plan.Taps, 4, 2);
            k.BackwardInputPhased!(new Index3D(xShape.H * Stride.W * ph.TilesQ, blocks, xShape.N), gx.View, gp.View, wb.View, ph);
        }
        return gx;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _gpu?.Dispose();
    }

    private void CheckBackward(DeviceTensor gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (_output is null || _pass is null || _input is null)
            throw new InvalidOperationException("Conv2d.Backward called before Forward.");
        if (_input.IsDisposed || !_input.Shape.Equals(_inputShape))
            throw new InvalidOperationException($"Conv2d.Backward: the input of the latest Forward ({_inputShape}) was disposed or reshaped since.");
        Shape.Require(_output.Shape, gradOutput.Shape, "Conv2d.Backward gradient");
    }
}

/// <summary>One tensor per device, shared by every convolution for its transient zero-bordered copies (input and
/// output gradient), so that a deep model keeps none of them between calls.</summary>
internal static class ConvWorkspace
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ComputeDevice, Holder> Table = new();

    public static DeviceTensor Rent(ComputeDevice device, Shape shape)
    {
        var holder = Table.GetValue(device, _ => new Holder());
        if (holder.Tensor is null || holder.Tensor.IsDisposed)
            holder.Tensor = device.Allocate(shape);
        else if (!holder.Tensor.Shape.Equals(shape))
            holder.Tensor.Resize(shape);
        return holder.Tensor;
    }

    private sealed class Holder
    {
        public DeviceTensor? Tensor;
    }
}

/// <summary>The register tiles of the forward kernels (also used for stride-1 input gradients).</summary>
internal enum ForwardTile
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
internal enum WeightTile
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
internal sealed class ConvPlan
{
    /// <summary>Bytes of input and output gradient per weight-gradient launch: a group of images that stays in cache.</summary>
    private const long WeightGradGroupBytes = 2L << 20;

    /// <summary>Multiply-adds a forward-family thread should at least do.</summary>
    private const long MinThreadWork = 2048;

    /// <summary>Below this many weight tiles, the weight gradient also splits the batch (partial sums per slice).</summary>
    private const int MinWeightTiles = 512;

    public ConvPlan(int inChannels, int outChannels, (int H, int W) kernel, (int H, int W) stride, (int H, int W) padding)
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
    }

    public int InChannels { get; }
    public int OutChannels { get; }
    public (int H, int W) Kernel { get; }
    public (int H, int W) Stride { get; }
    public (int H, int W) Padding { get; }
    public int Taps => Kernel.H * Kernel.W;

    /// <summary>For tests and experiments: forces a forward tile where it applies (null: choose per shape).</summary>
    public static ForwardTile? ForcedForwardTile { get; set; }

    /// <summary>For tests and experiments: forces a weight-gradient tile where it applies (null: choose per shape).</summary>
    public static WeightTile? ForcedWeightTile { get; set; }

    /// <summary>A valid-convolution pass over a padded buffer: its geometry and tile, the padded input shape and how to pad.</summary>
    public sealed record Pass(ConvGeometry Geometry, ForwardTile Tile, int BlockSize, Shape PaddedShape, PadGeometry Pad, bool NeedsPad)
    {
        public Shape BlockedShape => Shape.Of(Geometry.Blocks * Geometry.InChannels * Geometry.KernelH * Geometry.KernelW * BlockSize);
    }

    /// <summary>A weight-gradient plan: tile, tiles per launch, and how the batch is split.</summary>
    public sealed record WeightPlan(ConvGeometry Geometry, WeightTile Tile, int Tiles, int Batch, bool Partial, int Slices, int ImagesPerSlice);

    public Shape OutputShape(Shape input, string where)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 4 || input.C != InChannels)
            throw new ShapeMismatchException(where, Shape.Of(input.Rank >= 1 ? input[0] : 0, InChannels, input.Rank == 4 ? input.H : 0, input.Rank == 4 ? input.W : 0), input);
        if (input.H + 2 * Padding.H < Kernel.H || input.W + 2 * Padding.W < Kernel.W)
            throw new ArgumentException($"{where}: {input} is smaller than the {Kernel.H}×{Kernel.W} kernel with padding {Padding.H}×{Padding.W}.");
        int ho = (input.H + 2 * Padding.H - Kernel.H) / Stride.H + 1;
        int wo = (input.W + 2 * Padding.W - Kernel.W) / Stride.W + 1;
        return Shape.Of(input.N, OutChannels, ho, wo);
    }

    private ForwardTile ChooseForward(int outChannels, int outW, int strideX)
    {
        if (ForcedForwardTile is { } forced && (forced is ForwardTile.C4P2 or ForwardTile.C4P3
            || (strideX == 1 && (forced is not (ForwardTile.S1C1P8K3 or ForwardTile.S1C2P4K3) || Kernel.W == 3))))
            return forced;
        if (strideX != 1)
        {
            // Cost model (measured µops per output column: 4×2 ≈ 19, 4×3 ≈ 16.3) times the columns computed,
            // including those a partial last tile computes for nothing.
            double c2 = 19.0 * ((outW + 1) / 2 * 2), c3 = 16.3 * ((outW + 2) / 3 * 3);
            return c3 < c2 ? ForwardTile.C4P3 : ForwardTile.C4P2;
        }
        if (outChannels >= 4)
            return Kernel.W == 3 ? ForwardTile.S1C2P4K3 : ForwardTile.S1C2P4;
        return Kernel.W == 3 ? ForwardTile.S1C1P8K3 : ForwardTile.S1C1P6;
    }

    private static (int Block, int Columns) TileSize(ForwardTile tile) => tile switch
    {
        ForwardTile.S1C2P4 => (2, 4),
        ForwardTile.S1C2P4K3 => (2, 4),
        ForwardTile.S1C1P6 => (1, 6),
        ForwardTile.S1C1P8K3 => (1, 8),
        ForwardTile.C4P2 => (4, 2),
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
        int wp = tile is ForwardTile.C4P2 or ForwardTile.C4P3 ? minW : Math.Max(minW, (tilesX * cols - 1) * stride.W + Kernel.W);
        // Rows per thread: enough multiply-adds per thread (≥ MinThreadWork) to amortise the cost of a thread.
        long perRow = (long)block * cols * inChannels * Kernel.H * Kernel.W;
        int rows = (int)Math.Clamp((MinThreadWork + perRow - 1) / perRow, 1, Math.Max(1, outH));
        var g = new ConvGeometry(batch, inChannels, outChannels, hp, wp, outH, outW, Kernel.H, Kernel.W, stride.H, stride.W,
            tilesX, (outChannels + block - 1) / block, rows);
        var pad = new PadGeometry(batch * inChannels, srcH, srcW, hp, wp, offY, offX);
        bool needsPad = offY != 0 || offX != 0 || hp != srcH || wp != srcW;
        return new Pass(g, tile, block, Shape.Of(batch, inChannels, hp, wp), pad, needsPad);
    }

    public Pass Forward(Shape input)
    {
        var output = OutputShape(input, "Conv2d input");
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
        WeightTile tile;
        if (ForcedWeightTile is { } forced && (forced == WeightTile.C4K2 || (g.StrideX == 1 && g.KernelW % 3 == 0)))
            tile = forced;
        else if (g.StrideX == 1 && g.KernelW % 3 == 0)
            tile = g.OutChannels >= 3 ? WeightTile.S1C3K3 : WeightTile.S1C1I2K3;
        else
            tile = WeightTile.C4K2;
        int tiles = tile switch
        {
            WeightTile.S1C3K3 => (g.OutChannels + 2) / 3 * g.InChannels * g.KernelH * (g.KernelW / 3),
            WeightTile.S1C1I2K3 => g.OutChannels * ((g.InChannels + 1) / 2) * g.KernelH * (g.KernelW / 3),
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

    public PhaseGeometry Phased(Shape input, Shape output)
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
        return new PhaseGeometry(InChannels, OutChannels, input.H, input.W, Kernel.H, Kernel.W, sy, sx, Padding.H, Padding.W,
            hg, wg, offY, offX, tilesQ);
    }

    public static void LaunchPad(Conv2dKernelSet k, DeviceTensor dst, DeviceTensor src, PadGeometry pad)
    {
        int rows = pad.Planes * pad.DstH;
        if (rows > 0)
            k.Pad!(rows, dst.View, src.View, pad);
    }

    /// <summary>Re-lays the weight out for a pass (mode 0 forward, 1 transposed and flipped for the input gradient).</summary>
    public static void LaunchBlockWeights(Conv2dKernelSet k, DeviceTensor wb, DeviceTensor w, Pass pass, int mode)
    {
        var g = pass.Geometry;
        k.BlockWeights!(new Index2D(g.InChannels, g.Blocks), wb.View, w.View, g.OutChannels, g.InChannels, g.KernelH * g.KernelW, pass.BlockSize, mode);
    }

    public static void LaunchForward(Conv2dKernelSet k, DeviceTensor y, DeviceTensor xp, DeviceTensor wb, DeviceTensor bias, Pass pass, bool hasBias)
    {
        var g = pass.Geometry;
        if (g.Batch == 0)
            return;
        var kernel = pass.Tile switch
        {
            ForwardTile.S1C2P4 => k.ForwardS1C2P4,
            ForwardTile.S1C2P4K3 => k.ForwardS1C2P4K3,
            ForwardTile.S1C1P6 => k.ForwardS1C1P6,
            ForwardTile.S1C1P8K3 => k.ForwardS1C1P8K3,
            ForwardTile.C4P2 => k.ForwardC4P2,
            _ => k.ForwardC4P3,
        };
        kernel!(new Index3D(g.ThreadsX, g.Blocks, g.Batch), y.View, xp.View, wb.View, bias.View, g, hasBias ? 1 : 0);
    }

    public static void LaunchWeightGrad(Conv2dKernelSet k, WeightPlan plan, DeviceTensor target, DeviceTensor gy, DeviceTensor xp, WeightGradRange range)
    {
        var kernel = plan.Tile switch
        {
            WeightTile.S1C3K3 => k.WeightGradS1C3K3,
            WeightTile.S1C1I2K3 => k.WeightGradS1C1I2K3,
            _ => k.WeightGradC4K2,
        };
        int slices = range.Partial != 0 ? plan.Slices : 1;
        kernel!(new Index2D(plan.Tiles, slices), target.View, gy.View, xp.View, plan.Geometry, range);
    }
}
