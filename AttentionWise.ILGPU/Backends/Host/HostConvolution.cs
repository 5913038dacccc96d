using AttentionWise.Host;
using AttentionWise.Kernels;
using AttentionWise.Ops;
using ILGPU;

namespace AttentionWise.Backends;

/// <summary>
/// A convolution on the cpu device. With a BLAS and at least <see cref="MinBlasOutChannels"/> output channels: im2col and
/// BLAS products (<see cref="HostBlasConv"/>). With the host passes on, fewer output channels, stride 1 and padding below
/// the kernel size (the attention layers' K·C → C convolutions): vectorised direct passes (<see cref="HostNarrowConv"/>).
/// Otherwise (and always with the host passes off): the register-tiled kernels over zero-bordered copies
/// (<see cref="HostConvPlan"/>, <see cref="HostConvKernelSet"/>). The path is fixed when the op is made.
/// </summary>
internal sealed unsafe class HostConvolution : IConvolution
{
    /// <summary>Output channels from which the BLAS path pays (measured: below, the products are too thin and the
    /// register-tiled kernels are faster).</summary>
    public const int MinBlasOutChannels = 16;

    private readonly ComputeDevice _device;
    private readonly HostConvPlan _plan;
    private readonly HostNarrowConv? _narrow;
    private readonly ScratchTensors _scratch;
    private DeviceTensor? _blocked;
    private DeviceTensor? _partials;

    public HostConvolution(HostBackend backend, ConvolutionGeometry geometry, ConvolutionOptions options)
    {
        _device = backend.Device;
        Geometry = geometry;
        _plan = new HostConvPlan(geometry, options);
        _scratch = new ScratchTensors(_device);
        if (backend.UsesBlas && geometry.OutChannels >= MinBlasOutChannels)
            Path = ConvolutionPath.HostBlas;
        else if (backend.Passes && geometry.OutChannels < MinBlasOutChannels && geometry.Stride == (1, 1)
            && HostNarrowConv.Supports(geometry.Kernel.H, geometry.Kernel.W, geometry.Padding.H, geometry.Padding.W))
            Path = ConvolutionPath.HostNarrow;
        else
            Path = ConvolutionPath.HostKernels;
        if (Path == ConvolutionPath.HostNarrow)
            _narrow = new HostNarrowConv(geometry.InChannels, geometry.OutChannels, geometry.Kernel.H, geometry.Kernel.W,
                geometry.Padding.H, geometry.Padding.W, backend.Width, HostLauncher.Shared);
    }

    public ConvolutionGeometry Geometry { get; }

    public ConvolutionPath Path { get; }

    private HostConvShape BlasShape(Shape input) =>
        new(input.N, Geometry.InChannels, input.H, input.W, Geometry.OutChannels, Geometry.Kernel.H, Geometry.Kernel.W,
            Geometry.Stride.H, Geometry.Stride.W, Geometry.Padding.H, Geometry.Padding.W);

    public void Forward(DeviceTensor y, DeviceTensor x, DeviceTensor weight, DeviceTensor? bias)
    {
        var s = x.Shape;
        switch (Path)
        {
            case ConvolutionPath.HostNarrow:
                if (s.N > 0)
                    _device.Loader.Pass("HostNarrowConv.Forward", () =>
                        _narrow!.Forward(s.N, s.H, s.W, x.HostPointer, weight.HostPointer, bias is null ? null : bias.HostPointer, y.HostPointer));
                return;
            case ConvolutionPath.HostBlas:
                var shape = BlasShape(s);
                _device.Loader.Pass("HostBlasConv.Forward", () =>
                    HostBlasConv.Forward(shape, x.HostPointer, weight.HostPointer, bias is null ? null : bias.HostPointer, y.HostPointer));
                return;
        }
        var k = _device.Kernels<HostConvKernelSet>();
        var fwd = _plan.Forward(s);
        var xp = PaddedInput(k, x, fwd);
        var wb = _scratch.Get(ref _blocked, fwd.BlockedShape);
        HostConvPlan.LaunchBlockWeights(k, wb, weight, fwd, mode: 0);
        HostConvPlan.LaunchForward(k, y, xp, wb, bias ?? wb, fwd, bias is not null);
    }

    /// <summary>The input as the kernels read it: itself when it needs no border, else a zero-bordered copy in the
    /// device's shared workspace (valid until the next convolution call on this device).</summary>
    private DeviceTensor PaddedInput(HostConvKernelSet k, DeviceTensor input, HostConvPlan.Pass pass)
    {
        if (!pass.NeedsPad)
            return input;
        var xp = HostConvWorkspace.Rent(_device, pass.PaddedShape);
        HostConvPlan.LaunchPad(k, xp, input, pass.Pad);
        return xp;
    }

