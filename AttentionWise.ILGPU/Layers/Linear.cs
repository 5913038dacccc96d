using AttentionWise.Ops;

namespace AttentionWise.Layers;

/// <summary>
/// Fully connected layer, as PyTorch's nn.Linear: y = x·Wᵀ + b. Accepts any [N, …] input whose items have
/// <see cref="InFeatures"/> elements (an NCHW map is flattened, as torch.flatten(x, 1)); the output is
/// [N, out] and Backward returns the input gradient in the input's own shape. Parameters "weight"
/// [out, in] (normal init) and optional "bias" [out] (zeros). Keeps its input for the backward pass. The products run
/// through the device's dense op (BLAS calls on the cpu device with a BLAS, kernels elsewhere).
/// </summary>
public sealed class Linear : Module
{
    private DeviceTensor? _output;
    private DeviceTensor? _gradInput;
    private DeviceTensor? _input;
    private readonly DenseWorkspace _workspace;

    public Linear(ComputeDevice device, int inFeatures, int outFeatures, bool bias = true)
        : base(device)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = AddParameter("weight", Shape.Of(outFeatures, inFeatures), ParameterInit.Normal);
        Bias = bias ? AddParameter("bias", Shape.Of(outFeatures), ParameterInit.Zeros) : null;
        _workspace = new DenseWorkspace(device);
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>True when the products run as BLAS calls on this device (the cpu device with a BLAS).</summary>
    public bool RunsOnHost => Device.Backend.Dense.RunsOnHost;

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
        Device.Backend.Dense.Forward(input, Weight.Value, Bias?.Value, y, DenseOutput.Write, _workspace);
        return y;
    }

    public override DeviceTensor? Backward(DeviceTensor gradOutput)
    {
        ArgumentNullException.ThrowIfNull(gradOutput);
        if (_input is null || _output is null)
            throw new InvalidOperationException("Linear.Backward called before Forward.");
        Shape.Require(_output.Shape, gradOutput.Shape, "Linear.Backward gradient");
        var dense = Device.Backend.Dense;
        dense.WeightGradient(_input, gradOutput, Weight.Gradient, Bias?.Gradient, _workspace);
        if (!ComputeInputGradient)
            return null;
        var gx = Scratch(ref _gradInput, _input.Shape);
        dense.InputGradient(gradOutput, Weight.Value, gx);
        return gx;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _workspace.Dispose();
        base.Dispose(disposing);
    }
}
