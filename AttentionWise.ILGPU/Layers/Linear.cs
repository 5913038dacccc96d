using AttentionWise.Host;
using AttentionWise.Kernels;
using ILGPU;

namespace AttentionWise.Layers;

/// <summary>
/// Fully connected layer, as PyTorch's nn.Linear: y = x·Wᵀ + b. Accepts any [N, …] input whose items have
/// <see cref="InFeatures"/> elements (an NCHW map is flattened, as torch.flatten(x, 1)); the output is
/// [N, out] and Backward returns the input gradient in the input's own shape. Parameters "weight"
/// [out, in] (normal init) and optional "bias" [out] (zeros). Keeps its input for the backward pass. On the cpu
/// device with a BLAS the three products run as BLAS calls (<see cref="HostLinear"/>), elsewhere as kernels.
/// </summary>
public sealed unsafe class Linear : Module
{
    private DeviceTensor? _output;
    private DeviceTensor? _gradInput;
    private DeviceTensor? _workspace;
    private DeviceTensor? _partials;
    private DeviceTensor? _forwardPartials;
    private DeviceTensor? _input;

    public Linear(ComputeDevice device, int inFeatures, int outFeatures, bool bias = true)
        : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = AddParameter("weight", Shape.Of(outFeatures, inFeatures), ParameterInit.Normal);
        Bias = bias ? AddParameter("bias", Shape.Of(outFeatures), ParameterInit.Zeros) : null;
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>True when the products run as BLAS calls on this device (the cpu device with a BLAS).</summary>
    public bool RunsOnHost => HostPasses.On(Device);

    /// <summary>"weight" [out, in].</summary>
    public Parameter Weight { get; }

    /// <summary>"bias" [out], or null without bias.</summary>
    public Parameter? Bias { get; }

    public override Shape OutputShape(Shape input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank < 2 || input.ItemLength != InFeatures)
            throw new ShapeMismatchException($"Linear input (items of {InFeatures} features)", Shape.Of(input.Rank >= 1 ? input[0] : 0, InFeatures), input);
        return Shape.Of(input.N, OutFeatures);
    }

    public override DeviceTensor Forward(DeviceTensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = OutputShape(input.Shape);
        var y = Scratch(ref _output, shape);
        _input = input;
        if (shape.N == 0)
            return y;
        if (RunsOnHost)
        {
            HostLinear.Forward(shape.N, InFeatures, OutFeatures, input.HostPointer, Weight.Value.HostPointer, Bias is null ? null : Bias.Value.HostPointer, y.HostPointer);
            return y;
        }
        var k = Device.Kernels<LinearKernelSet>();
        var bias = Bias?.Value ?? Weight.Value;
        Device.Work(2.0 * shape.N * InFeatures * OutFeatures);
        var (slices, perSlice) = Device.GpuShaped ? LinearForwardSlices.Choose(shape.N, InFeatures, OutFeatures, Device.MaxThreads) : (1, InFeatures);
        if (slices > 1 && k.ForwardSlices is { } sliced && k.ForwardCombine is { } combine)
        {
            // Long rows on a GPU: slices of the row in parallel, added in slice order (then the bias).
            var partials = Scratch(ref _forwardPartials, Shape.Of(slices, shape.N, OutFeatures));
            sliced(new Index3D((OutFeatures + 3) / 4, shape.N, slices), partials.View, input.View, Weight.Value.View, InFeatures, OutFeatures, shape.N, perSlice);
            combine(y.Length, y.View, partials.View, bias.View, slices, OutFeatures, Bias is null ? 0 : 1);
            return y;
        }
        k.Forward(new Index2D((OutFeatures + 3) / 4, shape.N), y.View, input.View, Weight.Value.View, bias.View, InFeatures, OutFeatures, Bias is null ? 0 : 1);
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (_input is null || _output is null)
            throw new InvalidOperationException("Linear.Backward called before Forward.");
        Shape.Require(_output.Shape, gradOutput.Shape, "Linear.Backward gradient");
        int n = gradOutput.Shape.N;
        var k = Device.Kernels<LinearKernelSet>();
        bool host = RunsOnHost;
        if (n > 0)
        {
            if (host)
                HostLinear.WeightGradient(n, InFeatures, OutFeatures, _input.HostPointer, gradOutput.HostPointer, Weight.Gradient.HostPointer);
            else
                WeightGradient(k, gradOutput, n);
            if (Bias is not null)
                ChannelReductions.Sum(gradOutput, Bias.Gradient, accumulate: true, Scratch(ref _workspace, Shape.Of(1)));
        }
        if (!ComputeInputGradient)
            return null;
        var gx = Scratch(ref _gradInput, _input.Shape);
        if (n > 0 && host)
            HostLinear.InputGradient(n, InFeatures, OutFeatures, gradOutput.HostPointer, Weight.Value.HostPointer, gx.HostPointer);
        else if (n > 0)
        {
            Device.Work(2.0 * n * InFeatures * OutFeatures);
            k.BackwardInput(new Index2D((InFeatures + LinearKernels.ChunkI - 1) / LinearKernels.ChunkI, n), gx.View, gradOutput.View, Weight.Value.View, InFeatures, OutFeatures);
        }
        return gx;
    }

    /// <summary>gw += Σ_n gy[n]ᵀ·x[n]: on a GPU-shaped device over slices of the batch (many threads, short loops), the
    /// slices then added in order; on the cpu device without a BLAS one loop over the batch per thread.</summary>
    private void WeightGradient(LinearKernelSet k, DeviceTensor gradOutput, int n)
    {
        var input = _input!;
        var threads = new Index2D((InFeatures + 3) / 4, (OutFeatures + 1) / 2);
        var (slices, perSlice) = Device.GpuShaped ? LinearWeightSlices.Choose(n, InFeatures, OutFeatures, Device.MaxThreads) : (1, n);
        if (slices <= 1 || k.BackwardWeightSlices is null)
        {
            Device.Work(2.0 * n * InFeatures * OutFeatures);
            k.BackwardWeight(threads, Weight.Gradient.View, gradOutput.View, input.View, n, InFeatures, OutFeatures);
            return;
        }
        int size = InFeatures * OutFeatures;
        var partials = Scratch(ref _partials, Shape.Of(slices, size));
        Device.Work(2.0 * n * InFeatures * OutFeatures);
        k.BackwardWeightSlices(new Index3D(threads.X, threads.Y, slices), partials.View, gradOutput.View, input.View, n, InFeatures, OutFeatures, perSlice);
        var layout = Device.Layout(size);
        Device.Kernels<GpuConvKernelSet>().WeightGradCombine(layout.Threads, Weight.Gradient.View, partials.View, slices, layout);
    }
}