    public void WeightGradient(DeviceTensor gw, DeviceTensor gy, DeviceTensor x)
    {
        var xs = x.Shape;
        switch (Path)
        {
            case ConvolutionPath.HostNarrow:
            {
                var partials = _scratch.Get(ref _partials, Shape.Of(checked((int)Math.Max(1, _narrow!.WeightGradientScratch(xs.N)))));
                _device.Loader.Pass("HostNarrowConv.WeightGradient", () =>
                    _narrow.WeightGradient(xs.N, xs.H, xs.W, x.HostPointer, gy.HostPointer, gw.HostPointer, partials.HostPointer));
                return;
            }
            case ConvolutionPath.HostBlas:
            {
                var shape = BlasShape(xs);
                var partials = _scratch.Get(ref _partials, Shape.Of(checked((int)HostBlasConv.WeightGradientScratch(shape))));
                _device.Loader.Pass("HostBlasConv.WeightGradient", () =>
                    HostBlasConv.WeightGradient(shape, x.HostPointer, gy.HostPointer, gw.HostPointer, partials.HostPointer));
                return;
            }
        }
        var k = _device.Kernels<HostConvKernelSet>();
        var fwd = _plan.Forward(xs);
        var xp = PaddedInput(k, x, fwd);
        var plan = _plan.WeightGradient(fwd);
        if (plan.Partial)
        {
            var partials = _scratch.Get(ref _partials, Shape.Of(plan.Slices * gw.Length));
            HostConvPlan.LaunchWeightGrad(k, plan, partials, gy, xp, new HostWeightGradRange(0, plan.Batch, plan.ImagesPerSlice, 1, gw.Length));
            var layout = _device.Layout(gw.Length);
            k.WeightGradCombine(layout.Threads, gw.View, partials.View, plan.Slices, layout);
        }
        else
        {
            for (int first = 0; first < plan.Batch; first += plan.ImagesPerSlice)
            {
                int end = Math.Min(plan.Batch, first + plan.ImagesPerSlice);
                HostConvPlan.LaunchWeightGrad(k, plan, gw, gy, xp, new HostWeightGradRange(first, end, end - first, 0, gw.Length));
            }
        }
    }

    public void InputGradient(DeviceTensor gx, DeviceTensor gy, DeviceTensor weight)
    {
        var xShape = gx.Shape;
        switch (Path)
        {
            case ConvolutionPath.HostNarrow:
            {
                var transposed = _scratch.Get(ref _blocked, Shape.Of(_narrow!.TransposedLength));
                _device.Loader.Pass("HostNarrowConv.InputGradient", () =>
                    _narrow.InputGradient(xShape.N, xShape.H, xShape.W, weight.HostPointer, gy.HostPointer, gx.HostPointer, transposed.HostPointer));
                return;
            }
            case ConvolutionPath.HostBlas:
            {
                var shape = BlasShape(xShape);
                long transposedLength = HostBlasConv.TransposedWeightLength(shape);
                var transposed = transposedLength > 0 ? _scratch.Get(ref _blocked, Shape.Of(checked((int)transposedLength))) : null;
                _device.Loader.Pass("HostBlasConv.InputGradient", () =>
                    HostBlasConv.InputGradient(shape, weight.HostPointer, gy.HostPointer, gx.HostPointer, transposed is null ? null : transposed.HostPointer));
                return;
            }
        }
        var k = _device.Kernels<HostConvKernelSet>();
        var g = Geometry;
        if (g.Stride.W == 1 && g.Stride.H == 1)
        {
            // A stride-1 convolution's input gradient is the forward kernel over the gradient padded by K − 1 − P,
            // with the weight transposed and flipped.
            var bwd = _plan.BackwardInput(xShape, gy.Shape);
            var gp = HostConvWorkspace.Rent(_device, bwd.PaddedShape);
            HostConvPlan.LaunchPad(k, gp, gy, bwd.Pad);
            var wb = _scratch.Get(ref _blocked, bwd.BlockedShape);
            HostConvPlan.LaunchBlockWeights(k, wb, weight, bwd, mode: 1);
            HostConvPlan.LaunchForward(k, gx, gp, wb, wb, bwd, hasBias: false);
        }
        else
        {
            var ph = _plan.Phased(xShape, gy.Shape);
            var gp = HostConvWorkspace.Rent(_device, Shape.Of(xShape.N, g.OutChannels, ph.Hg, ph.Wg));
            HostConvPlan.LaunchPad(k, gp, gy, new HostPadGeometry(xShape.N * g.OutChannels, gy.Shape.H, gy.Shape.W, ph.Hg, ph.Wg, ph.OffY, ph.OffX));
            int blocks = (g.InChannels + 3) / 4;
            var wb = _scratch.Get(ref _blocked, Shape.Of(blocks * g.OutChannels * g.Taps * 4));
            k.BlockWeights(new Index2D(g.OutChannels, blocks), wb.View, weight.View, g.InChannels, g.OutChannels, g.Taps, 4, 2);
            k.BackwardInputPhased(new Index3D(xShape.H * g.Stride.W * ph.TilesQ, blocks, xShape.N), gx.View, gp.View, wb.View, ph);
        }
    }

    public void Dispose() => _scratch.Dispose();
}

/// <summary>One tensor per device, shared by every convolution for its transient zero-bordered copies (input and
/// output gradient), so that a deep model keeps none of them between calls.</summary>
internal static class HostConvWorkspace
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

